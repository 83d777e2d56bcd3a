//! `dhib ls` and `dhib log`: what a built node left in the store.

use dhib_core::diag::Diag;
use dhib_graph::{Key, NodeId};
use dhib_store::{Digest, Entry, Store};

use crate::{Failure, Loaded, Workspace};

/// One file (or link) a node produced.
pub struct Listed {
    pub output: String,
    pub path: String,
    pub what: ListedKind,
}

pub enum ListedKind {
    File {
        size: u64,
        executable: bool,
        digest: Digest,
    },
    /// An attestation's output: one document, not a tree.
    Document {
        size: u64,
        digest: Digest,
    },
    Symlink {
        target: String,
    },
}

/// The current key of `node`.
fn key_of(loaded: &Loaded, node: &str) -> Result<Key, Failure> {
    let id = NodeId::parse(node).map_err(|m| Diag::plain("E0411", m))?;
    Ok(loaded.analyzed.keys.get(&id).ok_or_else(|| Diag::plain("E0410", format!("no node `{node}`")))?)
}

/// Every file the node's cached result holds, by output.
pub fn ls(ws: &Workspace, loaded: &Loaded, node: &str) -> Result<Vec<Listed>, Failure> {
    let key = key_of(loaded, node)?;
    let store = ws.store()?;
    let result = store.ac_get(&key).ok_or_else(|| {
        Diag::plain("E0504", format!("`{node}` is not built at its current key")).with_help(format!("build it: dhib build {node}"))
    })?;
    let mut out = Vec::new();
    for (name, manifest) in &result.outputs {
        // Attestations' outputs are documents, not trees.
        if name.ends_with(".json") {
            let size = std::fs::metadata(store.blob_path(manifest)).map_or(0, |m| m.len());
            out.push(Listed { output: name.clone(), path: name.clone(), what: ListedKind::Document { size, digest: *manifest } });
            continue;
        }
        for (path, entry) in tree(&store, manifest)? {
            let what = match entry {
                Entry::File { digest, size, executable } => ListedKind::File { size, executable, digest },
                Entry::Symlink { target } => ListedKind::Symlink { target },
                Entry::Dir => continue,
            };
            out.push(Listed { output: name.clone(), path, what });
        }
    }
    Ok(out)
}

fn tree(store: &Store, manifest: &Digest) -> Result<dhib_store::Tree, Failure> {
    store.get_tree(manifest).map_err(|e| Diag::plain("E0502", e.to_string()).into())
}

/// The log of the node's last build at its current key (or last failure).
pub fn log(ws: &Workspace, loaded: &Loaded, node: &str) -> Result<Vec<u8>, Failure> {
    let key = key_of(loaded, node)?;
    ws.store()?.log_of(&key).ok_or_else(|| {
        Diag::plain("E0504", format!("no log for `{node}` at its current key"))
            .with_help(format!("build it first: dhib build {node}"))
            .into()
    })
}
