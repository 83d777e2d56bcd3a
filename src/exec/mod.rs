//! Execution: fetching sources, extracting archives, importing Debian
//! packages, sandboxed build steps and the scheduler. This is where files,
//! processes and the network live; analysis never calls into it.

pub mod archive;
pub mod attest;
pub mod build;
pub mod deb;
pub mod fetch;
pub mod keyfile;
pub mod lock;
pub mod prefetch;
pub mod run;
pub mod sandbox;
pub mod scheduler;
pub mod snapshot;
pub mod test;
pub mod vcs;

use std::path::PathBuf;

use petgraph::stable_graph::NodeIndex;

use crate::analysis::{Analysis, Analyzed};
use crate::graph::query::{self, NodeSet};
use crate::lang::diag::Diag;
use crate::store::Store;

pub use scheduler::{Event, Summary};

pub struct Request {
    pub store: PathBuf,
    pub jobs: usize,
    pub keep_going: bool,
    pub sandbox: sandbox::Mode,
}

/// The nodes named by a pattern or query expression; a diagnostic points
/// into `text`.
pub fn resolve(analysis: &Analysis, analyzed: &Analyzed, text: &str) -> Result<NodeSet, Diag> {
    let q = query::parse(text)?;
    query::eval(&q, &analyzed.graph, analysis)
}

/// Where the workspace's pinned files may come from: `[fetch] mirrors` and
/// the Debian repositories (see [`fetch::Origins::new`]).
pub fn origins(analysis: &Analysis) -> fetch::Origins {
    fetch::Origins::new(&analysis.build.fetch_mirrors, analysis.build.debian_repo.as_deref())
}

/// Builds `requested` and what it depends on, reporting through `on_event`.
pub fn build(
    analysis: &Analysis,
    analyzed: &Analyzed,
    requested: &NodeSet,
    req: &Request,
    on_event: &(dyn Fn(&Event) + Sync),
) -> Result<Summary, Diag> {
    if req.sandbox == sandbox::Mode::Bwrap {
        sandbox::probe().map_err(|e| {
            Diag::plain("E0501", format!("{e}; dhib does not build outside a sandbox")).with_help(
                "install bubblewrap (scripts/setup.sh does), or pass --sandbox=none to debug; results are then marked unsandboxed",
            )
        })?;
    }
    let store = Store::open(&req.store).map_err(|e| Diag::plain("E0502", e.to_string()))?;
    let _shared = store.lock_store(false).map_err(|e| Diag::plain("E0502", e.to_string()))?;
    let root = analysis.root().map(PathBuf::from).unwrap_or_default();
    let local_files = analysis.local_file_digests();
    // What is pulled is pinned by digest, so the transport is no input.
    let insecure_registries: Vec<String> =
        std::env::var("DHIB_INSECURE_REGISTRIES").unwrap_or_default().split(',').filter(|h| !h.is_empty()).map(str::to_string).collect();
    let cx = build::Context {
        store: &store,
        root: &root,
        local_files: &local_files,
        insecure_registries: &insecure_registries,
        sandbox: req.sandbox,
        source_date_epoch: analysis.build.source_date_epoch,
        jobs: req.jobs,
        origins: &origins(analysis),
    };
    let opts = scheduler::Options { jobs: req.jobs, keep_going: req.keep_going };
    Ok(scheduler::execute(&cx, &analyzed.graph, analysis, &analyzed.keys, requested, &opts, on_event))
}

/// Writes the OCI layout of every image in `summary` (built or cached) under
/// `out`, one directory per label (`out/DIR/NAME`), and `out/index.json`
/// naming them all. Each layout is written beside its final place and renamed
/// in, so a reader never sees half an image.
///
/// The documents of the image's attestations that `summary` holds go to
/// `out/DIR/NAME.attestations/`; with a `signer`, each statement is signed
/// into a DSSE envelope, the image gets a cosign signature, and both are
/// attached to the layout (see [`crate::oci::attach`]).
pub fn write_images(
    store_dir: &std::path::Path,
    out: &std::path::Path,
    summary: &Summary,
    signer: Option<&crate::attest::keys::SigningKey>,
    source_date_epoch: u64,
) -> Result<Written, Diag> {
    let fail = |e: String| Diag::plain("E0505", format!("cannot write images to {}: {e}", out.display()));
    let store = Store::open(store_dir).map_err(|e| fail(e.to_string()))?;
    let mut written = Written::default();
    let mut index = serde_json::Map::new();
    let done: std::collections::HashSet<&String> = summary.built.iter().chain(&summary.cached).collect();
    // Two builds writing one directory take turns; each writes under names
    // of its own and renames into place.
    std::fs::create_dir_all(out).map_err(|e| fail(e.to_string()))?;
    let _turn = crate::store::lock_file(&out.join(".dhib-out.lock"), true, &format!("another dhib is writing {}", out.display()))
        .map_err(|e| fail(e.to_string()))?;
    let mine = |path: &std::path::Path| {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
    };
    for node in summary.built.iter().chain(&summary.cached) {
        let Ok(id) = crate::graph::NodeId::parse(node) else { continue };
        let Some(key) = summary.keys.get(node) else { continue };
        let Some(result) = store.ac_get(key) else { continue };
        let (Some(layout), Some(manifest)) = (result.outputs.get("oci"), result.metadata.get("manifest")) else { continue };
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
        let envelopes = write_attestations(&store, summary, node, &docs_tmp, signer).map_err(fail)?;
        if let Some(key) = signer {
            let payload = crate::attest::cosign::simple_signing_payload(&id.label.pkg, &format!("sha256:{manifest}"));
            use base64::Engine;
            let signature = crate::oci::attach::Signature {
                signature_b64: base64::engine::general_purpose::STANDARD.encode(key.sign(&payload)),
                payload,
            };
            crate::oci::attach::attach(&tmp, "latest", &signature, &envelopes, &crate::oci::rfc3339(source_date_epoch))
                .map_err(|e| fail(e.to_string()))?;
        }
        for (from, to) in [(&tmp, &dest), (&docs_tmp, &docs)] {
            let _ = std::fs::remove_dir_all(to);
            if from.exists() {
                std::fs::rename(from, to).map_err(|e| fail(e.to_string()))?;
                written.paths.push(to.clone());
            }
        }
        index.insert(node.clone(), serde_json::json!({"layout": rel, "manifest": format!("sha256:{manifest}")}));
        written.images.push((node.clone(), dest));
    }
    if !written.images.is_empty() {
        let text = serde_json::to_string_pretty(&serde_json::json!({ "images": index })).expect("json serializes");
        let path = out.join("index.json");
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
/// `dir` (replacing it), and with a signer each statement as a DSSE
/// envelope, which it returns.
fn write_attestations(
    store: &Store,
    summary: &Summary,
    node: &str,
    dir: &std::path::Path,
    signer: Option<&crate::attest::keys::SigningKey>,
) -> Result<Vec<crate::oci::attach::Attestation>, String> {
    let _ = std::fs::remove_dir_all(dir);
    let mut envelopes = Vec::new();
    for facet in crate::graph::ATTESTATIONS {
        let Some(result) = summary.keys.get(&format!("{node}#{facet}")).and_then(|k| store.ac_get(k)) else { continue };
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        for (name, digest) in &result.outputs {
            let bytes = store.get(digest).map_err(|e| e.to_string())?;
            std::fs::write(dir.join(name), &bytes).map_err(|e| e.to_string())?;
            let (Some(key), Some(stem)) = (signer, name.strip_suffix(".intoto.json")) else { continue };
            let (_, predicate_type, _) = crate::attest::statement::read(&bytes)?;
            let envelope = crate::attest::dsse::Envelope::sign(crate::attest::dsse::IN_TOTO_PAYLOAD, &bytes, key);
            let json = envelope.to_json();
            std::fs::write(dir.join(format!("{stem}.dsse.json")), &json).map_err(|e| e.to_string())?;
            envelopes.push(crate::oci::attach::Attestation { envelope: json, predicate_type });
        }
    }
    Ok(envelopes)
}

/// Builds the one image (or customization) `text` names, for `dhib run`;
/// returns the store holding it and its manifest digest.
pub fn build_one_image(
    analysis: &Analysis,
    analyzed: &Analyzed,
    text: &str,
    req: &Request,
    on_event: &(dyn Fn(&Event) + Sync),
) -> Result<(Store, crate::store::Digest), Diag> {
    use crate::graph::NodeKind;
    use crate::lang::schema::Kind;
    let set = resolve(analysis, analyzed, text)?;
    let is_image = |n: &NodeIndex| matches!(analyzed.graph.kind(*n), Some(NodeKind::Target(Kind::Image | Kind::Customization)));
    let mut images: Vec<NodeIndex> = set.iter().copied().filter(is_image).collect();
    // A multi-platform image stands for its per-platform images.
    let platforms: Vec<NodeIndex> = images
        .iter()
        .flat_map(|n| analyzed.graph.dependencies(*n).filter(|d| analyzed.graph.node(*d).label == analyzed.graph.node(*n).label))
        .collect();
    if !platforms.is_empty() {
        images.retain(|n| analyzed.graph.node(*n).platform.is_some());
        images.extend(platforms);
        images.sort();
        images.dedup();
    }
    // A multi-platform image runs as this machine's platform.
    let host = format!("linux/{}", run::host_arch());
    let same_image = images.windows(2).all(|w| analyzed.graph.node(w[0]).label == analyzed.graph.node(w[1]).label);
    let chosen = images.iter().copied().find(|n| analyzed.graph.node(*n).platform.as_deref() == Some(host.as_str()));
    let node = match (&images[..], chosen) {
        ([one], _) => *one,
        ([_, ..], Some(native)) if same_image => native,
        _ => {
            let names: Vec<String> = images.iter().take(5).map(|n| analyzed.graph.node(*n).to_string()).collect();
            let d = Diag::plain("E0506", format!("`{text}` names {} images; dhib run runs one", images.len()));
            return Err(if names.is_empty() {
                d.with_help("name an image or a customization, e.g. dhib run //images/lua:lua")
            } else {
                d.with_help(format!("for example: {}", names.join(", ")))
            });
        }
    };
    let summary = build(analysis, analyzed, &NodeSet::from([node]), req, on_event)?;
    let id = analyzed.graph.node(node);
    let store = Store::open(&req.store).map_err(|e| Diag::plain("E0502", e.to_string()))?;
    let manifest = analyzed
        .keys
        .get(id)
        .and_then(|key| store.ac_get(&key))
        .and_then(|r| r.metadata.get("manifest").and_then(|m| crate::store::Digest::parse(m)))
        .filter(|_| summary.ok())
        .ok_or_else(|| Diag::plain("E0507", format!("`{id}` did not build, so there is nothing to run")))?;
    Ok((store, manifest))
}

/// What the graph says the image `node` must carry: the resolved
/// dependencies its provenance names (name → sha256) and the predicate type
/// of every attestation its nodes made, from the results in the store;
/// `None` when something it depends on was never built into this store.
pub fn expected(
    analysis: &Analysis,
    analyzed: &Analyzed,
    store: &Store,
    node: &crate::graph::NodeId,
) -> Option<crate::attest::verify::Expected> {
    use crate::graph::query::Targets;
    let index = *analyzed.graph.index.get(node)?;
    let mut out = crate::attest::verify::Expected::default();
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
    for facet in crate::graph::ATTESTATIONS {
        let id = crate::graph::NodeId { facet: Some(facet.to_string()), ..node.clone() };
        let Some(result) = analyzed.keys.get(&id).and_then(|k| store.ac_get(&k)) else { continue };
        for (_, digest) in result.outputs.iter().filter(|(name, _)| name.ends_with(".intoto.json")) {
            let bytes = store.get(digest).ok()?;
            let (_, ty, _) = crate::attest::statement::read(&bytes).ok()?;
            out.predicate_types.insert(ty);
        }
    }
    Some(out)
}

/// Where `write_images` puts the documents of the image written at
/// `layout`: `NAME.attestations/` beside it.
pub fn attestations_dir(layout: &std::path::Path) -> PathBuf {
    let name = layout.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    layout.with_file_name(format!("{name}.attestations"))
}

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
        if a.metadata.get("manifest") != b.metadata.get("manifest") {
            outputs.insert("manifest".into(), (a.metadata.get("manifest").cloned(), b.metadata.get("manifest").cloned()));
        }
        if !outputs.is_empty() {
            differences.push(Difference { node: node.clone(), outputs });
        }
    }
    Ok(differences)
}

/// The `#test-report` nodes of what `requested` names: of each image and
/// customization, and of the image of each test.
pub fn test_reports_of(analyzed: &Analyzed, requested: &NodeSet) -> Vec<NodeIndex> {
    use crate::graph::{NodeId, NodeKind};
    use crate::lang::schema::Kind;
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
pub fn write_test_reports(
    store_dir: &std::path::Path,
    out: &std::path::Path,
    analyzed: &Analyzed,
    reports: &[NodeIndex],
) -> Result<Vec<TestReportFile>, Diag> {
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
pub fn written_layout(out: &std::path::Path, node: &str) -> Result<PathBuf, Diag> {
    let index_path = out.join("index.json");
    let missing = || {
        Diag::plain("E0514", format!("{node} is not among the images in {}", out.display()))
            .with_help(format!("build it first: dhib build {node}"))
    };
    let text = std::fs::read_to_string(&index_path).map_err(|_| missing())?;
    let index: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| Diag::plain("E0703", format!("{}: {e}", index_path.display())))?;
    let rel = index["images"][node]["layout"].as_str().ok_or_else(missing)?;
    Ok(out.join(rel))
}
