use std::process::ExitCode;

use dhib_commands::{default_jobs, Failure, Workspace};
use dhib_exec::run::RunOptions;

use crate::progress::Printer;

/// Build an image and run it: its entrypoint, user, environment and working
/// directory, in the sandbox, without network unless --net. Exits with the
/// program's exit code.
#[derive(clap::Args)]
#[command(after_help = "\
Examples:
  dhib run //examples/images/lua:lua -- -e 'print(_VERSION)'
  dhib run //examples/images/sqlite:sqlite -- -version
  dhib run //examples/customizations/acme:acme-lua --net")]
pub struct Args {
    /// The image or customization to run.
    target: String,
    /// Arguments replacing the image's `cmd` (after its entrypoint).
    #[arg(last = true)]
    args: Vec<String>,
    /// Give the program the host's network.
    #[arg(long)]
    net: bool,
    #[arg(short, long)]
    jobs: Option<usize>,
}

pub fn run(args: Args, ws: &Workspace) -> Result<ExitCode, Failure> {
    let loaded = ws.load()?;
    let printer = Printer::new(false);
    let opts = RunOptions { args: args.args, network: args.net };
    let jobs = args.jobs.unwrap_or_else(default_jobs);
    let code = dhib_commands::run::run(ws, &loaded, &args.target, opts, jobs, &|e| printer.event(e), &|| printer.clear())?;
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}
