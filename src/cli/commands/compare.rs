use std::path::PathBuf;
use std::process::ExitCode;

use dhib_commands::scan::{self, CompareOptions, FindWorkspace};
use dhib_commands::Failure;

use super::scan::ImageFlags;
use crate::output::{out, Format};

/// Compare an image with a baseline, as `docker scout compare` does: an
/// overview (digests, platforms, size and package count with their deltas,
/// the provenance each was built from and at which revision, and with
/// --db the vulnerabilities by severity), the environment variables and
/// labels added, removed and changed, and the packages added (+), removed
/// (-), upgraded (↑) and downgraded (↓) in Debian's version order, with
/// the vulnerabilities each change fixes or brings.
#[derive(clap::Args)]
#[command(after_help = "\
Examples:
  dhib compare //examples/images/lua:lua //examples/bases:debian-runtime
  dhib compare dhib-out/new/lua 127.0.0.1:5000/images/lua:1 --insecure --db all.zip
  dhib compare //examples/images/lua:lua //examples/images/lua:lua-dev --output json --ignore-unchanged")]
pub struct Args {
    /// The image analyzed: a label, an OCI layout directory or a registry reference.
    analyzed: String,
    /// The image it is compared with, named the same ways.
    baseline: String,
    /// An OSV database (all.zip or a directory of records): adds the
    /// vulnerabilities of each image and of each package change.
    #[arg(long, value_name = "PATH")]
    db: Option<PathBuf>,
    /// OpenVEX documents to apply over each image's own (repeatable).
    #[arg(long, value_name = "FILE")]
    vex: Vec<PathBuf>,
    /// Leave out the packages, environment variables and labels that did not change.
    #[arg(long)]
    ignore_unchanged: bool,
    #[arg(long, short, value_enum, default_value = "text")]
    output: Format,
    #[command(flatten)]
    image: ImageFlags,
}

pub fn run(args: Args, ws: FindWorkspace) -> Result<ExitCode, Failure> {
    let opts = CompareOptions {
        analyzed: args.image.target(args.analyzed),
        baseline: args.image.target(args.baseline),
        db: args.db,
        vex: args.vex,
        unchanged: !args.ignore_unchanged,
    };
    let comparison = scan::compare(ws, &opts)?;
    match args.output {
        Format::Text => out!("{}", comparison.text().trim_end()),
        Format::Json => out!("{}", serde_json::to_string_pretty(&comparison).expect("json serializes")),
    }
    Ok(ExitCode::SUCCESS)
}
