use std::io::Write;
use std::process::ExitCode;

use dhib_commands::{Failure, Workspace};

/// Print the build log of a node (its last build, or its last failure).
#[derive(clap::Args)]
pub struct Args {
    node: String,
}

pub fn run(args: Args, ws: &Workspace) -> Result<ExitCode, Failure> {
    let loaded = ws.load()?;
    let text = dhib_commands::inspect::log(ws, &loaded, &args.node)?;
    let _ = std::io::stdout().write_all(&text);
    Ok(ExitCode::SUCCESS)
}
