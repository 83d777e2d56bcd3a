use std::path::PathBuf;
use std::process::ExitCode;

use dhib_commands::{Failure, Workspace};

use crate::output::out;

/// Rewrite .dhi files in the canonical format (keys never change).
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  dhib fmt              format every .dhi file of the workspace\n  dhib fmt --check      list files that are not formatted; exit 1 if any"
)]
pub struct Args {
    /// Do not write; list the files that would change and exit 1 if any.
    #[arg(long)]
    check: bool,
    /// Files to format (default: every .dhi file of the workspace).
    files: Vec<PathBuf>,
}

pub fn run(args: Args, ws: &Workspace) -> Result<ExitCode, Failure> {
    let check = args.check;
    let count = dhib_commands::fmt::fmt(ws, check, args.files, &|name| if check { out!("{name}") } else { out!("formatted {name}") })?;
    if check && count > 0 {
        eprintln!("{count} file(s) not formatted; run `dhib fmt`");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
