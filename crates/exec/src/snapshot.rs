//! The null-build shortcut: after a successful build, remember a fingerprint
//! of everything analysis read and the keys of the nodes the build needed.
//! Next time, if the fingerprint is the same and every key still has a
//! cached result, nothing can have changed: the build is done without
//! parsing, lowering or keying anything.
//!
//! The fingerprint hashes file contents, not times, so an edit that keeps a
//! file's size and mtime is still seen.

use std::path::{Path, PathBuf};

use dhib_graph::Key;
use dhib_store::Store;

/// What analysis read, and the dhib that read it.
pub struct Inputs<'a> {
    pub root: &'a Path,
    /// Every `.dhi` file of the workspace, as analysis discovered it.
    pub texts: &'a [(String, String)],
    /// Workspace files referenced with `file(...)`.
    pub referenced: &'a [String],
    /// Anything else that changes what a build does (patterns, settings).
    pub request: &'a str,
}

fn fingerprint(inputs: &Inputs<'_>) -> [u8; 32] {
    let mut h = blake3::Hasher::new_derive_key("dhib null-build fingerprint v1");
    let mut field = |bytes: &[u8]| {
        h.update(&(bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    // A different dhib may build differently.
    let exe = std::env::current_exe().ok().and_then(|p| std::fs::metadata(p).ok());
    field(env!("CARGO_PKG_VERSION").as_bytes());
    field(format!("{:?}", exe.as_ref().map(|m| (m.len(), m.modified().ok()))).as_bytes());
    field(inputs.request.as_bytes());
    field(std::fs::read(inputs.root.join(dhib_analysis::ROOT_MARKER)).unwrap_or_default().as_slice());
    for (path, text) in inputs.texts {
        field(path.as_bytes());
        field(text.as_bytes());
    }
    for path in inputs.referenced {
        field(path.as_bytes());
        match std::fs::read(inputs.root.join(path)) {
            Ok(bytes) => field(blake3::hash(&bytes).as_bytes()),
            Err(_) => field(b"missing"),
        }
    }
    *h.finalize().as_bytes()
}

fn path(store: &Store, inputs: &Inputs<'_>) -> PathBuf {
    let id = blake3::hash(format!("{}\n{}", inputs.root.display(), inputs.request).as_bytes());
    store.root().join("snapshots").join(id.to_hex().as_str())
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Saved {
    fingerprint: String,
    generation: u64,
    keys: Vec<String>,
    referenced: Vec<String>,
    /// What the build wrote outside the store (image layouts, attestation
    /// documents, index.json), and a listing of it, which must still match.
    outputs: Vec<PathBuf>,
    #[serde(default)]
    listing: String,
}

/// Every file and directory below `paths` with its size and modification
/// time: a blob deleted from a layout, or a document edited, changes it.
fn listing(paths: &[PathBuf]) -> String {
    let mut h = blake3::Hasher::new_derive_key("dhib null-build outputs v1");
    for p in paths {
        for e in walkdir::WalkDir::new(p).sort_by_file_name() {
            let Ok(e) = e else { return "unreadable".into() };
            let Ok(m) = e.metadata() else { return "unreadable".into() };
            let line = format!("{}\0{}\0{:?}\0{:?}\n", e.path().display(), m.len(), m.modified().ok(), e.file_type());
            h.update(line.as_bytes());
        }
    }
    h.finalize().to_hex().to_string()
}

/// The number of nodes known up to date, if nothing changed since the last
/// successful build of the same request.
pub fn up_to_date(store: &Store, inputs_without_refs: &Inputs<'_>) -> Option<usize> {
    let saved: Saved = serde_json::from_slice(&std::fs::read(path(store, inputs_without_refs)).ok()?).ok()?;
    let inputs = Inputs { referenced: &saved.referenced, ..*inputs_without_refs };
    if blake3::Hash::from(fingerprint(&inputs)).to_hex().as_str() != saved.fingerprint {
        return None;
    }
    if !saved.outputs.iter().all(|p| p.exists()) || listing(&saved.outputs) != saved.listing {
        return None;
    }
    // Results and blobs are only removed by evictions, gc and clean, which
    // change the generation; while it stands, each result is still whole.
    if saved.generation != store.generation() {
        for hex in &saved.keys {
            if !store.ac_get(&parse_key(hex)?).is_some_and(|r| store.has_outputs(&r)) {
                return None;
            }
        }
    }
    Some(saved.keys.len())
}

/// Records a successful build of `keys` that wrote `outputs`.
pub fn save(store: &Store, inputs: &Inputs<'_>, keys: &[Key], outputs: &[PathBuf]) {
    let saved = Saved {
        fingerprint: blake3::Hash::from(fingerprint(inputs)).to_hex().to_string(),
        generation: store.generation(),
        keys: keys.iter().map(|k| k.to_string()).collect(),
        referenced: inputs.referenced.to_vec(),
        outputs: outputs.to_vec(),
        listing: listing(outputs),
    };
    let p = path(store, inputs);
    // Best effort: a snapshot that cannot be written only costs speed.
    if std::fs::create_dir_all(p.parent().expect("snapshots/ has a parent")).is_ok() {
        let tmp = p.with_extension("tmp");
        if std::fs::write(&tmp, serde_json::to_vec(&saved).expect("json serializes")).is_ok() {
            let _ = std::fs::rename(tmp, p);
        }
    }
}

fn parse_key(hex: &str) -> Option<Key> {
    let d = dhib_store::Digest::parse(hex)?;
    Some(Key(d.0))
}
