//! `dhib fetch`: every pinned file of the patterns' closure into the store.

use std::path::PathBuf;

use dhib_exec::prefetch;

use crate::{Failure, Loaded, Workspace};

/// Downloads every pinned file of the patterns' closure into the store.
pub fn fetch(
    ws: &Workspace,
    loaded: &Loaded,
    patterns: &[String],
    jobs: usize,
    mirror_dir: Option<PathBuf>,
    on_event: &(dyn Fn(&prefetch::Event) + Sync),
) -> Result<prefetch::Summary, Failure> {
    let requested = loaded.resolve_all(patterns)?;
    let files = prefetch::pinned(&loaded.analysis, &loaded.analyzed, &requested);
    let req = prefetch::Request { store: ws.store_dir.clone(), jobs, mirror_dir: mirror_dir.map(|d| ws.user_path(&d)) };
    Ok(prefetch::run(&files, &dhib_exec::origins(&loaded.analysis), &ws.root, &req, on_event)?)
}
