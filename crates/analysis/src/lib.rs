//! The analysis driver: finds the workspace, reads its `.dhi` files and the
//! files they reference, feeds them to the salsa database, and returns the
//! graph with keys or every diagnostic found.
//!
//! # Architecture invariant
//! This is the only analysis crate that touches the file system (and the
//! only reader of dhi.toml, into [`Config`]); everything it calls is pure,
//! and what it reads reaches salsa as inputs, never through a query.

// A `Diag` is returned once per failure, never on a hot path.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use salsa::{Durability, Setter};

use dhib_core::diag::{Diag, SourceLookup};
use dhib_graph::db::{self, Database, LocalFile, Node, SourceFile, Workspace};
use dhib_graph::query::{NodeSet, Targets};
use dhib_graph::{BuildGraph, Definitions as _, Key, NodeId};
use dhib_lang::eval::TargetDef;
use dhib_lang::label::Label;

pub mod config;

pub use config::{Config, LoadedConfig, ROOT_MARKER};

/// Directories never searched for `.dhi` files (besides hidden ones).
const SKIPPED_DIRS: &[&str] = &["target", "dhib-out", "node_modules"];

/// Files shipped with dhib, loadable as `@stdlib//NAME`.
pub const STDLIB: &[(&str, &str)] = &[
    ("@stdlib//build.dhi", include_str!("../../../stdlib/build.dhi")),
    ("@stdlib//hardening.dhi", include_str!("../../../stdlib/hardening.dhi")),
];

/// `rel`, a path from dhi.toml that dhib writes to, below `root`: one that
/// is absolute or climbs out with `..` is refused, so a workspace's
/// configuration can never make dhib overwrite a file elsewhere.
pub fn path_inside(root: &Path, rel: &str) -> Option<PathBuf> {
    let p = Path::new(rel);
    let clean = p.components().all(|c| matches!(c, std::path::Component::Normal(_) | std::path::Component::CurDir));
    (clean && !rel.is_empty()).then(|| root.join(p))
}

/// Why a workspace file cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkspaceFileError {
    Missing,
    /// It resolves (through symbolic links) to this path outside the root.
    Outside(PathBuf),
    /// A directory, FIFO, socket or device.
    NotRegular(&'static str),
    Io(String),
}

impl std::fmt::Display for WorkspaceFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WorkspaceFileError::Missing => write!(f, "it does not exist"),
            WorkspaceFileError::Outside(to) => write!(f, "it resolves outside the workspace, to {}", to.display()),
            WorkspaceFileError::NotRegular(what) => write!(f, "it is {what}, not a regular file"),
            WorkspaceFileError::Io(why) => write!(f, "{why}"),
        }
    }
}

/// The bytes of the workspace file `rel` (below `root`): only a regular
/// file that, with every symbolic link resolved, is still inside the
/// workspace. A link to `/etc/shadow` or a FIFO is refused before it is
/// opened, so nothing of the host leaks into an image and nothing hangs.
pub fn read_workspace_file(root: &Path, rel: &str) -> Result<Vec<u8>, WorkspaceFileError> {
    let io = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => WorkspaceFileError::Missing,
        _ => WorkspaceFileError::Io(e.to_string()),
    };
    let real_root = std::fs::canonicalize(root).map_err(io)?;
    let real = std::fs::canonicalize(root.join(rel)).map_err(io)?;
    if !real.starts_with(&real_root) {
        return Err(WorkspaceFileError::Outside(real));
    }
    let kind = std::fs::metadata(&real).map_err(io)?.file_type();
    if !kind.is_file() {
        use std::os::unix::fs::FileTypeExt;
        let what = if kind.is_dir() {
            "a directory"
        } else if kind.is_fifo() {
            "a FIFO"
        } else if kind.is_socket() {
            "a socket"
        } else {
            "a device"
        };
        return Err(WorkspaceFileError::NotRegular(what));
    }
    std::fs::read(&real).map_err(io)
}

/// Walks up from `start` to the directory holding `dhi.toml`.
pub fn find_root(start: &Path) -> Result<PathBuf, Diag> {
    let start = start.canonicalize().map_err(|e| Diag::plain("E0001", format!("cannot open {}: {e}", start.display())))?;
    start.ancestors().find(|d| d.join(ROOT_MARKER).is_file()).map(Path::to_path_buf).ok_or_else(|| {
        Diag::plain("E0002", format!("no {ROOT_MARKER} found in {} or any parent directory", start.display()))
            .with_help(format!("run dhib inside a workspace, or create one: `touch {ROOT_MARKER}` at its root"))
    })
}

/// Every `.dhi` file below `root`, as (workspace-relative path, text).
pub fn discover(root: &Path, exclude: &[String]) -> Result<Vec<(String, String)>, Diag> {
    let walker = walkdir::WalkDir::new(root).sort_by_file_name().into_iter().filter_entry(|e| {
        let name = e.file_name().to_string_lossy();
        let excluded = || {
            let rel = e.path().strip_prefix(root).unwrap_or(e.path());
            exclude.iter().any(|x| rel == Path::new(x.trim_end_matches('/')))
        };
        e.depth() == 0 || !(e.file_type().is_dir() && (name.starts_with('.') || SKIPPED_DIRS.contains(&name.as_ref()) || excluded()))
    });
    let mut paths = Vec::new();
    for entry in walker {
        let entry = entry.map_err(|e| Diag::plain("E0003", format!("cannot walk the workspace: {e}")))?;
        if entry.file_type().is_file() && entry.path().extension().is_some_and(|x| x == "dhi") {
            let rel = entry.path().strip_prefix(root).expect("walkdir stays under its root");
            let rel = rel.to_str().ok_or_else(|| Diag::plain("E0004", format!("{} is not valid UTF-8", rel.display())))?;
            paths.push((rel.replace('\\', "/"), entry.into_path()));
        }
    }
    paths
        .into_par_iter()
        .map(|(rel, path)| {
            std::fs::read_to_string(&path)
                .map(|text| (rel, text))
                .map_err(|e| Diag::plain("E0005", format!("cannot read {}: {e}", path.display())))
        })
        .collect()
}

/// A workspace loaded into the database, kept for incremental re-analysis.
pub struct Analysis {
    db: Database,
    ws: Workspace,
    root: Option<PathBuf>,
    /// The text of `dhi.toml`, for diagnostics that point into it.
    config_text: Option<Arc<str>>,
    /// `dhi.toml` (defaults for an analysis of in-memory texts).
    pub config: Config,
}

/// A successful analysis: the graph and a key for every node.
pub struct Analyzed {
    pub graph: GraphRef,
    pub keys: KeyTable,
}

/// The key of every node, in per-package tables shared with the database:
/// after an edit only the tables of reached packages are new.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyTable(Arc<db::KeysByPackage>);

impl KeyTable {
    pub fn get(&self, id: &NodeId) -> Option<Key> {
        let table = self.0.get(&id.label.pkg)?;
        table.binary_search_by(|(n, _)| n.cmp(id)).ok().map(|i| table[i].1)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&NodeId, Key)> + '_ {
        self.0.values().flat_map(|t| t.iter().map(|(id, k)| (id, *k)))
    }

    pub fn len(&self) -> usize {
        self.0.values().map(|t| t.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The nodes whose key differs from (or is absent in) `before`, sorted.
    /// Tables shared with `before` are skipped without a look.
    pub fn changed_since(&self, before: &KeyTable) -> Vec<NodeId> {
        let mut out = Vec::new();
        for (pkg, table) in self.0.iter() {
            match before.0.get(pkg) {
                Some(old) if Arc::ptr_eq(old, table) => {}
                _ => out.extend(table.iter().filter(|(id, k)| before.get(id) != Some(*k)).map(|(id, _)| id.clone())),
            }
        }
        out
    }
}

/// A shared handle to a graph the database built (and may reuse).
#[derive(Clone)]
pub struct GraphRef(Arc<(BuildGraph, Vec<Diag>)>);

impl std::ops::Deref for GraphRef {
    type Target = BuildGraph;
    fn deref(&self) -> &BuildGraph {
        &self.0 .0
    }
}

impl Analysis {
    /// Loads the workspace at `root` (the directory holding `dhi.toml`).
    pub fn load(root: &Path) -> Result<Analysis, Vec<Diag>> {
        Self::load_with(root, Config::load(root)?)
    }

    /// Loads the workspace at `root` with its `dhi.toml` already read.
    pub fn load_with(root: &Path, loaded: LoadedConfig) -> Result<Analysis, Vec<Diag>> {
        let files = discover(root, &loaded.config.workspace.exclude).map_err(|d| vec![d])?;
        Ok(Self::load_files(root, loaded, files))
    }

    /// The workspace at `root` from its `.dhi` files as [`discover`] read them.
    pub fn load_files(root: &Path, loaded: LoadedConfig, files: Vec<(String, String)>) -> Analysis {
        let LoadedConfig { config, text } = loaded;
        let mut a = Analysis::from_texts(files, &config.workspace.platform);
        a.root = Some(root.to_path_buf());
        if config.build.source_date_epoch != 0 {
            a.ws.set_source_date_epoch(&mut a.db).to(config.build.source_date_epoch);
        }
        a.config = config;
        a.config_text = Some(text);
        a
    }

    /// An analysis of in-memory files, with no file system behind it.
    pub fn from_texts(files: Vec<(String, String)>, platform: &str) -> Analysis {
        Self::with_db(Database::default(), files, platform)
    }

    pub fn with_db(db: Database, files: Vec<(String, String)>, platform: &str) -> Analysis {
        // Durability lets salsa skip re-validating everything that depends
        // only on files not edited since loading: loaded files are MEDIUM,
        // edits LOW, and the stdlib, which never changes, HIGH.
        let mut map = BTreeMap::new();
        for (path, text) in STDLIB {
            let f = SourceFile::builder(path.to_string(), Arc::from(*text)).durability(Durability::HIGH).new(&db);
            map.insert(path.to_string(), f);
        }
        for (path, text) in files {
            let f = SourceFile::builder(path.clone(), Arc::from(text)).durability(Durability::MEDIUM).new(&db);
            map.insert(path, f);
        }
        let ws =
            Workspace::builder(Arc::new(map), Arc::new(BTreeMap::new()), platform.to_string(), 0).durability(Durability::MEDIUM).new(&db);
        Analysis { db, ws, root: None, config_text: None, config: Config::default() }
    }

    pub fn root(&self) -> Option<&Path> {
        self.root.as_deref()
    }

    /// Replaces (or adds) one file's text; the next `analyze` recomputes only
    /// what depends on it.
    pub fn set_file(&mut self, path: &str, text: String) {
        if let Some(f) = self.ws.files(&self.db).get(path).copied() {
            f.set_text(&mut self.db).with_durability(Durability::LOW).to(Arc::from(text));
            return;
        }
        let f = SourceFile::new(&self.db, path.to_string(), Arc::from(text));
        let mut all = (**self.ws.files(&self.db)).clone();
        all.insert(path.to_string(), f);
        self.ws.set_files(&mut self.db).to(Arc::new(all));
    }

    /// Sets the digest of a file referenced with `file(...)`.
    pub fn set_local_digest(&mut self, path: &str, digest: Option<String>) {
        if let Some(f) = self.ws.local_files(&self.db).get(path).copied() {
            if f.digest(&self.db) != &digest {
                f.set_digest(&mut self.db).to(digest);
            }
            return;
        }
        let f = LocalFile::new(&self.db, digest);
        let mut all = (**self.ws.local_files(&self.db)).clone();
        all.insert(path.to_string(), f);
        self.ws.set_local_files(&mut self.db).to(Arc::new(all));
    }

    /// Content digests of the files referenced with `file(...)`, as the
    /// last analysis keyed them.
    pub fn local_file_digests(&self) -> BTreeMap<String, String> {
        self.ws.local_files(&self.db).iter().filter_map(|(p, f)| f.digest(&self.db).clone().map(|d| (p.clone(), d))).collect()
    }

    fn workspace_files(&self) -> Vec<SourceFile> {
        self.ws.files(&self.db).iter().filter(|(p, _)| !p.starts_with('@')).map(|(_, f)| *f).collect()
    }

    /// Parses, lowers and checks every file, then builds the graph and keys.
    pub fn analyze(&mut self) -> Result<Analyzed, Vec<Diag>> {
        let files = self.workspace_files();
        let ws = self.ws;
        // Lower in parallel on first use; each thread works on its own handle
        // to the database, and later passes reuse the memoized results.
        files.par_iter().for_each_with(self.db.clone(), |db, f| {
            db::lower_file(db, ws, *f);
        });
        let mut diags = self.refresh_local_files();
        let db = &self.db;
        diags.extend(db::file_diagnostics(db, ws).iter().cloned());
        let built = db::build_graph(db, ws).clone();
        diags.extend(built.1.iter().cloned());
        if !diags.is_empty() {
            diags.sort_by(|a, b| (&a.file, a.span, &a.message).cmp(&(&b.file, b.span, &b.message)));
            diags.dedup();
            return Err(diags);
        }
        Ok(Analyzed { graph: GraphRef(built), keys: KeyTable(db::all_keys(db, ws).clone()) })
    }

    /// Re-analyzes after edits and says which keys changed since `before`.
    pub fn rekey(&mut self, before: &Analyzed) -> Result<(Analyzed, Vec<NodeId>), Vec<Diag>> {
        let after = self.analyze()?;
        let changed = after.keys.changed_since(&before.keys);
        Ok((after, changed))
    }

    /// Hashes every file referenced with `file(...)` (only when backed by a
    /// real workspace) and reports the ones that do not exist.
    fn refresh_local_files(&mut self) -> Vec<Diag> {
        let wanted = db::referenced_files(&self.db, self.ws).clone();
        let Some(root) = self.root.clone() else { return Vec::new() };
        let digests: Vec<(String, Result<String, WorkspaceFileError>)> = wanted
            .keys()
            .par_bridge()
            .map(|p| (p.clone(), read_workspace_file(&root, p).map(|b| blake3::hash(&b).to_hex().to_string())))
            .collect();
        let mut diags = Vec::new();
        for (path, digest) in digests {
            if let Err(e) = &digest {
                let (file, span) = &wanted[&path];
                let d = match e {
                    WorkspaceFileError::Missing => Diag::error(file, *span, "E0120", format!("file `{path}` does not exist"))
                        .with_help("paths in `file(...)` are relative to the directory of the .dhi file"),
                    WorkspaceFileError::Outside(to) => {
                        Diag::error(file, *span, "E0121", format!("file `{path}` resolves outside the workspace, to {}", to.display()))
                            .with_help(
                                "`file(...)` reads only files inside the workspace, after following every symbolic link: copy the file in",
                            )
                    }
                    WorkspaceFileError::NotRegular(what) => {
                        Diag::error(file, *span, "E0122", format!("file `{path}` is {what}, not a regular file"))
                            .with_help("`file(...)` reads regular files only")
                    }
                    WorkspaceFileError::Io(why) => Diag::error(file, *span, "E0123", format!("cannot read file `{path}`: {why}")),
                };
                diags.push(d.with_label("referenced here"));
            }
            self.set_local_digest(&path, digest.ok());
        }
        diags
    }

    /// Workspace files referenced with `file(...)`.
    pub fn referenced_files(&self) -> Vec<String> {
        db::referenced_files(&self.db, self.ws).keys().cloned().collect()
    }

    /// The `.dhi` files of the workspace with their texts, as loaded.
    pub fn texts(&self) -> Vec<(String, String)> {
        self.workspace_files().iter().map(|f| (f.path(&self.db).clone(), f.text(&self.db).to_string())).collect()
    }

    /// The nodes whose keys may change when `files` (workspace-relative)
    /// change: the targets defined in them or in files that load them, the
    /// targets that read them with `file(...)`, and everything downstream.
    /// A change to dhi.toml affects everything.
    pub fn affected_by_files(&self, analyzed: &Analyzed, files: &[String]) -> NodeSet {
        let g = &analyzed.graph;
        if files.iter().any(|f| f == ROOT_MARKER) {
            return g.graph.node_indices().collect();
        }
        // Files loading a changed file change with it, transitively.
        let texts = self.texts();
        let mut changed: BTreeSet<String> = files.iter().cloned().collect();
        loop {
            let before = changed.len();
            for (path, text) in &texts {
                let Ok(parsed) = dhib_lang::syntax::parse(path, text) else { continue };
                let loads_changed = parsed.items.iter().any(|item| match item {
                    dhib_lang::syntax::Item::Load(l) => changed.contains(l.path.value.trim_start_matches("//")),
                    _ => false,
                });
                if loads_changed {
                    changed.insert(path.clone());
                }
            }
            if changed.len() == before {
                break;
            }
        }
        let start: NodeSet = g
            .graph
            .node_indices()
            .filter(|n| {
                let Some(def) = self.target(&g.node(*n).label) else { return false };
                let mut read = Vec::new();
                def.attrs.values().for_each(|v| v.files(&mut read));
                changed.contains(&def.file) || read.iter().any(|f| changed.contains(&f.file))
            })
            .collect();
        dhib_graph::query::reach(g, &start, None, false)
    }

    /// The key of one node, computed (or reused) on demand.
    pub fn key_of(&self, id: &NodeId) -> Key {
        db::node_key(&self.db, self.ws, Node::new(&self.db, id.clone()))
    }
}

impl SourceLookup for Analysis {
    fn source_text(&self, file: &str) -> Option<Arc<str>> {
        if file == ROOT_MARKER {
            return self.config_text.clone();
        }
        self.ws.files(&self.db).get(file).map(|f| f.text(&self.db).clone())
    }
}

impl Targets for Analysis {
    fn target(&self, label: &Label) -> Option<Arc<TargetDef>> {
        db::Lookup { db: &self.db, ws: self.ws }.target(label)
    }

    fn all_labels(&self) -> Arc<Vec<(Label, dhib_lang::schema::Kind)>> {
        db::all_labels(&self.db, self.ws).clone()
    }
}

#[cfg(test)]
mod graph_tests {
    use super::Analysis;
    use dhib_graph::{NodeId, Role};

    #[test]
    fn an_edge_keeps_every_attribute_naming_its_node() {
        let pkgs = "package \"lib\" {\n  version = \"1\"\n  env = //toolchains:cc\n  build = { steps = [\"make\"] }\n}\n\n\
                    package \"app\" {\n  version = \"1\"\n  env = //toolchains:cc\n  build = { steps = [\"make\"] }\n  \
                    deps = [:lib]\n  runtime_deps = [:lib]\n}\n";
        let files = vec![
            ("toolchains/BUILD.dhi".to_string(), "env \"cc\" {\n  packages = []\n}\n".to_string()),
            ("pkgs/BUILD.dhi".to_string(), pkgs.to_string()),
        ];
        let analyzed = Analysis::from_texts(files, "linux/amd64").analyze().unwrap_or_else(|d| panic!("{d:#?}"));
        let g = &analyzed.graph;
        let node = |s: &str| g.index[&NodeId::parse(s).unwrap()];
        let (app, lib) = (node("//pkgs:app"), node("//pkgs:lib"));
        assert_eq!(g.graph.edges_connecting(app, lib).count(), 1);
        let roles = &g.graph[g.graph.find_edge(app, lib).unwrap()];
        assert!(roles.contains(Role::Deps) && roles.contains(Role::RuntimeDeps), "{roles}");
        assert_eq!(roles.to_string(), "deps,runtime_deps");
    }
}
