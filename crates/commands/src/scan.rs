//! `dhib scan` and `dhib compare`: what a target names (an image of this
//! workspace, a layout directory, an SBOM file, or an image in a registry),
//! the SBOM, VEX and provenance it carries, verified, and `dhib-scan` run
//! on them.

use std::path::{Path, PathBuf};

use dhib_attest::statement;
use dhib_core::diag::Diag;
use dhib_oci::describe::Description;
use dhib_scan::compare::{Comparison, Image};
use dhib_scan::inventory::Inventory;
use dhib_scan::osv::Database;
use dhib_scan::vex::Statement;
use dhib_scan::Report;
use serde_json::Value;

use crate::verify::{pull_signed, subject, Subject};
use crate::{keys, Failure, Workspace};

/// Finds the workspace, for the targets that need one (labels, the default key).
pub type FindWorkspace<'a> = &'a dyn Fn() -> Result<Workspace, Failure>;

/// An image (or SBOM) as named on the command line.
pub struct Target {
    /// A label, an OCI layout directory, an SBOM file, or a registry reference.
    pub reference: String,
    /// The public key its attestations are verified with (default: the
    /// workspace's, as `dhib verify` finds it).
    pub key: Option<PathBuf>,
    /// Speak plain http to the reference's registry.
    pub insecure: bool,
    /// Where `dhib build` wrote the workspace's images.
    pub out: Option<PathBuf>,
}

/// What an image says of itself.
pub struct Documents {
    pub inventory: Inventory,
    /// The statements of the image's own VEX document.
    pub vex: Vec<Statement>,
    pub provenance: Option<Value>,
    /// None for an SBOM file.
    pub description: Option<Description>,
}

fn unreadable(what: impl std::fmt::Display) -> Diag {
    Diag::plain("E1002", format!("no SBOM to scan in {what}"))
}

/// The documents of the image `target` names. Attestations attached to a
/// layout must verify with the key and be about the image; an image of the
/// workspace built without a signing key is read from the documents
/// `dhib build` wrote beside it.
pub fn documents(ws: FindWorkspace, target: &Target) -> Result<Documents, Failure> {
    let scratch = tempfile::tempdir().map_err(|e| Diag::plain("E0513", e.to_string()))?;
    let reference = &target.reference;
    let (layout, local) = match subject(reference)? {
        Subject::File(path) => return sbom_file(&path),
        Subject::Label(id) => (dhib_exec::out::written_layout(&ws()?.out_dir(target.out.clone()), &id.to_string())?, true),
        Subject::Layout(dir) => (dir, false),
        Subject::Registry => {
            pull_signed(reference, target.insecure, scratch.path())?;
            (scratch.path().to_path_buf(), false)
        }
    };
    let bad_layout = |e: String| Diag::plain("E1002", format!("{reference}: {e}"));
    let signed = dhib_oci::attach::read(&layout).map_err(bad_layout)?;
    let description = dhib_oci::describe::describe(&layout, signed.image).map_err(bad_layout)?;
    let statements: Vec<(String, Value)> = if signed.attestations.is_empty() && local {
        unsigned_statements(&dhib_exec::out::attestations_dir(&layout))?
    } else {
        let public = match &target.key {
            Some(k) => keys::read_public_key(k)?,
            None => keys::public_key(&ws()?, None)?,
        };
        let hex = signed.image.hex();
        let forged = |e: String| {
            Diag::plain("E1003", format!("{reference}: an attestation does not verify: {e}"))
                .with_help("scan only what its signer vouches for: name the signer's public key with --key FILE")
        };
        let read = |bytes: &Vec<u8>| dhib_exec::verify::signed_statement(bytes, &public, &hex).map_err(forged);
        let statements = signed.attestations.iter().map(read).collect::<Result<Vec<_>, Diag>>()?;
        statements.into_iter().map(|(ty, statement)| (ty, statement["predicate"].clone())).collect()
    };
    let predicate = |ty: &str| statements.iter().find(|(t, _)| t == ty).map(|(_, p)| p.clone());
    let sbom = predicate(statement::CYCLONEDX).or_else(|| predicate(statement::SPDX)).ok_or_else(|| {
        unreadable(reference).with_help("dhib scans an image by its SBOM attestation: build it with dhib, or scan its SBOM file")
    })?;
    let inventory = dhib_scan::inventory::read(&sbom).map_err(|e| unreadable(format!("{reference}: {e}")))?;
    let vex = match predicate(statement::OPENVEX) {
        Some(doc) => dhib_scan::vex::statements(&doc).map_err(|e| Diag::plain("E1004", format!("{reference}: its VEX: {e}")))?,
        None => Vec::new(),
    };
    Ok(Documents { inventory, vex, provenance: predicate(statement::SLSA_PROVENANCE), description: Some(description) })
}

/// The statements `dhib build` wrote beside an image it did not sign.
fn unsigned_statements(dir: &Path) -> Result<Vec<(String, Value)>, Failure> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        unreadable(format!("{}: {e}", dir.display()))
            .with_help("the image was built without its attestations: build its package with them, e.g. dhib build //images/...")
    })?;
    let mut out = Vec::new();
    for path in entries.filter_map(|e| Some(e.ok()?.path())) {
        if path.to_string_lossy().ends_with(".intoto.json") {
            let bytes = std::fs::read(&path).map_err(|e| unreadable(format!("{}: {e}", path.display())))?;
            let (_, ty, predicate) = statement::read(&bytes).map_err(|e| unreadable(format!("{}: {e}", path.display())))?;
            out.push((ty, predicate));
        }
    }
    Ok(out)
}

/// An SBOM document, or an in-toto statement of one.
fn sbom_file(path: &Path) -> Result<Documents, Failure> {
    let bytes = std::fs::read(path).map_err(|e| unreadable(format!("{}: {e}", path.display())))?;
    let doc: Value = serde_json::from_slice(&bytes).map_err(|e| unreadable(format!("{}: not JSON: {e}", path.display())))?;
    let doc = if doc.get("predicate").is_some() { doc["predicate"].clone() } else { doc };
    let inventory = dhib_scan::inventory::read(&doc).map_err(|e| {
        unreadable(format!("{}: {e}", path.display())).with_help("name a CycloneDX or SPDX JSON SBOM, an image's layout, or its label")
    })?;
    Ok(Documents { inventory, vex: Vec::new(), provenance: None, description: None })
}

/// Reads the database at `path` (an OSV `all.zip` or a directory of records).
pub fn database(path: &Path) -> Result<Database, Failure> {
    Ok(Database::open(path).map_err(|e| {
        Diag::plain("E1001", format!("cannot read the vulnerability database {}: {e}", path.display()))
            .with_help("download one per ecosystem from osv.dev, e.g. https://osv-vulnerabilities.storage.googleapis.com/Debian/all.zip")
    })?)
}

/// The statements of the OpenVEX documents at `paths`.
pub fn vex_files(paths: &[PathBuf]) -> Result<Vec<Statement>, Failure> {
    let mut out = Vec::new();
    for path in paths {
        let bad = |e: String| Diag::plain("E1004", format!("cannot read the VEX document {}: {e}", path.display()));
        let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        let doc: Value = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        out.extend(dhib_scan::vex::statements(&doc).map_err(bad)?);
    }
    Ok(out)
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn scan_documents(target: &str, docs: &Documents, db: &Database, extra_vex: &[Statement]) -> Report {
    let statements: Vec<Statement> = docs.vex.iter().chain(extra_vex).cloned().collect();
    dhib_scan::scan(target, &docs.inventory, db, &statements, now())
}

pub struct ScanOptions {
    pub target: Target,
    pub db: PathBuf,
    /// OpenVEX documents applied over the image's own.
    pub vex: Vec<PathBuf>,
}

/// Scans what `opts.target` names against the database.
pub fn scan(ws: FindWorkspace, opts: &ScanOptions) -> Result<Report, Failure> {
    let db = database(&opts.db)?;
    let extra = vex_files(&opts.vex)?;
    let docs = documents(ws, &opts.target)?;
    Ok(scan_documents(&opts.target.reference, &docs, &db, &extra))
}

pub struct CompareOptions {
    pub analyzed: Target,
    pub baseline: Target,
    /// With a database, the vulnerabilities of each and what each package change fixes or brings.
    pub db: Option<PathBuf>,
    pub vex: Vec<PathBuf>,
    /// Keep what did not change.
    pub unchanged: bool,
}

/// `opts.analyzed` against `opts.baseline`.
pub fn compare(ws: FindWorkspace, opts: &CompareOptions) -> Result<Comparison, Failure> {
    let db = opts.db.as_deref().map(database).transpose()?;
    let extra = vex_files(&opts.vex)?;
    let image = |t: &Target| -> Result<Image, Failure> {
        let docs = documents(ws, t)?;
        let Some(d) = &docs.description else {
            return Err(Diag::plain("E1005", format!("{} is an SBOM file, not an image", t.reference))
                .with_help("dhib compare compares images: name each by its label, layout directory or registry reference")
                .into());
        };
        let external = docs.provenance.as_ref().map(|p| &p["buildDefinition"]["externalParameters"]);
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
        Ok(Image {
            target: t.reference.clone(),
            digest: format!("sha256:{}", d.digest.hex()),
            platforms: d.platforms.clone(),
            size: d.size,
            env: d.env.clone(),
            labels: d.labels.clone(),
            source: text(external.map(|e| &e["target"])).or_else(|| d.labels.get("org.opencontainers.image.source").cloned()),
            revision: text(external.map(|e| &e["revision"])).or_else(|| d.labels.get("org.opencontainers.image.revision").cloned()),
            scan: db.as_ref().map(|db| scan_documents(&t.reference, &docs, db, &extra)),
            inventory: docs.inventory,
        })
    };
    let (analyzed, baseline) = (image(&opts.analyzed)?, image(&opts.baseline)?);
    Ok(dhib_scan::compare::compare(&analyzed, &baseline, opts.unchanged))
}
