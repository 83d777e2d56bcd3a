//! `dhib lock`: `[debian] packages` of dhi.toml resolved and pinned into
//! the file `[debian] lock` names.

use std::path::Path;

use dhib_analysis::{path_inside, ROOT_MARKER};
use dhib_core::diag::{Diag, Span};
use dhib_exec::lock::{indexes_by_arch, LockRequest};

use crate::{Failure, Workspace};

/// The workspace-relative file written, and how many packages it pins.
pub fn lock(ws: &Workspace, index: &[String], sources: Option<&Path>) -> Result<(String, usize), Failure> {
    let cfg = ws.config()?.debian.clone();
    let lock = cfg.lock.clone().ok_or_else(|| {
        Diag::plain("E0604", "dhi.toml names no file to lock into").with_help("add `lock = \"debian/BUILD.dhi\"` under [debian]")
    })?;
    let output = lock.get_ref().clone();
    let Some(path) = path_inside(&ws.root, &output) else {
        let d = Diag::error(
            ROOT_MARKER,
            Span::new(lock.span().start, lock.span().end),
            "E0605",
            format!("`lock = \"{output}\"` is not a path inside the workspace"),
        )
        .with_label("dhib lock would write here")
        .with_help("name a workspace-relative path without `..`, e.g. \"debian/BUILD.dhi\"");
        return Err(Failure::in_config(vec![d], &ws.root));
    };
    let indexes = indexes_by_arch(&cfg.arch, index);
    let sources_index = match (sources, cfg.sources.is_empty()) {
        (_, true) => None,
        (Some(file), false) => Some(dhib_exec::lock::read_index(file)?),
        (None, false) => {
            let suite = cfg.suite.as_deref().ok_or_else(|| {
                Diag::plain("E0608", "[debian.sources] needs the suite whose Sources index to read")
                    .with_help("add `suite = \"bookworm\"` under [debian] in dhi.toml, or pass --sources FILE")
            })?;
            let config = ws.config()?;
            let origins = dhib_exec::fetch::Origins::new(&config.fetch.mirrors, config.debian.repo.as_deref());
            Some(dhib_exec::lock::download_sources(&origins, suite, &ws.root)?)
        }
    };
    let req = LockRequest {
        roots: cfg.packages,
        arches: cfg.arch,
        output: output.clone(),
        indexes,
        sources: cfg.sources,
        profiles: cfg.build_profiles,
        sources_index,
    };
    let (text, count) = dhib_exec::lock::lock(&req)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Diag::plain("E0007", format!("cannot create {}: {e}", dir.display())))?;
    }
    dhib_exec::rewrite::write_atomically(&path, &text).map_err(|e| Diag::plain("E0007", format!("cannot write {output}: {e}")))?;
    Ok((output, count))
}
