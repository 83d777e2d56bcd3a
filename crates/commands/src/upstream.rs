//! `dhib upstream check` and `update`, and `dhib guard`.

use std::path::Path;

use dhib_core::diag::Diag;
use dhib_upstream::guard::{self, GuardError, Report};
use dhib_upstream::monitor::{self, Update};
use dhib_upstream::update::{self, Outcome};

use crate::{Failure, Loaded, Workspace};

pub struct Checked {
    /// How many sources and debs have a monitor.
    pub watched: usize,
    pub updates: Vec<Update>,
    /// Monitors that failed: (label, why).
    pub failures: Vec<(String, String)>,
}

/// Asks every monitor in `pattern` for a newer version.
pub fn check(ws: &Workspace, loaded: &Loaded, pattern: &str) -> Result<Checked, Failure> {
    let watched =
        monitor::watched(&loaded.analysis, &loaded.analyzed, pattern).map_err(|d| Failure::in_query(d, &loaded.analysis, pattern))?;
    let mut out = Checked { watched: watched.len(), updates: Vec::new(), failures: Vec::new() };
    for (label, result) in monitor::check_all(&watched, &ws.root) {
        match result {
            Ok(Some(u)) => out.updates.push(u),
            Ok(None) => {}
            Err(why) => out.failures.push((label, why)),
        }
    }
    Ok(out)
}

pub struct UpdateOptions<'a> {
    pub pattern: &'a str,
    pub to: Option<&'a str>,
    pub dry_run: bool,
    pub approve: &'a [String],
}

/// Moves the sources in the pattern to their newest (or the given) version.
pub fn update(ws: &Workspace, loaded: &mut Loaded, opts: &UpdateOptions<'_>) -> Result<Outcome, Failure> {
    let store = ws.store()?;
    let o = update::Options { pattern: opts.pattern, to: opts.to, dry_run: opts.dry_run, approve: opts.approve, store: &store };
    update::update(&mut loaded.analysis, &loaded.analyzed, &o).map_err(|d| Failure::in_query(d, &loaded.analysis, opts.pattern))
}

/// `dhib guard`: the report, and the approval ids of its findings that
/// still block.
pub fn guard(old: &Path, new: &Path, vcs: Option<&Path>, approved: &[String]) -> Result<(Report, Vec<String>), Failure> {
    let report = guard::guard(old, new, vcs).map_err(|e| {
        let (code, help) = match e {
            GuardError::Missing(_) => ("E0901", "name existing directories or archives: dhib guard OLD NEW [--vcs DIR]"),
            GuardError::Extract { .. } => ("E0902", "OLD and NEW are directories or tar (gz, xz, bz2, zst) or zip archives"),
            GuardError::Io { .. } => ("E0903", "check the permissions of the trees"),
        };
        Diag::plain(code, e.to_string()).with_help(help)
    })?;
    let blocking = guard::blocking(&report, approved).iter().map(|f| f.approval_id()).collect();
    Ok((report, blocking))
}
