use std::process::ExitCode;

use dhib_commands::inspect::{self, ListedKind};
use dhib_commands::{Failure, Workspace};

use crate::output::out;

/// List the files a built node produced, by output.
#[derive(clap::Args)]
#[command(after_help = "Example:\n  dhib ls //examples/pkgs/zlib:zlib")]
pub struct Args {
    node: String,
}

pub fn run(args: Args, ws: &Workspace) -> Result<ExitCode, Failure> {
    let loaded = ws.load()?;
    for l in inspect::ls(ws, &loaded, &args.node)? {
        let (output, path) = (&l.output, &l.path);
        match l.what {
            ListedKind::File { size, executable, digest } => {
                out!("{output}\t{path}\t{size}\t{}\tsha256:{digest}", if executable { "x" } else { "-" })
            }
            ListedKind::Document { size, digest } => out!("{output}\t{path}\t{size}\t-\tsha256:{digest}"),
            ListedKind::Symlink { target } => out!("{output}\t{path}\t->\t{target}"),
        }
    }
    Ok(ExitCode::SUCCESS)
}
