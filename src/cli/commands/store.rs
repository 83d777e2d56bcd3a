use std::process::ExitCode;

use dhib_commands::{store, Failure, Workspace};

/// Delete everything in the store.
#[derive(clap::Args)]
pub struct CleanArgs {}

/// Delete unreferenced blobs, then the oldest results until the store fits.
#[derive(clap::Args)]
#[command(after_help = "Example:\n  dhib gc --max-size 20G")]
pub struct GcArgs {
    /// Largest store to keep, e.g. 500M or 20G.
    #[arg(long, default_value = "20G")]
    max_size: String,
}

pub fn clean(ws: &Workspace) -> Result<ExitCode, Failure> {
    store::clean(ws)?;
    eprintln!("removed everything in {}", ws.store_dir.display());
    Ok(ExitCode::SUCCESS)
}

pub fn gc(args: GcArgs, ws: &Workspace) -> Result<ExitCode, Failure> {
    let r = store::gc(ws, store::parse_size(&args.max_size)?)?;
    eprintln!(
        "removed {} blobs, {} build environments and {} cached results ({} MiB); {} MiB left",
        r.blobs_removed,
        r.envs_removed,
        r.results_evicted,
        r.bytes_removed >> 20,
        r.bytes_left >> 20
    );
    Ok(ExitCode::SUCCESS)
}
