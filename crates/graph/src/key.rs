//! Node keys: a blake3 Merkle hash over everything that can change a node's
//! output, and nothing else (no paths, times or host names).

use super::{Definitions, Dep, NodeDeps, NodeId, NodeKind};
use dhib_lang::eval::TargetDef;
use dhib_lang::schema::Kind;

pub use dhib_core::Key;

/// Attributes that change an image's attestations but not what is built.
const ATTESTATION_ONLY: [&str; 3] = ["vex", "skip_checks", "size_budget_mb"];

/// Attributes that decide only which images a pipeline rebuilds.
const POLICY_ONLY: [&str; 1] = ["support"];

/// Bounds on a build's steps: a step that passes them makes the same
/// output whatever they are, so raising one rebuilds nothing.
const EXECUTION_ONLY: [&str; 3] = ["timeout", "max_processes", "disk_budget_mb"];

/// Bump when the meaning of a key changes, so old caches are not trusted.
const CONTEXT: &str = "dhib node key v1";

/// The version of how dhib builds each kind of node. Bump a kind's number
/// when its action changes what it produces, so results cached by an older
/// dhib are not reused for it.
fn recipe_version(kind: Option<NodeKind>) -> u32 {
    match kind {
        Some(NodeKind::Target(Kind::Env)) => 5,
        Some(NodeKind::Target(Kind::Deb)) => 2,
        Some(NodeKind::Target(Kind::Image | Kind::Customization)) => 7,
        Some(NodeKind::Target(Kind::Source)) => 2,
        Some(NodeKind::Attestation) => 5,
        _ => 1,
    }
}

/// Length-prefixed fields: no two different field lists hash alike.
struct KeyHasher(blake3::Hasher);

impl KeyHasher {
    fn field(&mut self, name: &str, bytes: &[u8]) {
        for part in [name.as_bytes(), bytes] {
            self.0.update(&(part.len() as u64).to_le_bytes());
            self.0.update(part);
        }
    }
}

pub fn compute(lookup: &dyn Definitions, id: &NodeId, def: Option<&TargetDef>, deps: &NodeDeps, dep_keys: &[(&Dep, Key)]) -> Key {
    let mut h = KeyHasher(blake3::Hasher::new_derive_key(CONTEXT));
    let kind = deps.kind.map_or("missing", NodeKind::name);
    h.field("kind", kind.as_bytes());
    h.field("recipe", &recipe_version(deps.kind).to_le_bytes());
    h.field("node", id.to_string().as_bytes());
    let configured = matches!(deps.kind, Some(NodeKind::Target(Kind::Package | Kind::Env | Kind::Image | Kind::Customization)));
    if configured && id.facet.is_none() {
        let platform = id.platform.as_deref().unwrap_or(lookup.default_platform());
        h.field("platform", platform.as_bytes());
    }
    // Builds and images carry SOURCE_DATE_EPOCH in their outputs.
    if matches!(deps.kind, Some(NodeKind::Target(Kind::Package | Kind::Image | Kind::Customization))) && id.facet.is_none() {
        h.field("source_date_epoch", &lookup.source_date_epoch().to_le_bytes());
    }
    if let (Some(def), None) = (def, &id.facet) {
        // What only an attestation reads is part of that attestation's key,
        // so that changing it re-attests without rebuilding.
        let keyed = |name: &str| {
            !(ATTESTATION_ONLY.contains(&name)
                || POLICY_ONLY.contains(&name)
                || matches!(def.kind, Kind::Package | Kind::DebianBuild) && EXECUTION_ONLY.contains(&name))
        };
        for (name, value) in def.attrs.iter().filter(|(name, _)| keyed(name)) {
            h.field(name, &value.canonical_bytes());
            let mut files = Vec::new();
            value.files(&mut files);
            for f in files {
                let digest = lookup.file_digest(&f.file);
                h.field("file", f.file.as_bytes());
                h.field("digest", digest.as_deref().unwrap_or("missing").as_bytes());
            }
        }
        h.field("dev", &[def.dev as u8]);
    }
    if let (Some(def), Some(facet)) = (def, &id.facet) {
        match facet.as_str() {
            "test-report" => {
                for name in ["skip_checks", "size_budget_mb"] {
                    if let Some(v) = def.attrs.get(name) {
                        h.field(name, &v.canonical_bytes());
                    }
                }
            }
            "vex" => {
                for (label, bytes) in super::vex_inputs(lookup, &def.label) {
                    h.field(&label, &bytes);
                }
            }
            _ => {}
        }
    }
    let mut sorted: Vec<(String, &str, Key)> = dep_keys.iter().map(|(d, k)| (d.node.to_string(), d.role.name(), *k)).collect();
    sorted.sort();
    for (node, role, key) in sorted {
        h.field("dep", format!("{role} {node}").as_bytes());
        h.field("dep-key", &key.0);
    }
    Key(*h.0.finalize().as_bytes())
}
