use std::process::ExitCode;

use dhib_commands::affected::{self, Change};
use dhib_commands::{Failure, Workspace};

use crate::output::Nodes;

/// What a change affects, for CI: the nodes whose keys change between a
/// git revision and the working tree (--since), or that depend on the
/// given files (--files, conservative: every node defined in or reading
/// them, and everything downstream). Build only those.
#[derive(clap::Args)]
#[command(after_help = "\
Examples:
  dhib affected --since origin/main                      every node whose key changed
  dhib affected --since HEAD~1 --output json
  dhib affected --files examples/pkgs/zlib/BUILD.dhi
  dhib build $(dhib affected --since origin/main)        CI: build what changed")]
pub struct Args {
    /// A git revision of the workspace's repository to compare with.
    #[arg(long, value_name = "REV", required_unless_present = "files", conflicts_with = "files")]
    since: Option<String>,
    /// Changed files, relative to the workspace root.
    #[arg(long, num_args = 1.., value_name = "FILE")]
    files: Vec<String>,
    #[arg(long, short, value_enum, default_value = "label")]
    output: Nodes,
}

pub fn run(args: Args, ws: &Workspace) -> Result<ExitCode, Failure> {
    let loaded = ws.load()?;
    let change = match args.since {
        Some(rev) => Change::Since(rev),
        None => Change::Files(args.files),
    };
    let set = affected::affected(ws, &loaded, &change)?;
    super::query::print_nodes(&loaded, &set, args.output);
    Ok(ExitCode::SUCCESS)
}
