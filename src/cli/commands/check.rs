use std::process::ExitCode;

use dhib_commands::{Failure, Workspace};

/// Check every .dhi file and report all problems, without building.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(ws: &Workspace) -> Result<ExitCode, Failure> {
    let loaded = ws.load()?;
    eprintln!("ok: {} nodes, no problems", loaded.analyzed.graph.graph.node_count());
    Ok(ExitCode::SUCCESS)
}
