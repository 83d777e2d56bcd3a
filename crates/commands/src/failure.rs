//! Diagnostics with the source text each points into, ready to render.

use std::path::Path;
use std::sync::Arc;

use dhib_analysis::{Analysis, ROOT_MARKER};
use dhib_core::diag::{Diag, Rendered, SourceLookup};
use dhib_graph::query::QUERY_FILE;

/// Why a command could not do its work: one diagnostic or several.
#[derive(Debug)]
pub struct Failure(pub Vec<Rendered>);

impl Failure {
    pub fn new(diags: Vec<Diag>, sources: &dyn SourceLookup) -> Self {
        Failure(diags.into_iter().map(|d| Rendered::new(d, sources)).collect())
    }

    /// A diagnostic that points into no file.
    pub fn plain(d: Diag) -> Self {
        Self::new(vec![d], &NoSources)
    }

    /// A diagnostic about a query or pattern the user typed, or about the
    /// workspace's files.
    pub(crate) fn in_query(d: Diag, analysis: &Analysis, query: &str) -> Self {
        Self::new(vec![d], &WithQuery { analysis, query })
    }

    /// Diagnostics about dhi.toml, before the workspace is analysed.
    pub(crate) fn in_config(diags: Vec<Diag>, root: &Path) -> Self {
        Self::new(diags, &ConfigSource(root))
    }
}

impl From<Diag> for Failure {
    fn from(d: Diag) -> Self {
        Failure::plain(d)
    }
}

struct NoSources;
impl SourceLookup for NoSources {
    fn source_text(&self, _: &str) -> Option<Arc<str>> {
        None
    }
}

/// The workspace's dhi.toml, for diagnostics about it before analysis exists.
struct ConfigSource<'a>(&'a Path);
impl SourceLookup for ConfigSource<'_> {
    fn source_text(&self, file: &str) -> Option<Arc<str>> {
        (file == ROOT_MARKER).then(|| std::fs::read_to_string(self.0.join(file)).ok().map(Arc::from)).flatten()
    }
}

/// The workspace's sources plus the query text, for query diagnostics.
struct WithQuery<'a> {
    analysis: &'a Analysis,
    query: &'a str,
}
impl SourceLookup for WithQuery<'_> {
    fn source_text(&self, file: &str) -> Option<Arc<str>> {
        if file == QUERY_FILE {
            Some(Arc::from(self.query))
        } else {
            self.analysis.source_text(file)
        }
    }
}

/// Texts read by the caller (files given to `dhib fmt`), by name.
pub(crate) struct Texts(pub Vec<(String, Arc<str>)>);
impl SourceLookup for Texts {
    fn source_text(&self, file: &str) -> Option<Arc<str>> {
        self.0.iter().find(|(n, _)| n == file).map(|(_, t)| t.clone())
    }
}
