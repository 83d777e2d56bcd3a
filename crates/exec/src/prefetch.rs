//! `dhib fetch`: every pinned file that the requested nodes need (sources
//! and debs in their build closure) brought into the store and verified,
//! without building anything, so a machine can be prepared while it is
//! online and build later without the network.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use super::fetch::{self, Origins};
use dhib_analysis::{Analysis, Analyzed};
use dhib_core::diag::Diag;
use dhib_graph::query::{self, NodeSet, Targets as _};
use dhib_graph::NodeKind;
use dhib_lang::schema::Kind;
use dhib_lang::value::Value;
use dhib_store::{Digest, Store};

pub struct Request {
    pub store: PathBuf,
    pub jobs: usize,
    /// Also keep every file as `DIR/sha256/<hex>`, a mirror that `[fetch]
    /// mirrors` (or DHIB_FETCH_MIRRORS) can name on another machine.
    pub mirror_dir: Option<PathBuf>,
}

/// One pinned file of a node.
#[derive(Debug, Clone, Serialize)]
pub struct Pinned {
    pub node: String,
    pub url: String,
    /// The revision of a git source.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rev: Option<String>,
    pub sha256: String,
}

#[derive(Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// What will be fetched.
    Plan { total: usize, stored: usize },
    /// A file now in the store (`downloaded` false: it already was).
    Fetched {
        #[serde(flatten)]
        file: Pinned,
        size: u64,
        downloaded: bool,
    },
    Failed {
        #[serde(flatten)]
        file: Pinned,
        error: String,
    },
}

#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub files: usize,
    pub downloaded: usize,
    pub bytes_downloaded: u64,
    pub failed: usize,
}

/// The pinned files the closure of `requested` needs, one per node (a deb
/// shared by many environments is one file), sorted by node.
pub fn pinned(analysis: &Analysis, analyzed: &Analyzed, requested: &NodeSet) -> Vec<Pinned> {
    let g = &analyzed.graph;
    let mut out: Vec<Pinned> = Vec::new();
    for n in query::reach(g, requested, None, true) {
        let id = g.node(n);
        if id.facet.is_some() {
            continue;
        }
        let Some(def) = analysis.target(&id.label) else { continue };
        let attr = |name: &str| def.attr(name).and_then(Value::as_str);
        // A Debian source is several files, each by its pool path.
        if let (Some(NodeKind::Target(Kind::DebianSource)), Some(Value::Map(files))) = (g.kind(n), def.attr("files")) {
            for (path, pin) in files {
                let Some(pin) = pin.as_str() else { continue };
                let node = format!("{} {}", id.label, fetch::file_name(path));
                out.push(Pinned { node, url: fetch::deb_url(attr("repo"), path), rev: None, sha256: pin.to_string() });
            }
            continue;
        }
        let (Some(pin), kind) = (attr("sha256"), g.kind(n)) else { continue };
        let url = match kind {
            Some(NodeKind::Target(Kind::Source)) => attr("url").map(str::to_string),
            Some(NodeKind::Target(Kind::Deb)) => attr("filename").map(|f| fetch::deb_url(attr("repo"), f)),
            _ => None,
        };
        let Some(url) = url else { continue };
        let rev = attr("rev").filter(|_| url.starts_with("git+")).map(str::to_string);
        out.push(Pinned { node: id.label.to_string(), url, rev, sha256: pin.to_string() });
    }
    out.sort_by(|a, b| a.node.cmp(&b.node));
    out.dedup_by(|a, b| a.node == b.node);
    out
}

/// Fetches every file of `files` that the store lacks, `req.jobs` at a time,
/// reporting each through `on_event`; a failure does not stop the others.
pub fn run(files: &[Pinned], origins: &Origins, root: &Path, req: &Request, on_event: &(dyn Fn(&Event) + Sync)) -> Result<Summary, Diag> {
    let store = Store::open(&req.store).map_err(|e| Diag::plain("E0502", e.to_string()))?;
    let _shared = store.lock_store(false).map_err(|e| Diag::plain("E0502", e.to_string()))?;
    // Presence only: `fetch` re-hashes what it finds, once per file.
    let present = |f: &Pinned| Digest::parse(&f.sha256).is_some_and(|d| store.has(&d));
    let stored = files.iter().filter(|f| present(f)).count();
    on_event(&Event::Plan { total: files.len(), stored });
    let pool = rayon::ThreadPoolBuilder::new().num_threads(req.jobs.max(1)).build().map_err(|e| Diag::plain("E0502", e.to_string()))?;
    let outcomes: Vec<Result<(u64, bool), ()>> = pool.install(|| {
        files
            .par_iter()
            .map(|file| {
                let was_stored = present(file);
                let got = one(&store, origins, root, file).and_then(|d| {
                    if let Some(dir) = &req.mirror_dir {
                        keep_in_mirror(&store, &d, dir).map_err(|e| format!("cannot write to {}: {e}", dir.display()))?;
                    }
                    Ok(std::fs::metadata(store.blob_path(&d)).map(|m| m.len()).unwrap_or(0))
                });
                match got {
                    Ok(size) => {
                        on_event(&Event::Fetched { file: file.clone(), size, downloaded: !was_stored });
                        Ok((size, !was_stored))
                    }
                    Err(error) => {
                        on_event(&Event::Failed { file: file.clone(), error });
                        Err(())
                    }
                }
            })
            .collect()
    });
    let mut summary = Summary { files: files.len(), ..Summary::default() };
    for o in outcomes {
        match o {
            Ok((size, true)) => {
                summary.downloaded += 1;
                summary.bytes_downloaded += size;
            }
            Ok(_) => {}
            Err(()) => summary.failed += 1,
        }
    }
    Ok(summary)
}

fn one(store: &Store, origins: &Origins, root: &Path, file: &Pinned) -> Result<Digest, String> {
    match &file.rev {
        Some(rev) => fetch::fetch_git(store, &file.url, rev, &file.sha256, root),
        None => fetch::fetch(store, origins, &file.url, &file.sha256, root),
    }
    .map_err(|e| e.to_string())
}

/// `dir/sha256/<hex>`: a hard link to the stored blob where the file
/// system allows, else a copy; renamed into place, so a reader of the
/// mirror never sees part of a file.
fn keep_in_mirror(store: &Store, d: &Digest, dir: &Path) -> std::io::Result<()> {
    let dest = dir.join("sha256").join(d.hex());
    if dest.is_file() {
        return Ok(());
    }
    std::fs::create_dir_all(dest.parent().expect("has a parent"))?;
    let tmp = dir.join("sha256").join(format!(".{}.{}.part", d.hex(), std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    if std::fs::hard_link(store.blob_path(d), &tmp).is_err() {
        std::fs::copy(store.blob_path(d), &tmp)?;
    }
    std::fs::rename(&tmp, &dest)
}
