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
    let outcome = dhib_commands::fmt::fmt(ws, args.check, args.files)?;
    for name in &outcome.unformatted {
        if args.check {
            out!("{name}");
        } else {
            out!("formatted {name}");
        }
    }
    if args.check && !outcome.unformatted.is_empty() {
        eprintln!("{} file(s) not formatted; run `dhib fmt`", outcome.unformatted.len());
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
