use std::process::ExitCode;

use dhib_commands::{query, Failure, Workspace};

use crate::output::out;

/// Print the content key of nodes: it changes exactly when their output may.
#[derive(clap::Args)]
#[command(after_help = "Example:\n  dhib key //pkgs/zlib:zlib //images/lua:lua#sbom")]
pub struct Args {
    #[arg(required = true)]
    nodes: Vec<String>,
}

pub fn run(args: Args, ws: &Workspace) -> Result<ExitCode, Failure> {
    let loaded = ws.load()?;
    for (key, name) in query::keys(&loaded, &args.nodes)? {
        out!("{key}  {name}");
    }
    Ok(ExitCode::SUCCESS)
}
