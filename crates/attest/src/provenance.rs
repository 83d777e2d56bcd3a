//! SLSA Provenance v1: how an image was built, and from what.

use serde_json::{json, Value};

/// The build type of dhib's images (documented in docs/attestations.md).
pub const BUILD_TYPE: &str = "https://dhib.dev/build-types/image/v1";
pub const BUILDER_ID: &str = "https://dhib.dev/builder/local/v1";

/// One input of the build, pinned by digest.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dependency {
    /// The dhib node, e.g. `//pkgs/zlib:zlib` or `//debian:libc6`.
    pub name: String,
    /// Where it was downloaded from, for sources and debs.
    pub uri: Option<String>,
    pub sha256: String,
}

pub struct Provenance {
    pub target: String,
    /// The .dhi files (and dhi.toml) the build read, with their sha256.
    pub definitions: Vec<(String, String)>,
    /// The workspace's version-control revision, when it has one.
    pub revision: Option<String>,
    pub dependencies: Vec<Dependency>,
    pub invocation_id: String,
    /// Unix seconds: when the image's build started and finished.
    pub started: u64,
    pub finished: u64,
    /// `bwrap` or `none`.
    pub sandbox: String,
    pub source_date_epoch: u64,
    pub dhib_version: String,
    /// The upstream-diff guardrail's records (`dhib upstream update`) of the
    /// source archives built from, each with the sha256 it is stored under.
    pub guardrail: Vec<(serde_json::Value, String)>,
}

pub fn predicate(p: &Provenance) -> Value {
    let mut deps = p.dependencies.clone();
    deps.sort();
    deps.dedup();
    let resolved: Vec<Value> = deps
        .iter()
        .map(|d| {
            let mut v = json!({"name": d.name, "digest": {"sha256": d.sha256}});
            if let Some(uri) = &d.uri {
                v["uri"] = json!(uri);
            }
            v
        })
        .collect();
    let definitions: Vec<Value> = p.definitions.iter().map(|(path, sha)| json!({"name": path, "digest": {"sha256": sha}})).collect();
    let mut external = json!({"target": p.target, "definitions": definitions});
    if let Some(rev) = &p.revision {
        external["revision"] = json!(rev);
    }
    let mut internal = json!({"sandbox": p.sandbox, "sourceDateEpoch": p.source_date_epoch, "dhibVersion": p.dhib_version});
    if !p.guardrail.is_empty() {
        let records: Vec<Value> = p.guardrail.iter().map(|(r, sha)| json!({"digest": {"sha256": sha}, "record": r})).collect();
        internal["guardrail"] = json!(records);
    }
    json!({
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": external,
            "internalParameters": internal,
            "resolvedDependencies": resolved,
        },
        "runDetails": {
            "builder": {"id": BUILDER_ID, "version": {"dhib": p.dhib_version}},
            "metadata": {
                "invocationId": p.invocation_id,
                "startedOn": dhib_core::rfc3339(p.started),
                "finishedOn": dhib_core::rfc3339(p.finished),
            },
        },
    })
}

/// The resolved dependencies a provenance predicate names, by name.
pub fn dependencies(predicate: &Value) -> Vec<Dependency> {
    predicate["buildDefinition"]["resolvedDependencies"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| {
            Some(Dependency {
                name: d["name"].as_str()?.to_string(),
                uri: d["uri"].as_str().map(str::to_string),
                sha256: d["digest"]["sha256"].as_str()?.to_string(),
            })
        })
        .collect()
}
