//! `dhib verify`: checks a signed image layout against a public key, each
//! check passing or failing on its own with a message naming what failed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use dhib_analysis::{Analysis, Analyzed};
use dhib_attest::keys::PublicKey;
use dhib_attest::{cosign, dsse, provenance, sbom, statement};
use dhib_graph::query::{self, NodeSet};
use dhib_oci::{attach, rootfs};
use dhib_store::{Digest, Store};

use crate::actions::attest;

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

fn check(name: &str, result: Result<String, String>) -> Check {
    match result {
        Ok(detail) => Check { name: name.to_string(), ok: true, detail },
        Err(detail) => Check { name: name.to_string(), ok: false, detail },
    }
}

/// What the workspace's graph says one of its images must carry.
#[derive(Debug, Clone, Default)]
pub struct Expected {
    /// Its resolved dependencies, name → sha256.
    pub dependencies: BTreeMap<String, String>,
    /// The predicate type of every attestation its nodes made (a VEX
    /// document only where it has statements).
    pub predicate_types: BTreeSet<String>,
}

/// Verifies the image of the layout at `layout`. `expected` is what the
/// workspace's graph gives the image, when it is one of the workspace's;
/// `documents` the directory of its attestations' documents written beside
/// it, each of which must be what was signed.
pub fn verify(layout: &Path, key: &PublicKey, expected: Option<&Expected>, documents: Option<&Path>) -> Vec<Check> {
    let mut checks = Vec::new();
    // Every blob into a scratch store, each checked against its name.
    let scratch = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => return vec![check("layout", Err(e.to_string()))],
    };
    let store = match Store::open(scratch.path()) {
        Ok(s) => s,
        Err(e) => return vec![check("layout", Err(e.to_string()))],
    };
    checks.push(check("blobs", import_blobs(layout, &store)));
    checks.push(check("references", references(layout)));
    let signed = match attach::read(layout) {
        Ok(s) => s,
        Err(e) => {
            checks.push(check("layout", Err(e)));
            return checks;
        }
    };
    let image = signed.image;
    let hex = image.hex();

    checks.push(check(
        "signature",
        match &signed.signature {
            None => Err(format!("no signature (no sha256-{hex}.sig tag)")),
            Some(sig) => verify_signature(key, sig, &image),
        },
    ));

    let mut predicates: BTreeMap<String, Value> = BTreeMap::new();
    let mut statements: Vec<Value> = Vec::new();
    if signed.attestations.is_empty() {
        checks.push(check("attestations", Err(format!("no attestations (no sha256-{hex}.att tag)"))));
    }
    for (i, bytes) in signed.attestations.iter().enumerate() {
        let name = format!("attestation {}", i + 1);
        let outcome = signed_statement(bytes, key, &hex).map(|(ty, statement)| {
            let predicate = statement["predicate"].clone();
            statements.push(statement);
            (ty, predicate)
        });
        match outcome {
            Ok((ty, predicate)) => {
                checks.push(check(&name, Ok(format!("{ty}: signed, about the image"))));
                predicates.insert(ty, predicate);
            }
            Err(e) => checks.push(check(&name, Err(e))),
        }
    }
    // No VEX document is a document with no statement (OpenVEX has no
    // empty one), which cannot make an image look safer than it is.
    for (ty, what) in [
        (statement::SPDX, "SPDX SBOM"),
        (statement::CYCLONEDX, "CycloneDX SBOM"),
        (statement::SLSA_PROVENANCE, "provenance"),
        (statement::CTRF, "test report"),
    ] {
        if !predicates.contains_key(ty) {
            checks.push(check(what, Err(format!("no valid {what} attestation ({ty})"))));
        }
    }
    for ty in expected.iter().flat_map(|e| &e.predicate_types) {
        if !predicates.contains_key(ty) {
            checks.push(check("attestations", Err(format!("the build attested {ty}, and the layout has no valid attestation of it"))));
        }
    }
    if let Some(dir) = documents {
        checks.push(check("documents", documents_match(dir, key, &statements)));
    }
    if let Some(spdx) = predicates.get(statement::SPDX) {
        checks.push(check("SBOM matches the layers", sbom_matches(&store, &image, spdx)));
    }
    if let Some(report) = predicates.get(statement::CTRF) {
        let failed = dhib_attest::ctrf::failed(report);
        checks.push(check("test report", if failed == 0 { Ok("no test failed".into()) } else { Err(format!("{failed} tests failed")) }));
    }
    if let (Some(p), Some(expected)) = (predicates.get(statement::SLSA_PROVENANCE), expected) {
        checks.push(check("provenance matches the graph", provenance_matches(p, &expected.dependencies)));
    }
    if let Some(p) = predicates.get(statement::SLSA_PROVENANCE) {
        checks.extend(guardrail(p).into_iter().map(|outcome| check("guardrail", outcome)));
    }
    checks
}

/// An attestation of the layout (a DSSE envelope) whose signature verifies
/// with `key` and whose subject is the image `hex`: its predicate type and
/// its statement.
pub fn signed_statement(bytes: &[u8], key: &PublicKey, hex: &str) -> Result<(String, Value), String> {
    let env = dsse::Envelope::from_json(bytes).map_err(|e| e.to_string())?;
    let payload = env.payload_bytes().map_err(|e| e.to_string())?;
    let (subjects, ty, _) = statement::read(&payload)?;
    env.verify(key).map_err(|e| format!("{ty}: the DSSE signature does not verify: {e}"))?;
    if !subjects.iter().any(|s| s == hex) {
        return Err(format!("{ty}: its subject is sha256:{}, not the image sha256:{hex}", subjects.join(", sha256:")));
    }
    Ok((ty, serde_json::from_slice(&payload).map_err(|e| e.to_string())?))
}

/// What the upstream-diff guardrail said of each source archive the
/// provenance names: a vetted archive passes; one it still blocks (pinned
/// by hand past it) fails, as does a record of an archive the build did
/// not use.
fn guardrail(predicate: &Value) -> Vec<Result<String, String>> {
    let used: Vec<String> = provenance::dependencies(predicate).into_iter().map(|d| d.sha256).collect();
    let records = predicate["buildDefinition"]["internalParameters"]["guardrail"].as_array().cloned().unwrap_or_default();
    records
        .iter()
        .map(|entry| {
            let r = &entry["record"];
            let text = |v: &Value| v.as_str().unwrap_or("?").to_string();
            let list = |v: &Value| v.as_array().map(|a| a.iter().map(text).collect::<Vec<_>>()).unwrap_or_default();
            let what = format!("{} {} \u{2192} {}", text(&r["source"]), text(&r["from"]), text(&r["to"]));
            if !used.contains(&text(&r["sha256"])) {
                return Err(format!("{what}: the record is of an archive the build did not use"));
            }
            let blocking = list(&r["blocking"]);
            if !blocking.is_empty() {
                return Err(format!("{what}: built from an archive the guardrail blocks ({})", blocking.join(", ")));
            }
            let findings = r["report"]["findings"].as_array().map_or(0, Vec::len);
            let against = r["vcs"].as_str().map(|v| format!(" against {v}")).unwrap_or_default();
            let approved = list(&r["approved"]);
            let approved = if approved.is_empty() { String::new() } else { format!(", approved: {}", approved.join(", ")) };
            Ok(format!("{what} vetted{against}: {findings} findings{approved}"))
        })
        .collect()
}

fn import_blobs(layout: &Path, store: &Store) -> Result<String, String> {
    let dir = layout.join("blobs/sha256");
    let mut count = 0;
    let mut bad = Vec::new();
    for entry in std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let entry = entry.map_err(|e| e.to_string())?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let bytes = std::fs::read(entry.path()).map_err(|e| e.to_string())?;
        if Digest::parse(&name) != Some(Digest::of(&bytes)) {
            bad.push(format!("sha256:{name}"));
            continue;
        }
        store.put_bytes(&bytes).map_err(|e| e.to_string())?;
        count += 1;
    }
    if bad.is_empty() {
        Ok(format!("{count} blobs match their digests"))
    } else {
        Err(format!("blob {} does not match its digest (changed after it was written)", bad.join(", ")))
    }
}

/// Every blob that the layout's index.json reaches (manifests, configs,
/// layers, signatures, attestations) is in the layout.
fn references(layout: &Path) -> Result<String, String> {
    let path = layout.join("index.json");
    let index: Value = serde_json::from_slice(&std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let (mut blobs, mut manifests) = (Vec::new(), Vec::new());
    for m in index["manifests"].as_array().into_iter().flatten() {
        let digest = m["digest"]
            .as_str()
            .and_then(|d| d.strip_prefix("sha256:"))
            .and_then(Digest::parse)
            .ok_or("index.json has a descriptor without a sha256 digest")?;
        dhib_oci::layout_closure(layout, digest, m["mediaType"].as_str(), &mut blobs, &mut manifests).map_err(|d| d.message)?;
    }
    let missing: Vec<String> =
        blobs.iter().filter(|b| !dhib_oci::layout_blob(layout, b).is_file()).map(|b| format!("sha256:{b}")).collect();
    if missing.is_empty() {
        Ok(format!("{} manifests and {} blobs that index.json reaches are all there", manifests.len(), blobs.len()))
    } else {
        Err(format!("index.json reaches blobs the layout lacks: {}", missing.join(", ")))
    }
}

/// The documents written beside the layout (`NAME.attestations/`) are what
/// was signed: each envelope verifies and is one of the layout's, each
/// statement is a signed one, each document the predicate of one.
fn documents_match(dir: &Path, key: &PublicKey, statements: &[Value]) -> Result<String, String> {
    let mut files: Vec<_> = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?.filter_map(|e| e.ok()).collect();
    files.sort_by_key(|e| e.file_name());
    let mut problems = Vec::new();
    for f in &files {
        let name = f.file_name().to_string_lossy().into_owned();
        let Ok(bytes) = std::fs::read(f.path()) else {
            problems.push(format!("{name} cannot be read"));
            continue;
        };
        let signed = if name.ends_with(".dsse.json") {
            dsse::Envelope::from_json(&bytes)
                .ok()
                .filter(|env| env.verify(key).is_ok())
                .and_then(|env| env.payload_bytes().ok())
                .and_then(|p| serde_json::from_slice::<Value>(&p).ok())
                .is_some_and(|st| statements.contains(&st))
        } else {
            match serde_json::from_slice::<Value>(&bytes) {
                Ok(doc) if name.ends_with(".intoto.json") => statements.contains(&doc),
                Ok(doc) => statements.iter().any(|st| st["predicate"] == doc),
                Err(_) => false,
            }
        };
        if !signed {
            problems.push(format!("{name} is not what was signed"));
        }
    }
    if problems.is_empty() {
        Ok(format!("{} documents in {}, each as signed", files.len(), dir.display()))
    } else {
        Err(problems.join("; "))
    }
}

fn verify_signature(key: &PublicKey, sig: &attach::Signature, image: &Digest) -> Result<String, String> {
    use base64::Engine;
    let raw =
        base64::engine::general_purpose::STANDARD.decode(&sig.signature_b64).map_err(|e| format!("the signature is not base64: {e}"))?;
    key.verify(&sig.payload, &raw).map_err(|e| format!("the signature does not verify with the key: {e}"))?;
    cosign::check_payload(&sig.payload, &format!("sha256:{image}")).map_err(|e| format!("the signature is for another image: {e}"))?;
    Ok(format!("cosign signature over sha256:{image} verifies"))
}

/// The SBOM lists exactly what the layers hold: every regular file of each
/// platform's root file system with its content, and every Debian package
/// whose dpkg record is there.
fn sbom_matches(store: &Store, image: &Digest, spdx: &Value) -> Result<String, String> {
    let listed = sbom::spdx_summary(&serde_json::to_vec(spdx).expect("json")).map_err(|e| format!("unreadable SPDX document: {e}"))?;
    let files: BTreeMap<&str, &str> = listed.iter().flat_map(|p| p.files.iter().map(|(path, sha)| (path.as_str(), sha.as_str()))).collect();
    let debs_listed: BTreeSet<(String, String)> = listed
        .iter()
        .filter(|p| p.purl.as_deref().is_some_and(|u| u.starts_with("pkg:deb/")))
        .map(|p| (p.name.clone(), p.version.clone()))
        .collect();
    let mut problems = Vec::new();
    let mut debs_present = BTreeSet::new();
    let manifests = dhib_oci::platform_manifests(store, image).map_err(|e| e.to_string())?;
    for (manifest, platform) in &manifests {
        let view = rootfs::rootfs(store, manifest).map_err(|e| e.to_string())?;
        for (path, node) in view.iter().filter(|(_, n)| n.kind == rootfs::Kind::File) {
            match files.get(format!("/{path}").as_str()) {
                None => problems.push(format!("/{path} ({platform}) is in no package of the SBOM")),
                Some(sha) if *sha != node.sha256 => problems.push(format!("/{path} ({platform}) differs from the SBOM's checksum")),
                _ => {}
            }
        }
        for layer in dhib_oci::manifest_layers(store, manifest).map_err(|e| e.to_string())? {
            let records = dhib_oci::layer_files(store, &layer, |p| p.starts_with("var/lib/dpkg/status.d/")).map_err(|e| e.to_string())?;
            for (_, text) in records {
                let text = String::from_utf8_lossy(&text);
                let field = |f: &str| text.lines().find_map(|l| l.strip_prefix(&format!("{f}: "))).map(str::to_string);
                if let (Some(name), Some(version)) = (field("Package"), field("Version")) {
                    debs_present.insert((name, version));
                }
            }
        }
    }
    for (name, version) in debs_present.difference(&debs_listed) {
        problems.push(format!("Debian package {name} {version} is installed but not in the SBOM"));
    }
    for (name, version) in debs_listed.difference(&debs_present) {
        problems.push(format!("the SBOM lists Debian package {name} {version}, which is not installed"));
    }
    if problems.is_empty() {
        Ok(format!("{} packages, {} files, {} platforms", listed.len(), files.len(), manifests.len()))
    } else {
        let n = problems.len();
        problems.truncate(5);
        Err(format!("{n} differences: {}", problems.join("; ")))
    }
}

fn provenance_matches(predicate: &Value, expected: &BTreeMap<String, String>) -> Result<String, String> {
    let claimed: BTreeMap<String, String> = provenance::dependencies(predicate).into_iter().map(|d| (d.name, d.sha256)).collect();
    let mut problems = Vec::new();
    for (name, sha) in expected {
        match claimed.get(name) {
            None => problems.push(format!("{name} is missing")),
            Some(c) if c != sha => problems.push(format!("{name} has sha256 {c}, the graph {sha}")),
            _ => {}
        }
    }
    for name in claimed.keys().filter(|n| !expected.contains_key(*n)) {
        problems.push(format!("{name} is not in the graph"));
    }
    if problems.is_empty() {
        Ok(format!("{} resolved dependencies, as the graph has them", claimed.len()))
    } else {
        let n = problems.len();
        problems.truncate(5);
        Err(format!("{n} differences: {}", problems.join("; ")))
    }
}

/// What the graph says the image `node` must carry: the resolved
/// dependencies its provenance names (name → sha256) and the predicate type
/// of every attestation its nodes made, from the results in the store;
/// `None` when something it depends on was never built into this store.
pub fn expected(analysis: &Analysis, analyzed: &Analyzed, store: &Store, node: &dhib_graph::NodeId) -> Option<crate::verify::Expected> {
    use dhib_graph::query::Targets;
    let index = *analyzed.graph.index.get(node)?;
    let mut out = crate::verify::Expected::default();
    for n in query::reach(&analyzed.graph, &NodeSet::from([index]), None, true) {
        let id = analyzed.graph.node(n);
        if id.label == node.label {
            continue;
        }
        let result = store.ac_get(&analyzed.keys.get(id)?)?;
        if let Some(d) = attest::dependency(id, analysis.target(&id.label).as_deref(), &result) {
            out.dependencies.insert(d.name, d.sha256);
        }
    }
    for facet in dhib_graph::ATTESTATIONS {
        let id = dhib_graph::NodeId { facet: Some(facet.to_string()), ..node.clone() };
        let Some(result) = analyzed.keys.get(&id).and_then(|k| store.ac_get(&k)) else { continue };
        for (_, digest) in result.outputs.iter().filter(|(name, _)| name.ends_with(".intoto.json")) {
            let bytes = store.get(digest).ok()?;
            let (_, ty, _) = dhib_attest::statement::read(&bytes).ok()?;
            out.predicate_types.insert(ty);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    fn predicate(blocking: &[&str], archive: &str) -> serde_json::Value {
        let record = json!({
            "source": "//pkgs/a:a-src", "from": "1.0", "to": "1.1", "sha256": archive, "vcs": "v1.1 of file://repo",
            "approved": ["sh.encoded-payload@configure"], "blocking": blocking, "report": {"findings": [{}, {}]},
        });
        json!({"buildDefinition": {
            "resolvedDependencies": [{"name": "//pkgs/a:a-src", "digest": {"sha256": "aa"}}],
            "internalParameters": {"guardrail": [{"digest": {"sha256": "bb"}, "record": record}]},
        }})
    }

    #[test]
    fn a_vetted_archive_passes_and_a_blocked_or_foreign_one_fails() {
        assert_eq!(
            super::guardrail(&predicate(&[], "aa")),
            [Ok("//pkgs/a:a-src 1.0 \u{2192} 1.1 vetted against v1.1 of file://repo: 2 findings, approved: sh.encoded-payload@configure"
                .to_string())]
        );
        assert!(super::guardrail(&predicate(&["x@y"], "aa"))[0].as_ref().unwrap_err().contains("the guardrail blocks (x@y)"));
        assert!(super::guardrail(&predicate(&[], "cc"))[0].as_ref().unwrap_err().contains("did not use"));
        assert!(super::guardrail(&json!({})).is_empty());
    }
}
