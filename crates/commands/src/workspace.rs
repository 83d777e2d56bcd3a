//! The workspace a command runs in: its root (found from the current
//! directory), its store, where images are written, and its analysis.

use std::cell::OnceCell;
use std::path::{Path, PathBuf};

use dhib_analysis::{Analysis, Analyzed, Config, LoadedConfig};
use dhib_core::diag::Diag;
use dhib_graph::query::NodeSet;
use dhib_store::Store;

use crate::Failure;

pub struct Workspace {
    /// Where dhib was started: relative paths the user typed are relative to it.
    pub start: PathBuf,
    /// The directory holding dhi.toml.
    pub root: PathBuf,
    /// `--store`, `DHIB_STORE`, else `.dhib/` in the workspace.
    pub store_dir: PathBuf,
    /// dhi.toml, read the first time a command needs it.
    config: OnceCell<Result<LoadedConfig, Vec<Diag>>>,
}

/// A workspace analysed: its files and database, and the keyed graph.
pub struct Loaded {
    pub analysis: Analysis,
    pub analyzed: Analyzed,
}

impl Workspace {
    /// The workspace holding the current directory.
    pub fn find(store: Option<PathBuf>) -> Result<Workspace, Failure> {
        let start = std::env::current_dir().map_err(|e| Diag::plain("E0001", format!("no current directory: {e}")))?;
        let root = dhib_analysis::find_root(&start)?;
        let store_dir = store.unwrap_or_else(|| root.join(".dhib"));
        Ok(Workspace { start, root, store_dir, config: OnceCell::new() })
    }

    /// The workspace's dhi.toml, read once.
    pub fn config(&self) -> Result<&Config, Failure> {
        self.loaded_config().map(|c| &c.config)
    }

    fn loaded_config(&self) -> Result<&LoadedConfig, Failure> {
        self.config.get_or_init(|| Config::load(&self.root)).as_ref().map_err(|diags| Failure::in_config(diags.clone(), &self.root))
    }

    /// Reads and analyses every `.dhi` file: all problems at once, or the graph.
    pub fn load(&self) -> Result<Loaded, Failure> {
        self.load_files(self.discover()?)
    }

    /// Every `.dhi` file of the workspace, read (dhi.toml's excludes left out).
    pub fn discover(&self) -> Result<Vec<(String, String)>, Failure> {
        Ok(dhib_analysis::discover(&self.root, &self.config()?.workspace.exclude)?)
    }

    /// Analyses the files [`Workspace::discover`] read.
    pub fn load_files(&self, files: Vec<(String, String)>) -> Result<Loaded, Failure> {
        let mut analysis = Analysis::load_files(&self.root, self.loaded_config()?.clone(), files);
        let analyzed = analysis.analyze().map_err(|diags| Failure::new(diags, &analysis))?;
        Ok(Loaded { analysis, analyzed })
    }

    pub fn store(&self) -> Result<Store, Failure> {
        Store::open(&self.store_dir).map_err(|e| Diag::plain("E0502", e.to_string()).into())
    }

    /// `--out DIR`, else `dhib-out/` in the workspace.
    pub fn out_dir(&self, out: Option<PathBuf>) -> PathBuf {
        out.unwrap_or_else(|| self.root.join("dhib-out"))
    }

    /// A path the user typed, made absolute against where dhib started.
    pub fn user_path(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.start.join(p)
        }
    }
}

impl Loaded {
    /// The union of the nodes `patterns` name; a bad one is a diagnostic in
    /// its own text.
    pub fn resolve_all(&self, patterns: &[String]) -> Result<NodeSet, Failure> {
        let mut requested = NodeSet::new();
        for p in patterns {
            requested.extend(dhib_exec::resolve(&self.analysis, &self.analyzed, p).map_err(|d| Failure::in_query(d, &self.analysis, p))?);
        }
        Ok(requested)
    }
}

/// Actions at once unless `-j` says: one per core.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}
