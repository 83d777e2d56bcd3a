//! What every action works with: its context (store, workspace, sandbox,
//! origins), the job (a node's definition, key and its dependencies'
//! results), and the error an action fails with.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::sandbox::{self, Mode};
use crate::{archive, deb, fetch};
use dhib_graph::{Key, NodeId, Role, Roles};
use dhib_lang::eval::TargetDef;
use dhib_lang::value::Value;
use dhib_store::{ActionResult, Digest, Entry, Store, StoreError, Tree};

/// Everything a node's action may use.
pub struct Context<'a> {
    pub store: &'a Store,
    /// The workspace root, for `file://` sources and `file(...)` references.
    pub root: &'a Path,
    /// Registries (`HOST[:PORT]`) pulled from over plain http.
    pub insecure_registries: &'a [String],
    /// Content digests (blake3 hex) of the files referenced with `file(...)`,
    /// as analysis keyed them.
    pub local_files: &'a BTreeMap<String, String>,
    pub sandbox: Mode,
    pub source_date_epoch: u64,
    /// Parallelism inside one build step (`$JOBS`).
    pub jobs: usize,
    /// Where pinned files are downloaded from.
    pub origins: &'a fetch::Origins,
}

/// A node ready to run: its definition, key, and its direct dependencies'
/// results (each once, with the attributes that name it).
pub struct Job<'a> {
    pub id: &'a NodeId,
    pub def: Arc<TargetDef>,
    pub key: Key,
    pub deps: Vec<(&'a Roles, &'a NodeId, Arc<ActionResult>)>,
    /// For attestations: every node the image was built from.
    pub closure: Vec<Material<'a>>,
    /// For `#vex`: the components the image ships and was built with.
    pub vex: Option<Arc<crate::actions::attest::VexFacts>>,
}

/// A node an image was built from, with its result and its own dependencies.
pub struct Material<'a> {
    pub id: &'a NodeId,
    pub def: Option<Arc<TargetDef>>,
    pub result: Arc<ActionResult>,
    pub deps: Vec<(&'a Roles, &'a NodeId)>,
}

impl Job<'_> {
    /// The image this job is about (its dependency in `role`), and the
    /// manifest (or index) that image built.
    pub(crate) fn image(&self, role: Role) -> Result<(&NodeId, &ActionResult, Digest), BuildError> {
        let (_, id, r) = self
            .deps
            .iter()
            .find(|(roles, ..)| roles.contains(role))
            .ok_or_else(|| BuildError::Invalid(format!("{} has no {role}", self.id)))?;
        let top = crate::facts::manifest(r).ok_or_else(|| BuildError::Invalid(format!("{id} built no image")))?;
        Ok((id, r, top))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Fetch(#[from] fetch::FetchError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Archive(#[from] archive::ArchiveError),
    #[error(transparent)]
    Deb(#[from] deb::DebError),
    #[error(transparent)]
    Sandbox(#[from] sandbox::SandboxError),
    #[error("{0}")]
    Io(String),
    #[error("step {index} of {count} failed ({status}): {command}\n{tail}")]
    Step { index: usize, count: usize, command: String, status: String, tail: String, log: Digest },
    #[error("patch `{patch}` of {source_label} does not apply: {error}")]
    Patch { source_label: String, patch: String, error: crate::actions::patch::PatchError },
    #[error("{0}")]
    Invalid(String),
}

pub(crate) fn io(what: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> BuildError {
    move |e| BuildError::Io(format!("{what}: {e}"))
}

pub(crate) fn str_attr<'d>(def: &'d TargetDef, name: &str) -> Option<&'d str> {
    def.attrs.get(name).and_then(Value::as_str)
}

/// A list-of-strings attribute, empty when absent.
pub(crate) fn str_list(def: &TargetDef, name: &str) -> Vec<String> {
    match def.attrs.get(name) {
        Some(Value::List(items)) => items.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        _ => Vec::new(),
    }
}

/// A result whose only output is one stored file.
pub(crate) fn single_file(store: &Store, name: &str, digest: Digest, size: u64) -> Result<ActionResult, BuildError> {
    let tree = Tree::from([(name.to_string(), Entry::File { digest, size, executable: false })]);
    let manifest = store.put_manifest(&tree)?;
    Ok(ActionResult { outputs: BTreeMap::from([("file".to_string(), manifest)]), ..Default::default() })
}

/// The one file of a single-file result.
pub(crate) fn the_file(store: &Store, r: &ActionResult) -> Result<(String, Digest), BuildError> {
    let manifest = r.outputs.get("file").ok_or_else(|| BuildError::Invalid("an input has no file output".into()))?;
    file_in(store, manifest)
}

/// The one file of a single-file output tree.
pub(crate) fn file_in(store: &Store, manifest: &Digest) -> Result<(String, Digest), BuildError> {
    match store.get_tree(manifest)?.into_iter().next() {
        Some((name, Entry::File { digest, .. })) => Ok((name, digest)),
        _ => Err(BuildError::Invalid("an input's file output is empty".into())),
    }
}

/// What a package of the closure needs at run time: the dependencies whose
/// edge `runtime_deps` made, read from the edges alone (an edge keeps every
/// attribute naming its node, so a library also named in `deps` counts).
pub(crate) fn runtime_deps<'j>(m: &Material<'_>, by_id: &std::collections::HashMap<&NodeId, &'j Material<'j>>) -> Vec<&'j Material<'j>> {
    m.deps.iter().filter(|(roles, _)| roles.contains(Role::RuntimeDeps)).filter_map(|(_, dep)| by_id.get(dep).copied()).collect()
}

/// A file referenced with `file(...)`, which must still have the content
/// its key was computed from.
pub(crate) fn keyed_file(cx: &Context<'_>, file: &str) -> Result<Vec<u8>, BuildError> {
    let bytes = dhib_analysis::read_workspace_file(cx.root, file).map_err(|e| BuildError::Invalid(format!("{file}: {e}")))?;
    if cx.local_files.get(file).map(String::as_str) != Some(blake3::hash(&bytes).to_hex().as_str()) {
        return Err(BuildError::Invalid(format!("{file} changed while dhib was building; build again")));
    }
    Ok(bytes)
}
