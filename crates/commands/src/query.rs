//! `dhib query`, `dhib graph`, `dhib key`: questions about the graph.

use dhib_core::diag::{Diag, Span};
use dhib_graph::query::{self, NodeSet, QUERY_FILE};
use dhib_graph::{Key, NodeId, NodeKind};

use crate::{Failure, Loaded};

/// One node of an answer, as `--output json` lists it (fields in
/// alphabetical order, as every JSON object dhib prints).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Row {
    pub key: Option<Key>,
    pub kind: Option<NodeKind>,
    pub node: NodeId,
}

/// The nodes `expr` names.
pub fn query(loaded: &Loaded, expr: &str) -> Result<NodeSet, Failure> {
    let in_query = |d| Failure::in_query(d, &loaded.analysis, expr);
    let q = query::parse(expr).map_err(in_query)?;
    query::eval(&q, &loaded.analyzed.graph, &loaded.analysis).map_err(in_query)
}

/// `dhib graph`: the query of the patterns and everything they depend on.
pub fn graph_expr(patterns: &[String]) -> String {
    format!("deps({})", patterns.join(" + "))
}

/// The nodes of `set`, sorted, with their kinds and keys.
pub fn rows(loaded: &Loaded, set: &NodeSet) -> Vec<Row> {
    let g = &loaded.analyzed.graph;
    let mut rows: Vec<Row> =
        set.iter().map(|i| Row { key: loaded.analyzed.keys.get(g.node(*i)), kind: g.kind(*i), node: g.node(*i).clone() }).collect();
    rows.sort_by(|a, b| a.node.cmp(&b.node));
    rows
}

/// `set` as a Graphviz digraph.
pub fn dot(loaded: &Loaded, set: &NodeSet) -> String {
    query::to_dot(&loaded.analyzed.graph, set)
}

/// The key of each node `names` names (one configured node each).
pub fn keys(loaded: &Loaded, names: &[String]) -> Result<Vec<(Key, String)>, Failure> {
    names
        .iter()
        .map(|n| {
            let found = NodeId::parse(n).ok().and_then(|id| loaded.analyzed.keys.get(&id));
            found.map(|k| (k, n.clone())).ok_or_else(|| {
                let span = Span::new(0, n.len());
                let d = query::resolve_pattern(n, span, &loaded.analyzed.graph).err().unwrap_or_else(|| {
                    Diag::error(QUERY_FILE, span, "E0412", format!("`{n}` names more than one node"))
                        .with_label("ambiguous")
                        .with_help("name one configuration, e.g. //dir:name@linux/arm64")
                });
                Failure::in_query(d, &loaded.analysis, n)
            })
        })
        .collect()
}
