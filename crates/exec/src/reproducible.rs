//! `dhib build --check-reproducible`: the same nodes built again from
//! nothing, and every output compared.

use dhib_analysis::{Analysis, Analyzed};
use dhib_core::diag::Diag;
use dhib_graph::query::NodeSet;
use dhib_store::Store;

use crate::{build, Event, Request, Summary};

/// A node whose outputs differ between two builds from the same inputs.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Difference {
    pub node: String,
    /// Output name → (first build, second build); `None` where one build
    /// lacks the output.
    pub outputs: std::collections::BTreeMap<String, (Option<String>, Option<String>)>,
}

/// `dhib build --check-reproducible`: builds what `summary` built or found
/// cached once more, from nothing, in a fresh store, and compares every
/// node's outputs (trees by content digest, images by manifest digest).
pub fn check_reproducible(
    analysis: &Analysis,
    analyzed: &Analyzed,
    requested: &NodeSet,
    req: &Request,
    summary: &Summary,
    on_event: &(dyn Fn(&Event) + Sync),
) -> Result<Vec<Difference>, Diag> {
    let fail = |e: String| Diag::plain("E0509", format!("cannot check reproducibility: {e}"));
    let scratch = tempfile::Builder::new().prefix("reproduce-").tempdir_in(&req.store).map_err(|e| fail(e.to_string()))?;
    let again = Request { store: scratch.path().to_path_buf(), ..*req };
    let second = build(analysis, analyzed, requested, &again, on_event)?;
    if !second.ok() {
        return Err(fail("the second build failed".into()));
    }
    let (first_store, second_store) =
        (Store::open(&req.store).map_err(|e| fail(e.to_string()))?, Store::open(scratch.path()).map_err(|e| fail(e.to_string()))?);
    let mut differences = Vec::new();
    for node in summary.built.iter().chain(&summary.cached) {
        let Some(key) = summary.keys.get(node) else { continue };
        let (Some(a), Some(b)) = (first_store.ac_get(key), second_store.ac_get(key)) else { continue };
        let mut outputs = std::collections::BTreeMap::new();
        let mut names: Vec<&String> = a.outputs.keys().chain(b.outputs.keys()).collect();
        names.sort();
        names.dedup();
        for name in names {
            let (x, y) = (a.outputs.get(name), b.outputs.get(name));
            if x != y {
                outputs.insert(name.clone(), (x.map(|d| d.hex()), y.map(|d| d.hex())));
            }
        }
        let (x, y) = (crate::facts::manifest(&a), crate::facts::manifest(&b));
        if x != y {
            outputs.insert("manifest".into(), (x.map(|d| d.hex()), y.map(|d| d.hex())));
        }
        if !outputs.is_empty() {
            differences.push(Difference { node: node.clone(), outputs });
        }
    }
    Ok(differences)
}
