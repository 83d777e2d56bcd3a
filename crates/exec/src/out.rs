//! `dhib-out/`, the directory builds write: each image's OCI layout
//! (`DIR/NAME`), its attestations' documents beside it
//! (`DIR/NAME.attestations/`), test reports (`DIR/NAME.ctrf.json`) and
//! `index.json` naming every image written, which `dhib publish`, `dhib
//! verify` and the null build read back through [`OutIndex`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use petgraph::stable_graph::NodeIndex;
use serde::{Deserialize, Serialize};

use crate::Summary;
use dhib_analysis::Analyzed;
use dhib_core::diag::Diag;
use dhib_graph::query::NodeSet;
use dhib_store::{Digest, Store};

/// `dhib-out/index.json`: every image written there, by node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutIndex {
    pub images: BTreeMap<String, OutImage>,
}

/// One image in `dhib-out/`: its layout (relative to the directory) and
/// the digest of its manifest or index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutImage {
    pub layout: PathBuf,
    pub manifest: Digest,
}

impl OutIndex {
    pub fn path(out: &Path) -> PathBuf {
        out.join("index.json")
    }

    /// The index of `out`; `None` when no build wrote one.
    pub fn read(out: &Path) -> Result<Option<OutIndex>, Diag> {
        let path = Self::path(out);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Diag::plain("E0702", format!("cannot read {}: {e}", path.display()))),
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| Diag::plain("E0703", format!("{} is not an image index written by dhib: {e}", path.display())))
    }
}

/// Writes the OCI layout of every image in `summary` (built or cached) under
/// `out`, one directory per label (`out/DIR/NAME`), and `out/index.json`
/// naming them all. Each layout is written beside its final place and renamed
/// in, so a reader never sees half an image.
///
/// The documents of the image's attestations that `summary` holds go to
/// `out/DIR/NAME.attestations/`; with a `signer`, each statement is signed
/// into a DSSE envelope, the image gets a cosign signature, and both are
/// attached to the layout (see [`dhib_oci::attach`]).
pub fn write_images(
    store_dir: &Path,
    out: &Path,
    summary: &Summary,
    signer: Option<&dhib_attest::keys::SigningKey>,
    source_date_epoch: u64,
    scan_db: Option<&dhib_scan::osv::Database>,
) -> Result<Written, Diag> {
    let fail = |e: String| Diag::plain("E0505", format!("cannot write images to {}: {e}", out.display()));
    let store = Store::open(store_dir).map_err(|e| fail(e.to_string()))?;
    let mut written = Written::default();
    let mut index = OutIndex::default();
    let done: std::collections::HashSet<&String> = summary.built.iter().chain(&summary.cached).collect();
    // Two builds writing one directory take turns; each writes under names
    // of its own and renames into place.
    std::fs::create_dir_all(out).map_err(|e| fail(e.to_string()))?;
    let _turn = dhib_store::lock_file(&out.join(".dhib-out.lock"), true, &format!("another dhib is writing {}", out.display()))
        .map_err(|e| fail(e.to_string()))?;
    let mine = |path: &Path| {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
    };
    for node in summary.built.iter().chain(&summary.cached) {
        let Ok(id) = dhib_graph::NodeId::parse(node) else { continue };
        let Some(key) = summary.keys.get(node) else { continue };
        let Some(result) = store.ac_get(key) else { continue };
        let (Some(layout), Some(manifest)) = (result.outputs.get("oci"), crate::facts::manifest(&result)) else { continue };
        // A multi-platform image is written once, as its index; a platform
        // built alone gets a layout of its own.
        let name = match &id.platform {
            None => id.label.name.clone(),
            Some(p) if !done.contains(&id.label.to_string()) => {
                format!("{}@{}", id.label.name, p.replace('/', "-"))
            }
            Some(_) => continue,
        };
        let rel = PathBuf::from(&id.label.pkg).join(&name);
        let dest = out.join(&rel);
        std::fs::create_dir_all(dest.parent().unwrap_or(out)).map_err(|e| fail(e.to_string()))?;
        let tmp = mine(&dest);
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).map_err(|e| fail(e.to_string()))?;
        store.materialize(layout, &tmp).map_err(|e| fail(e.to_string()))?;
        let docs = attestations_dir(&dest);
        let docs_tmp = mine(&docs);
        let envelopes = write_attestations(&store, summary, node, &docs_tmp, signer, scan_db).map_err(fail)?;
        if let Some(key) = signer {
            let payload = dhib_attest::cosign::simple_signing_payload(&id.label.pkg, &format!("sha256:{manifest}"));
            use base64::Engine;
            let signature = dhib_oci::attach::Signature {
                signature_b64: base64::engine::general_purpose::STANDARD.encode(key.sign(&payload)),
                payload,
            };
            dhib_oci::attach::attach(&tmp, "latest", &signature, &envelopes, &dhib_core::rfc3339(source_date_epoch))
                .map_err(|e| fail(e.to_string()))?;
        }
        for (from, to) in [(&tmp, &dest), (&docs_tmp, &docs)] {
            let _ = std::fs::remove_dir_all(to);
            if from.exists() {
                std::fs::rename(from, to).map_err(|e| fail(e.to_string()))?;
                written.paths.push(to.clone());
            }
        }
        index.images.insert(node.clone(), OutImage { layout: rel, manifest });
        written.images.push((node.clone(), dest));
    }
    if !written.images.is_empty() {
        let text = serde_json::to_string_pretty(&index).expect("json serializes");
        let path = OutIndex::path(out);
        std::fs::write(mine(&path), text + "\n").and_then(|()| std::fs::rename(mine(&path), &path)).map_err(|e| fail(e.to_string()))?;
        written.paths.push(path);
    }
    Ok(written)
}

/// What [`write_images`] wrote: each image's layout by node, and every path
/// it wrote (layouts, attestation directories, index.json).
#[derive(Debug, Default)]
pub struct Written {
    pub images: Vec<(String, PathBuf)>,
    pub paths: Vec<PathBuf>,
}

/// Writes the documents and statements of `node`'s attestations into
/// `dir` (replacing it), with a database a scan of its SBOM too, and with
/// a signer each statement as a DSSE envelope, which it returns.
fn write_attestations(
    store: &Store,
    summary: &Summary,
    node: &str,
    dir: &Path,
    signer: Option<&dhib_attest::keys::SigningKey>,
    scan_db: Option<&dhib_scan::osv::Database>,
) -> Result<Vec<dhib_oci::attach::Attestation>, String> {
    let _ = std::fs::remove_dir_all(dir);
    let mut envelopes = Vec::new();
    let mut documents: Vec<(String, Vec<u8>)> = Vec::new();
    for facet in dhib_graph::ATTESTATIONS {
        let Some(result) = summary.keys.get(&format!("{node}#{facet}")).and_then(|k| store.ac_get(k)) else { continue };
        for (name, digest) in &result.outputs {
            documents.push((name.clone(), store.get(digest).map_err(|e| e.to_string())?));
        }
    }
    if let Some(db) = scan_db {
        documents.extend(scan_documents(node, &documents, db)?);
    }
    for (name, bytes) in &documents {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        std::fs::write(dir.join(name), bytes).map_err(|e| e.to_string())?;
        let (Some(key), Some(stem)) = (signer, name.strip_suffix(".intoto.json")) else { continue };
        let (_, predicate_type, _) = dhib_attest::statement::read(bytes)?;
        let envelope = dhib_attest::dsse::Envelope::sign(dhib_attest::dsse::IN_TOTO_PAYLOAD, bytes, key);
        let json = envelope.to_json();
        std::fs::write(dir.join(format!("{stem}.dsse.json")), &json).map_err(|e| e.to_string())?;
        envelopes.push(dhib_oci::attach::Attestation { envelope: json, predicate_type });
    }
    Ok(envelopes)
}

/// The scan of an image's SBOM against `db`, with its own VEX applied: the
/// report (`scan.vuln.json`) and its statement. Timed as of the database,
/// so the same image and database always give the same bytes.
fn scan_documents(node: &str, documents: &[(String, Vec<u8>)], db: &dhib_scan::osv::Database) -> Result<Vec<(String, Vec<u8>)>, String> {
    let doc = |name: &str| documents.iter().find(|(n, _)| n == name).map(|(_, b)| serde_json::from_slice::<serde_json::Value>(b));
    let Some(sbom) = doc("sbom.cdx.intoto.json") else { return Ok(Vec::new()) };
    let sbom = sbom.map_err(|e| e.to_string())?;
    let inventory = dhib_scan::inventory::read(&sbom["predicate"])?;
    let vex = match doc("vex.openvex.json") {
        Some(v) => dhib_scan::vex::statements(&v.map_err(|e| e.to_string())?)?,
        None => Vec::new(),
    };
    let report = dhib_scan::scan(node, &inventory, db, &vex, db.as_of.unwrap_or(0));
    let predicate = report.predicate(env!("CARGO_PKG_VERSION"));
    let subject = &sbom["subject"][0];
    let (name, hex) = (subject["name"].as_str().unwrap_or(node), subject["digest"]["sha256"].as_str().unwrap_or_default());
    let statement = dhib_attest::statement::statement(name, hex, dhib_scan::report::PREDICATE_TYPE, predicate.clone());
    Ok(vec![
        ("scan.vuln.json".into(), serde_json::to_vec_pretty(&predicate).expect("json serializes")),
        ("scan.intoto.json".into(), statement),
    ])
}

/// Where `write_images` puts the documents of the image written at
/// `layout`: `NAME.attestations/` beside it.
pub fn attestations_dir(layout: &Path) -> PathBuf {
    let name = layout.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    layout.with_file_name(format!("{name}.attestations"))
}

/// The `#test-report` nodes of what `requested` names: of each image and
/// customization, and of the image of each test.
pub fn test_reports_of(analyzed: &Analyzed, requested: &NodeSet) -> Vec<NodeIndex> {
    use dhib_graph::{NodeId, NodeKind};
    use dhib_lang::schema::Kind;
    let g = &analyzed.graph;
    let mut out = std::collections::BTreeSet::new();
    for n in requested {
        let id = g.node(*n);
        let image = match g.kind(*n) {
            Some(NodeKind::Target(Kind::Image | Kind::Customization)) if id.facet.is_none() => id.label.clone(),
            Some(NodeKind::Target(Kind::Test)) => {
                let Some(img) = g.dependencies(*n).next() else { continue };
                g.node(img).label.clone()
            }
            Some(NodeKind::Attestation) if id.facet.as_deref() == Some("test-report") => id.label.clone(),
            _ => continue,
        };
        let report = NodeId { label: image, platform: None, facet: Some("test-report".into()) };
        if let Some(i) = g.index.get(&report) {
            out.insert(*i);
        }
    }
    out.into_iter().collect()
}

/// One image's test report as `dhib test` wrote it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TestReportFile {
    pub image: String,
    pub path: PathBuf,
    pub passed: u64,
    pub failed: u64,
    pub skipped: u64,
    /// (status, name, message) of each test and check.
    pub rows: Vec<(String, String, String)>,
}

/// Writes the CTRF report of each built `#test-report` node in `reports`
/// to `out/DIR/NAME.ctrf.json`.
pub fn write_test_reports(store_dir: &Path, out: &Path, analyzed: &Analyzed, reports: &[NodeIndex]) -> Result<Vec<TestReportFile>, Diag> {
    let fail = |e: String| Diag::plain("E0505", format!("cannot write test reports to {}: {e}", out.display()));
    let store = Store::open(store_dir).map_err(|e| fail(e.to_string()))?;
    let mut written = Vec::new();
    for n in reports {
        let id = analyzed.graph.node(*n);
        let Some(result) = analyzed.keys.get(id).and_then(|k| store.ac_get(&k)) else { continue };
        let Some(digest) = result.outputs.get("test-report.ctrf.json") else { continue };
        let bytes = store.get(digest).map_err(|e| fail(e.to_string()))?;
        let report: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| fail(e.to_string()))?;
        let dir = out.join(&id.label.pkg);
        std::fs::create_dir_all(&dir).map_err(|e| fail(e.to_string()))?;
        let path = dir.join(format!("{}.ctrf.json", id.label.name));
        std::fs::write(&path, &bytes).map_err(|e| fail(e.to_string()))?;
        let summary = &report["results"]["summary"];
        let count = |k: &str| summary[k].as_u64().unwrap_or(0);
        let rows = report["results"]["tests"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| {
                let s = |k: &str| t[k].as_str().unwrap_or_default().to_string();
                (s("status"), s("name"), s("message"))
            })
            .collect();
        written.push(TestReportFile {
            image: id.label.to_string(),
            path,
            passed: count("passed"),
            failed: count("failed"),
            skipped: count("skipped"),
            rows,
        });
    }
    Ok(written)
}

/// The layout `dhib build` wrote for `node`, from `out/index.json`.
pub fn written_layout(out: &Path, node: &str) -> Result<PathBuf, Diag> {
    let missing = || {
        Diag::plain("E0514", format!("{node} is not among the images in {}", out.display()))
            .with_help(format!("build it first: dhib build {node}"))
    };
    let index = OutIndex::read(out)?.ok_or_else(missing)?;
    let image = index.images.get(node).ok_or_else(missing)?;
    Ok(out.join(&image.layout))
}
