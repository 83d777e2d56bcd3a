//! `dhib affected`: what a change makes rebuild.

use dhib_analysis::Analysis;
use dhib_core::diag::Diag;
use dhib_graph::query::NodeSet;

use crate::{Failure, Loaded, Workspace};

/// What is compared with the working tree.
pub enum Change {
    /// A git revision: the nodes whose keys differ from it.
    Since(String),
    /// Files changed, as the user typed them: every node defined in or
    /// reading them, and everything downstream.
    Files(Vec<String>),
}

pub fn affected(ws: &Workspace, loaded: &Loaded, change: &Change) -> Result<NodeSet, Failure> {
    let now = &loaded.analyzed;
    Ok(match change {
        Change::Since(rev) => {
            let (_tree, then) = dhib_exec::vcs::checkout(&ws.root, rev)?;
            let fail =
                |diags: Vec<Diag>| Diag::plain("E0912", format!("the workspace at {rev} does not analyse ({} problems)", diags.len()));
            let before = Analysis::load(&then).and_then(|mut a| a.analyze()).map_err(fail)?;
            now.keys.changed_since(&before.keys).iter().filter_map(|id| now.graph.index.get(id).copied()).collect()
        }
        Change::Files(files) => {
            let rel: Vec<String> = files
                .iter()
                .map(|f| {
                    let abs = ws.user_path(std::path::Path::new(f));
                    abs.strip_prefix(&ws.root).map(|r| r.to_string_lossy().into_owned()).unwrap_or_else(|_| f.clone())
                })
                .collect();
            loaded.analysis.affected_by_files(now, &rel)
        }
    })
}
