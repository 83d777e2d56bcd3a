//! The `dhib` command line: parses arguments, calls one function of
//! `dhib-commands`, prints what it returns.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use dhib_commands::{Failure, Workspace};
use dhib_core::diag::Diag;

mod commands;
mod output;
mod progress;

use commands::*;

const ABOUT: &str = "Declarative, content-addressed builds of hardened container images";

const LONG_ABOUT: &str = "\
dhib reads the .dhi files of a workspace (the directory holding dhi.toml and
everything below it) into one build graph of sources, packages, images,
customizations, tests and attestations, each with a content key that changes
exactly when something that affects its output changes.

Targets are named by labels: //pkgs/zlib:zlib (directory pkgs/zlib, target
zlib), //pkgs/zlib (the same, short form), :zlib (in the same directory).
Patterns name many: //... (everything), //images/... (everything below
images/), //images:all (everything in images/ itself).";

const EXAMPLES: &str = "\
Examples:
  dhib fetch //examples/...                   download the pinned sources and debs
  dhib build //examples/...                   build (a second run does nothing)
  dhib query 'rdeps(//..., //pkgs/zlib)'      what must rebuild if zlib changes
  dhib query 'kind(image, //...)' --output json
  dhib graph //images/lua:lua | dot -Tsvg > lua.svg
  dhib key //images/lua:lua
  dhib upstream check                         newer releases of sources and debs
  dhib log //pkgs/zlib:zlib                   the build log of a node
  dhib run //images/lua:lua -- -e 'print(1)'  build an image and run it in the sandbox
  dhib publish //images/... --registry ghcr.io/acme
  dhib keygen                                 cosign.key and cosign.pub for signing
  dhib test //examples/...                    tests and standard checks, CTRF reports
  dhib verify //examples/images/lua:lua       signature, attestations, SBOM vs layers
  dhib scan //examples/images/lua:lua --db all.zip     known vulnerabilities, VEX applied
  dhib compare //examples/images/lua:lua //examples/bases:debian-runtime
  dhib affected --since origin/main           CI: what a change makes rebuild
  dhib guard old.tar.gz new.tar.gz            vet an upstream change before trusting it
  dhib fmt --check
  dhib explain E0201                          what an error code means and how to fix it";

#[derive(Parser)]
#[command(name = "dhib", version, about = ABOUT, long_about = LONG_ABOUT, after_help = EXAMPLES)]
struct Cli {
    /// Run as if started in DIR (the workspace is found by walking up to dhi.toml).
    #[arg(short = 'C', long = "directory", global = true, value_name = "DIR", env = "DHIB_DIRECTORY")]
    directory: Option<PathBuf>,
    /// The store of built results (default: .dhib/ in the workspace); share one
    /// between workspaces by pointing them at the same directory.
    #[arg(long, global = true, value_name = "DIR", env = "DHIB_STORE")]
    store: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

// In the order `dhib --help` lists them.
#[derive(Subcommand)]
enum Command {
    Build(build::Args),
    Fetch(fetch::Args),
    Test(test::Args),
    Verify(verify::Args),
    Scan(scan::Args),
    Compare(compare::Args),
    Affected(affected::Args),
    #[command(subcommand)]
    Upstream(upstream::Command),
    Run(run::Args),
    Publish(publish::Args),
    Lock(lock::Args),
    Ls(ls::Args),
    Log(log::Args),
    Clean(store::CleanArgs),
    Gc(store::GcArgs),
    Keygen(keygen::Args),
    Guard(guard::Args),
    Query(query::Args),
    Graph(graph::Args),
    Key(key::Args),
    Check(check::Args),
    Fmt(fmt::Args),
    Explain(explain::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(failure) => {
            output::print_failure(failure);
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, Failure> {
    // As if started in DIR: every relative path (--out, --key, PREFIX, ...)
    // is relative to it.
    if let Some(d) = &cli.directory {
        std::env::set_current_dir(d).map_err(|e| Diag::plain("E0001", format!("cannot open {}: {e}", d.display())))?;
    }
    // Found only by the commands that work on one.
    let store = cli.store;
    let ws = move || Workspace::find(store.clone());
    match cli.command {
        Command::Keygen(args) => keygen::run(args),
        Command::Guard(args) => Ok(guard::run(args)),
        Command::Explain(args) => explain::run(args),
        Command::Build(args) => build::run(args, &ws()?),
        Command::Fetch(args) => fetch::run(args, &ws()?),
        Command::Test(args) => test::run(args, &ws()?),
        Command::Verify(args) => verify::run(args, &ws()?),
        Command::Scan(args) => scan::run(args, &ws),
        Command::Compare(args) => compare::run(args, &ws),
        Command::Affected(args) => affected::run(args, &ws()?),
        Command::Upstream(command) => upstream::run(command, &ws()?),
        Command::Run(args) => run::run(args, &ws()?),
        Command::Publish(args) => publish::run(args, &ws()?),
        Command::Lock(args) => lock::run(args, &ws()?),
        Command::Ls(args) => ls::run(args, &ws()?),
        Command::Log(args) => log::run(args, &ws()?),
        Command::Clean(_) => store::clean(&ws()?),
        Command::Gc(args) => store::gc(args, &ws()?),
        Command::Query(args) => query::run(args, &ws()?),
        Command::Graph(args) => graph::run(args, &ws()?),
        Command::Key(args) => key::run(args, &ws()?),
        Command::Check(_) => check::run(&ws()?),
        Command::Fmt(args) => fmt::run(args, &ws()?),
    }
}
