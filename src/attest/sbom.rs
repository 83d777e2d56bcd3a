//! SBOMs of an image: SPDX 2.3 and CycloneDX 1.6 JSON, the purls in them,
//! the completeness check of an image's files against its packages, and the
//! summaries `dhib verify` reads back. No I/O: the build's attestation step
//! gathers the facts into [`Contents`].
//!
//! Both documents are byte-for-byte reproducible: their times come from
//! `SOURCE_DATE_EPOCH`, their identifiers (SPDX IDs, the SPDX namespace, the
//! CycloneDX serial number) are derived from the content, and every list is
//! sorted.
//!
//! Choices the standards leave open:
//! - Licenses are *declared* (from the package's metadata); dhib concludes
//!   nothing, so SPDX `licenseConcluded` is `NOASSERTION`. A license that is
//!   not a valid SPDX expression becomes a `LicenseRef-…` whose extracted
//!   text is the declared text (SPDX) or a license `name` (CycloneDX).
//! - A package built from source refers to its source archive: in SPDX as a
//!   package of purpose `SOURCE` it is `GENERATED_FROM`; in CycloneDX as
//!   its `pedigree.ancestors`. Neither counts as content of the image, so
//!   the summaries leave them out, as they leave out the image itself.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// Everything an image's SBOM says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contents {
    pub subject: Subject,
    pub packages: Vec<Package>,
    /// SOURCE_DATE_EPOCH: the documents' creation time, so they are reproducible.
    pub created: u64,
    /// The generating tool, name and version separated by a space: "dhib 0.1.0".
    pub tool: String,
}

/// The image the SBOM describes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subject {
    /// The image's node: "//examples/images/lua:lua".
    pub label: String,
    pub name: String,
    /// "sha256:<hex>" of the image manifest (or index).
    pub manifest_digest: String,
    /// "linux/amd64"…
    pub platforms: Vec<String>,
    pub version: Option<String>,
}

/// One package of the image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Package {
    /// The dhib node, unique within the document: "//examples/debian:libc6".
    pub label: String,
    pub name: String,
    pub version: String,
    /// "Debian", a maintainer, or the `supplier` attribute.
    pub supplier: Option<String>,
    /// An SPDX expression or free text.
    pub license: Option<String>,
    pub description: Option<String>,
    pub homepage: Option<String>,
    pub origin: Origin,
    /// The package's regular files in the image.
    pub files: Vec<File>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A Debian binary package.
    Deb {
        arch: String,
        /// The source package's name.
        source: Option<String>,
        /// "debian-12".
        distro: String,
        download_url: String,
        /// Of the .deb.
        sha256: String,
    },
    /// Built from source by dhib.
    Built { source: Option<Source> },
    /// Layers of an OCI image laid over the image (`layers_from`).
    Oci {
        /// "docker.io/library/debian:12" or "…@sha256:…".
        reference: String,
        /// "sha256:<hex>" of the image's manifest.
        digest: String,
    },
    /// Files the image definition itself adds (passwd, CA bundle, `files`/`add`).
    Image,
}

/// The pinned source a package was built from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// Its dhib node: "//examples/sources:lua-src".
    pub label: String,
    pub url: String,
    /// Of the archive.
    pub sha256: String,
    pub version: Option<String>,
}

/// A regular file of a package, as it is in the image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct File {
    /// Absolute: "/usr/bin/lua".
    pub path: String,
    pub sha256: String,
    pub sha1: String,
    pub size: u64,
}

/// A package as an SBOM states it, read back from the document.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SbomPackage {
    pub name: String,
    pub version: String,
    pub purl: Option<String>,
    /// (absolute path, sha256), sorted.
    pub files: Vec<(String, String)>,
}

// ---------------------------------------------------------------- purls

/// The package URL of a package of the image. The files the image itself
/// adds ([`Origin::Image`]) have the image's purl, which needs the
/// [`Subject`]: the documents use [`image_purl`]; here they are `pkg:oci/NAME`.
pub fn purl(p: &Package) -> String {
    purl_in(p, None)
}

/// The package URL of the image itself: `pkg:oci/NAME@sha256%3A<hex>`.
pub fn image_purl(s: &Subject) -> String {
    format!("pkg:oci/{}@{}", pct(&s.name.to_lowercase(), b""), pct(&s.manifest_digest, b""))
}

fn purl_in(p: &Package, subject: Option<&Subject>) -> String {
    match &p.origin {
        Origin::Deb { arch, source: _, distro, .. } => {
            // The namespace is the vendor: "debian" of "debian-12".
            let vendor = distro.split('-').next().filter(|v| !v.is_empty()).unwrap_or("debian");
            // No `upstream` qualifier: a deb's purl must be derivable from
            // its pin alone (VEX documents name components without their
            // .deb), and the source package is in the SBOM's own fields.
            let qualifiers = vec![("arch", arch.as_str()), ("distro", distro.as_str())];
            format!("pkg:deb/{}/{}{}{}", pct(vendor, b""), pct(&p.name, b""), at_version(&p.version), query(&qualifiers))
        }
        Origin::Built { source } => {
            let base = format!("pkg:generic/{}{}", pct(&p.name, b""), at_version(&p.version));
            match source {
                Some(s) => format!("{base}{}", source_qualifiers(s)),
                None => base,
            }
        }
        Origin::Oci { reference, digest } => {
            let (repository, tag) = split_reference(reference);
            let name = repository.rsplit('/').next().filter(|n| !n.is_empty()).unwrap_or(&p.name).to_lowercase();
            let mut qualifiers = vec![("repository_url", repository)];
            if let Some(tag) = tag {
                qualifiers.push(("tag", tag));
            }
            format!("pkg:oci/{}@{}{}", pct(&name, b""), pct(digest, b""), query(&qualifiers))
        }
        Origin::Image => match subject {
            Some(s) => image_purl(s),
            // Without the image at hand the package is only known by name.
            None => format!("pkg:oci/{}", pct(&p.name.to_lowercase(), b"")),
        },
    }
}

fn source_purl(s: &Source) -> String {
    let version = s.version.as_deref().map(at_version).unwrap_or_default();
    format!("pkg:generic/{}{version}{}", pct(label_name(&s.label), b""), source_qualifiers(s))
}

fn source_qualifiers(s: &Source) -> String {
    let checksum = format!("sha256:{}", bare_sha256(&s.sha256).unwrap_or(&s.sha256));
    query(&[("checksum", &checksum), ("download_url", &s.url)])
}

fn at_version(version: &str) -> String {
    if version.is_empty() {
        String::new()
    } else {
        format!("@{}", pct(version, b""))
    }
}

/// `?k=v&…` with the keys in the canonical (sorted) order; values keep `:`
/// and `/` readable as the purl spec's examples do.
fn query(qualifiers: &[(&str, &str)]) -> String {
    let mut sorted: Vec<_> = qualifiers.iter().filter(|(_, v)| !v.is_empty()).collect();
    sorted.sort();
    let parts: Vec<String> = sorted.iter().map(|(k, v)| format!("{k}={}", pct(v, b":/"))).collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// Percent-encodes everything but the unreserved characters and `keep`.
fn pct(s: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || keep.contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// "docker.io/library/debian:12@sha256:…" → ("docker.io/library/debian", Some("12")).
fn split_reference(reference: &str) -> (&str, Option<&str>) {
    let without_digest = reference.split('@').next().unwrap_or(reference);
    let last_slash = without_digest.rfind('/').map_or(0, |i| i + 1);
    match without_digest[last_slash..].rfind(':') {
        Some(i) => (&without_digest[..last_slash + i], Some(&without_digest[last_slash + i + 1..])),
        None => (without_digest, None),
    }
}

/// The name part of a label: "lua-src" of "//examples/sources:lua-src".
fn label_name(label: &str) -> &str {
    label.rsplit([':', '/']).next().filter(|n| !n.is_empty()).unwrap_or(label)
}

// ---------------------------------------------------------------- shared helpers

/// The hex of a sha256 given as "sha256:<hex>" or "<hex>", if it is one.
fn bare_sha256(digest: &str) -> Option<&str> {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn absolute(path: &str) -> String {
    format!("/{}", path.trim_start_matches("./").trim_start_matches('/'))
}

/// URLs the SPDX tools accept as a download location or homepage (a host
/// name with a dot, one of the usual schemes); anything else, such as a
/// `file://` path on the build machine, is better stated as NOASSERTION.
fn is_public_url(url: &str) -> bool {
    let url = ["git+", "hg+", "svn+", "bzr+"].iter().find_map(|p| url.strip_prefix(p)).unwrap_or(url);
    let Some((scheme, rest)) = url.split_once("://") else {
        return false;
    };
    let host = rest.split(['/', ':', '?', '#']).next().unwrap_or("");
    let host = host.rsplit('@').next().unwrap_or(host);
    ["http", "https", "ftp", "sftp", "git", "ssh", "svn"].contains(&scheme.to_ascii_lowercase().as_str())
        && host.contains('.')
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && !url.chars().any(char::is_whitespace)
}

fn to_bytes(doc: &Value) -> Vec<u8> {
    // serde_json's map is a BTreeMap (no `preserve_order`): keys come out sorted.
    let mut bytes = serde_json::to_vec_pretty(doc).expect("a JSON value always serializes");
    bytes.push(b'\n');
    bytes
}

/// The tool as name and version: "dhib 0.1.0" → ("dhib", Some("0.1.0")).
fn tool_parts(tool: &str) -> (&str, Option<&str>) {
    match tool.trim().split_once(char::is_whitespace) {
        Some((name, version)) => (name, Some(version.trim())),
        None => (tool.trim(), None),
    }
}

// ---------------------------------------------------------------- licenses

#[derive(Debug, PartialEq, Eq)]
enum License {
    /// A valid SPDX expression, and the `LicenseRef-…` ids it uses.
    Expression(String, Vec<String>),
    /// Anything else, as declared.
    Text(String),
}

fn classify_license(text: &str) -> License {
    let text = text.trim();
    // Deprecated ids (`GPL-2.0+`) are still valid SPDX 2.3 expressions.
    let mode = spdx::ParseMode { allow_deprecated: true, allow_postfix_plus_on_gpl: true, ..spdx::ParseMode::STRICT };
    let Ok(expression) = spdx::Expression::parse_mode(text, mode) else {
        return License::Text(text.to_string());
    };
    let mut refs = Vec::new();
    for req in expression.requirements() {
        if let spdx::LicenseItem::Other(other) = &req.req.license {
            // A reference into another document cannot be resolved here.
            if other.doc_ref.is_some() {
                return License::Text(text.to_string());
            }
            refs.push(format!("LicenseRef-{}", other.lic_ref));
        }
    }
    refs.sort();
    refs.dedup();
    License::Expression(text.to_string(), refs)
}

/// The id a free-text license gets in SPDX: readable, and unique per text.
fn license_ref_for_text(text: &str) -> String {
    let readable: String = sanitize(text).chars().take(40).collect();
    let readable = readable.trim_end_matches('-');
    format!("LicenseRef-{}{}{}", readable, if readable.is_empty() { "" } else { "-" }, &sha256_hex(text.as_bytes())[..8])
}

// ---------------------------------------------------------------- SPDX

/// The characters an SPDX ID may hold (`[A-Za-z0-9.-]`): others become `-`,
/// runs of `-` collapse and none lead or trail.
fn sanitize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '.' { c } else { '-' };
        if !(c == '-' && (out.is_empty() || out.ends_with('-'))) {
            out.push(c);
        }
    }
    out.trim_end_matches('-').to_string()
}

/// `SPDXRef-<kind>-<readable key>-<8 hex of the key>`: the readable part
/// loses characters, the hash keeps distinct keys distinct.
fn spdx_id(kind: &str, key: &str) -> String {
    let readable = sanitize(key);
    let sep = if readable.is_empty() { "" } else { "-" };
    format!("SPDXRef-{kind}-{readable}{sep}{}", &sha256_hex(key.as_bytes())[..8])
}

fn spdx_file_id(label: &str, path: &str) -> String {
    let readable = sanitize(path);
    let sep = if readable.is_empty() { "" } else { "-" };
    format!("SPDXRef-File-{readable}{sep}{}", &sha256_hex(format!("{label}\0{path}").as_bytes())[..8])
}

fn spdx_supplier(supplier: Option<&str>) -> String {
    match supplier.map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => format!("Organization: {}", s.replace('\n', " ")),
        None => "NOASSERTION".into(),
    }
}

fn spdx_purl_ref(purl: &str) -> Value {
    json!([{ "referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": purl }])
}

fn spdx_sha256(hex: &str) -> Value {
    json!([{ "algorithm": "SHA256", "checksumValue": hex.to_lowercase() }])
}

/// SPDX 2.3's package verification code: the SHA1 of the sorted SHA1s.
fn verification_code(files: &[File]) -> String {
    let mut sums: Vec<String> = files.iter().map(|f| f.sha1.to_lowercase()).collect();
    sums.sort();
    hex(&Sha1::digest(sums.concat().as_bytes()))
}

/// The SPDX 2.3 JSON document of the image.
pub fn spdx(c: &Contents) -> Vec<u8> {
    let s = &c.subject;
    let image_id = spdx_id("Image", &s.label);
    let mut packages = Vec::new();
    let mut files = Vec::new();
    let mut relationships: BTreeSet<(String, &str, String)> = BTreeSet::new();
    let mut extracted: BTreeMap<String, Value> = BTreeMap::new();
    let mut sources: BTreeMap<String, Value> = BTreeMap::new();

    let mut image = Map::new();
    image.insert("SPDXID".into(), json!(image_id));
    image.insert("name".into(), json!(s.name));
    if let Some(v) = &s.version {
        image.insert("versionInfo".into(), json!(v));
    }
    image.insert("supplier".into(), json!("NOASSERTION"));
    image.insert("downloadLocation".into(), json!("NOASSERTION"));
    image.insert("filesAnalyzed".into(), json!(false));
    image.insert("primaryPackagePurpose".into(), json!("CONTAINER"));
    image.insert("externalRefs".into(), spdx_purl_ref(&image_purl(s)));
    if let Some(hex) = bare_sha256(&s.manifest_digest) {
        image.insert("checksums".into(), spdx_sha256(hex));
    }
    if !s.platforms.is_empty() {
        image.insert("comment".into(), json!(format!("dhib image {}; platforms: {}", s.label, s.platforms.join(", "))));
    }
    packages.push(Value::Object(image));
    relationships.insert(("SPDXRef-DOCUMENT".into(), "DESCRIBES", image_id.clone()));

    for p in &c.packages {
        let id = spdx_id("Package", &p.label);
        relationships.insert((image_id.clone(), "CONTAINS", id.clone()));
        let mut pkg = Map::new();
        pkg.insert("SPDXID".into(), json!(id));
        pkg.insert("name".into(), json!(p.name));
        if !p.version.is_empty() {
            pkg.insert("versionInfo".into(), json!(p.version));
        }
        pkg.insert("supplier".into(), json!(spdx_supplier(p.supplier.as_deref())));
        if let Some(d) = &p.description {
            pkg.insert("description".into(), json!(d));
        }
        if let Some(h) = p.homepage.as_deref().filter(|h| is_public_url(h)) {
            pkg.insert("homepage".into(), json!(h));
        }
        let declared = match p.license.as_deref().map(str::trim).filter(|l| !l.is_empty()) {
            None => "NOASSERTION".to_string(),
            Some(text) => match classify_license(text) {
                License::Expression(expression, refs) => {
                    for r in refs {
                        let name = r.trim_start_matches("LicenseRef-").to_string();
                        let text = format!("The license named \"{name}\" in the package's copyright information.");
                        extracted.entry(r.clone()).or_insert_with(|| json!({ "licenseId": r, "name": name, "extractedText": text }));
                    }
                    expression
                }
                License::Text(text) => {
                    let r = license_ref_for_text(&text);
                    extracted.entry(r.clone()).or_insert_with(|| json!({ "licenseId": r, "name": text, "extractedText": text }));
                    r
                }
            },
        };
        pkg.insert("licenseDeclared".into(), json!(declared));
        pkg.insert("licenseConcluded".into(), json!("NOASSERTION"));
        pkg.insert("externalRefs".into(), spdx_purl_ref(&purl_in(p, Some(s))));
        let mut location = "NOASSERTION".to_string();
        match &p.origin {
            Origin::Deb { download_url, sha256, .. } => {
                if is_public_url(download_url) {
                    location = download_url.clone();
                }
                if let Some(hex) = bare_sha256(sha256) {
                    pkg.insert("checksums".into(), spdx_sha256(hex));
                }
            }
            Origin::Built { source: Some(src) } => {
                let source_id = spdx_id("Source", &src.label);
                relationships.insert((id.clone(), "GENERATED_FROM", source_id.clone()));
                sources.entry(source_id.clone()).or_insert_with(|| spdx_source(&source_id, src));
            }
            Origin::Built { source: None } | Origin::Image => {}
            Origin::Oci { digest, .. } => {
                pkg.insert("primaryPackagePurpose".into(), json!("CONTAINER"));
                if let Some(hex) = bare_sha256(digest) {
                    pkg.insert("checksums".into(), spdx_sha256(hex));
                }
            }
        }
        pkg.insert("downloadLocation".into(), json!(location));
        pkg.insert("filesAnalyzed".into(), json!(!p.files.is_empty()));
        if !p.files.is_empty() {
            pkg.insert("packageVerificationCode".into(), json!({ "packageVerificationCodeValue": verification_code(&p.files) }));
            let mut ids = Vec::new();
            for f in &p.files {
                let file_id = spdx_file_id(&p.label, &f.path);
                files.push(json!({
                    "SPDXID": file_id,
                    "fileName": format!(".{}", absolute(&f.path)),
                    "checksums": [
                        { "algorithm": "SHA1", "checksumValue": f.sha1.to_lowercase() },
                        { "algorithm": "SHA256", "checksumValue": f.sha256.to_lowercase() },
                    ],
                }));
                ids.push(file_id);
            }
            ids.sort();
            ids.dedup();
            pkg.insert("hasFiles".into(), json!(ids));
        }
        packages.push(Value::Object(pkg));
    }
    packages.extend(sources.into_values());
    packages.sort_by(|a, b| a["SPDXID"].as_str().cmp(&b["SPDXID"].as_str()));
    packages.dedup_by(|a, b| a["SPDXID"] == b["SPDXID"]);
    files.sort_by(|a, b| a["SPDXID"].as_str().cmp(&b["SPDXID"].as_str()));
    files.dedup_by(|a, b| a["SPDXID"] == b["SPDXID"]);
    let relationships: Vec<Value> = relationships
        .into_iter()
        .map(|(from, kind, to)| json!({ "spdxElementId": from, "relationshipType": kind, "relatedSpdxElement": to }))
        .collect();

    let (tool, version) = tool_parts(&c.tool);
    let creator = match version {
        Some(v) => format!("Tool: {tool}-{v}"),
        None => format!("Tool: {tool}"),
    };
    let mut doc = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("{}@{}", s.label, s.manifest_digest),
        "creationInfo": { "created": crate::oci::rfc3339(c.created), "creators": [creator] },
        "packages": packages,
        "relationships": relationships,
    });
    if !files.is_empty() {
        doc["files"] = json!(files);
    }
    if !extracted.is_empty() {
        doc["hasExtractedLicensingInfos"] = json!(extracted.into_values().collect::<Vec<_>>());
    }
    // Unique per document, and still reproducible: the image's digest, and a
    // hash of everything else the document says.
    let body = sha256_hex(&to_bytes(&doc));
    let digest_hex = s.manifest_digest.rsplit(':').next().unwrap_or_default();
    doc["documentNamespace"] = json!(format!("https://dhib.dev/spdx/{}-{}/{}", pct(&s.name, b""), pct(digest_hex, b""), &body[..16]));
    to_bytes(&doc)
}

fn spdx_source(id: &str, src: &Source) -> Value {
    let mut pkg = Map::new();
    pkg.insert("SPDXID".into(), json!(id));
    pkg.insert("name".into(), json!(label_name(&src.label)));
    if let Some(v) = &src.version {
        pkg.insert("versionInfo".into(), json!(v));
    }
    let location = if is_public_url(&src.url) { src.url.as_str() } else { "NOASSERTION" };
    pkg.insert("downloadLocation".into(), json!(location));
    pkg.insert("filesAnalyzed".into(), json!(false));
    pkg.insert("primaryPackagePurpose".into(), json!("SOURCE"));
    pkg.insert("externalRefs".into(), spdx_purl_ref(&source_purl(src)));
    if let Some(hex) = bare_sha256(&src.sha256) {
        pkg.insert("checksums".into(), spdx_sha256(hex));
    }
    pkg.insert("comment".into(), json!(format!("dhib source {}", src.label)));
    Value::Object(pkg)
}

// ---------------------------------------------------------------- CycloneDX

fn cdx_hashes(sha256: Option<&str>) -> Option<Value> {
    sha256.and_then(bare_sha256).map(|hex| json!([{ "alg": "SHA-256", "content": hex.to_lowercase() }]))
}

fn cdx_licenses(text: &str) -> Value {
    match classify_license(text) {
        License::Expression(expression, _) => json!([{ "expression": expression }]),
        License::Text(text) => json!([{ "license": { "name": text } }]),
    }
}

/// A UUID of version 5 (SHA-1, RFC 9562) in the URL namespace.
fn uuid_v5(name: &[u8]) -> String {
    const URL_NAMESPACE: [u8; 16] = [0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8];
    let mut hasher = Sha1::new();
    hasher.update(URL_NAMESPACE);
    hasher.update(name);
    let mut b: [u8; 16] = hasher.finalize()[..16].try_into().expect("SHA-1 has 20 bytes");
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

/// The CycloneDX 1.6 JSON document of the image.
pub fn cyclonedx(c: &Contents) -> Vec<u8> {
    let s = &c.subject;
    let image_ref = image_purl(s);
    let mut image = Map::new();
    image.insert("type".into(), json!("container"));
    image.insert("bom-ref".into(), json!(image_ref));
    image.insert("name".into(), json!(s.name));
    if let Some(v) = &s.version {
        image.insert("version".into(), json!(v));
    }
    image.insert("purl".into(), json!(image_ref));
    if let Some(h) = cdx_hashes(Some(&s.manifest_digest)) {
        image.insert("hashes".into(), h);
    }
    let mut properties = vec![json!({ "name": "dhib:label", "value": s.label })];
    let mut platforms = s.platforms.clone();
    platforms.sort();
    properties.extend(platforms.iter().map(|p| json!({ "name": "dhib:platform", "value": p })));
    image.insert("properties".into(), json!(properties));

    let mut components: Vec<Value> = c.packages.iter().map(|p| cdx_component(p, s)).collect();
    components.sort_by(|a, b| a["bom-ref"].as_str().cmp(&b["bom-ref"].as_str()));
    components.dedup_by(|a, b| a["bom-ref"] == b["bom-ref"]);
    let refs: Vec<Value> = components.iter().map(|c| c["bom-ref"].clone()).collect();

    let (tool, version) = tool_parts(&c.tool);
    let mut tool = json!({ "type": "application", "name": tool });
    if let Some(v) = version {
        tool["version"] = json!(v);
    }
    let mut doc = json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "version": 1,
        "metadata": {
            "timestamp": crate::oci::rfc3339(c.created),
            "tools": { "components": [tool] },
            "component": image,
        },
        "components": components,
        "dependencies": [{ "ref": image_ref, "dependsOn": refs }],
    });
    // Derived from everything else the BOM says, so the same BOM always has
    // the same serial number and a different one never does.
    doc["serialNumber"] = json!(format!("urn:uuid:{}", uuid_v5(&to_bytes(&doc))));
    to_bytes(&doc)
}

fn cdx_component(p: &Package, s: &Subject) -> Value {
    let kind = match p.origin {
        Origin::Deb { .. } => "library",
        Origin::Built { .. } => "application",
        Origin::Oci { .. } => "container",
        Origin::Image => "data",
    };
    let mut comp = Map::new();
    comp.insert("type".into(), json!(kind));
    comp.insert("bom-ref".into(), json!(p.label));
    comp.insert("name".into(), json!(p.name));
    if !p.version.is_empty() {
        comp.insert("version".into(), json!(p.version));
    }
    if let Some(supplier) = p.supplier.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        comp.insert("supplier".into(), json!({ "name": supplier }));
    }
    if let Some(d) = &p.description {
        comp.insert("description".into(), json!(d));
    }
    if let Some(l) = p.license.as_deref().map(str::trim).filter(|l| !l.is_empty()) {
        comp.insert("licenses".into(), cdx_licenses(l));
    }
    comp.insert("purl".into(), json!(purl_in(p, Some(s))));
    let mut references = Vec::new();
    if let Some(h) = &p.homepage {
        references.push(json!({ "type": "website", "url": h }));
    }
    match &p.origin {
        Origin::Deb { download_url, sha256, .. } => {
            references.push(json!({ "type": "distribution", "url": download_url }));
            if let Some(h) = cdx_hashes(Some(sha256)) {
                comp.insert("hashes".into(), h);
            }
        }
        Origin::Built { source: Some(src) } => {
            let mut ancestor = json!({
                "type": kind,
                "name": label_name(&src.label),
                "purl": source_purl(src),
                "externalReferences": [{ "type": "source-distribution", "url": src.url }],
                "properties": [{ "name": "dhib:label", "value": src.label }],
            });
            if let Some(v) = &src.version {
                ancestor["version"] = json!(v);
            }
            if let Some(h) = cdx_hashes(Some(&src.sha256)) {
                ancestor["hashes"] = h;
            }
            comp.insert("pedigree".into(), json!({ "ancestors": [ancestor] }));
        }
        Origin::Built { source: None } | Origin::Image => {}
        Origin::Oci { digest, .. } => {
            if let Some(h) = cdx_hashes(Some(digest)) {
                comp.insert("hashes".into(), h);
            }
        }
    }
    if !references.is_empty() {
        comp.insert("externalReferences".into(), json!(references));
    }
    comp.insert("properties".into(), json!([{ "name": "dhib:label", "value": p.label }]));
    if !p.files.is_empty() {
        let mut files: Vec<Value> = p
            .files
            .iter()
            .map(|f| {
                let path = absolute(&f.path);
                json!({
                    "type": "file",
                    "bom-ref": format!("{}#{path}", p.label),
                    "name": path,
                    "hashes": [
                        { "alg": "SHA-1", "content": f.sha1.to_lowercase() },
                        { "alg": "SHA-256", "content": f.sha256.to_lowercase() },
                    ],
                })
            })
            .collect();
        files.sort_by(|a, b| a["bom-ref"].as_str().cmp(&b["bom-ref"].as_str()));
        files.dedup_by(|a, b| a["bom-ref"] == b["bom-ref"]);
        comp.insert("components".into(), json!(files));
    }
    Value::Object(comp)
}

// ---------------------------------------------------------------- checks and summaries

/// The completeness check: the regular files of the image's root file system
/// (absolute path, sha256) that no package accounts for with that content.
pub fn unaccounted(c: &Contents, rootfs_files: &[(String, String)]) -> Vec<String> {
    let known: BTreeSet<(String, String)> =
        c.packages.iter().flat_map(|p| &p.files).map(|f| (absolute(&f.path), f.sha256.to_lowercase())).collect();
    let missing: BTreeSet<String> = rootfs_files
        .iter()
        .map(|(path, sha)| (absolute(path), sha.to_lowercase()))
        .filter(|entry| !known.contains(entry))
        .map(|(path, _)| path)
        .collect();
    missing.into_iter().collect()
}

fn parse(doc: &[u8], format: &str) -> Result<Value, String> {
    serde_json::from_slice(doc).map_err(|e| format!("not a {format} JSON document: {e}"))
}

fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn sorted(mut packages: Vec<SbomPackage>) -> Vec<SbomPackage> {
    for p in &mut packages {
        p.files.sort();
    }
    packages.sort();
    packages
}

/// The packages an SPDX document lists, without the package it describes
/// (the image) and without source packages (purpose `SOURCE`).
pub fn spdx_summary(doc: &[u8]) -> Result<Vec<SbomPackage>, String> {
    let doc = parse(doc, "SPDX")?;
    if str_field(&doc, "spdxVersion").is_none_or(|v| !v.starts_with("SPDX-2.")) {
        return Err("not an SPDX 2 document: no `spdxVersion` SPDX-2.x".into());
    }
    let empty = Vec::new();
    let array = |key: &str| doc.get(key).and_then(Value::as_array).unwrap_or(&empty);
    let mut described: BTreeSet<&str> = BTreeSet::new();
    let mut contains: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for r in array("relationships") {
        let (Some(from), Some(kind), Some(to)) =
            (str_field(r, "spdxElementId"), str_field(r, "relationshipType"), str_field(r, "relatedSpdxElement"))
        else {
            return Err(format!("SPDX relationship without spdxElementId, relationshipType or relatedSpdxElement: {r}"));
        };
        match kind {
            "DESCRIBES" if from == "SPDXRef-DOCUMENT" => {
                described.insert(to);
            }
            "CONTAINS" => contains.entry(from).or_default().push(to),
            _ => {}
        }
    }
    let mut files: BTreeMap<&str, (String, String)> = BTreeMap::new();
    for f in array("files") {
        let (Some(id), Some(name)) = (str_field(f, "SPDXID"), str_field(f, "fileName")) else {
            return Err(format!("SPDX file without SPDXID or fileName: {f}"));
        };
        let sha256 = f
            .get("checksums")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|c| str_field(c, "algorithm") == Some("SHA256"))
            .and_then(|c| str_field(c, "checksumValue"))
            .ok_or_else(|| format!("SPDX file {name} has no SHA256 checksum"))?;
        files.insert(id, (absolute(name), sha256.to_lowercase()));
    }
    let mut packages = Vec::new();
    for p in array("packages") {
        let (Some(id), Some(name)) = (str_field(p, "SPDXID"), str_field(p, "name")) else {
            return Err(format!("SPDX package without SPDXID or name: {p}"));
        };
        if described.contains(id) || str_field(p, "primaryPackagePurpose") == Some("SOURCE") {
            continue;
        }
        let purl = p
            .get("externalRefs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|r| str_field(r, "referenceType") == Some("purl"))
            .and_then(|r| str_field(r, "referenceLocator"))
            .map(String::from);
        let mut file_ids: BTreeSet<&str> =
            p.get("hasFiles").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
        file_ids.extend(contains.get(id).into_iter().flatten().filter(|to| files.contains_key(*to)));
        let files = file_ids
            .into_iter()
            .map(|f| files.get(f).cloned().ok_or_else(|| format!("SPDX package {name} names a file {f} the document lacks")))
            .collect::<Result<_, _>>()?;
        packages.push(SbomPackage {
            name: name.to_string(),
            version: str_field(p, "versionInfo").unwrap_or_default().to_string(),
            purl,
            files,
        });
    }
    Ok(sorted(packages))
}

/// The components a CycloneDX document lists (the image is its
/// `metadata.component` and sources are ancestors: neither is among them),
/// with their nested `file` components.
pub fn cyclonedx_summary(doc: &[u8]) -> Result<Vec<SbomPackage>, String> {
    let doc = parse(doc, "CycloneDX")?;
    if str_field(&doc, "bomFormat") != Some("CycloneDX") {
        return Err("not a CycloneDX document: `bomFormat` is not CycloneDX".into());
    }
    let mut packages = Vec::new();
    for c in doc.get("components").and_then(Value::as_array).into_iter().flatten() {
        let name = str_field(c, "name").ok_or_else(|| format!("CycloneDX component without a name: {c}"))?;
        let mut files = Vec::new();
        for f in c.get("components").and_then(Value::as_array).into_iter().flatten() {
            if str_field(f, "type") != Some("file") {
                continue;
            }
            let path = str_field(f, "name").ok_or_else(|| format!("CycloneDX file of {name} without a name"))?;
            let sha256 = f
                .get("hashes")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|h| str_field(h, "alg") == Some("SHA-256"))
                .and_then(|h| str_field(h, "content"))
                .ok_or_else(|| format!("CycloneDX file {path} of {name} has no SHA-256 hash"))?;
            files.push((absolute(path), sha256.to_lowercase()));
        }
        packages.push(SbomPackage {
            name: name.to_string(),
            version: str_field(c, "version").unwrap_or_default().to_string(),
            purl: str_field(c, "purl").map(String::from),
            files,
        });
    }
    Ok(sorted(packages))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, content: &str) -> File {
        File {
            path: path.into(),
            sha256: sha256_hex(content.as_bytes()),
            sha1: hex(&Sha1::digest(content.as_bytes())),
            size: content.len() as u64,
        }
    }

    fn deb(name: &str, version: &str, source: Option<&str>) -> Package {
        Package {
            label: format!("//examples/debian:{name}"),
            name: name.into(),
            version: version.into(),
            supplier: Some("Debian".into()),
            license: Some("GPL-2.0-or-later".into()),
            description: None,
            homepage: None,
            origin: Origin::Deb {
                arch: "amd64".into(),
                source: source.map(String::from),
                distro: "debian-12".into(),
                download_url: format!("https://deb.debian.org/debian/pool/main/{name}.deb"),
                sha256: "a".repeat(64),
            },
            files: vec![file(&format!("/usr/bin/{name}"), name)],
        }
    }

    fn contents() -> Contents {
        let mut lua = deb("lua", "5.4.6", None);
        lua.origin = Origin::Built {
            source: Some(Source {
                label: "//examples/sources:lua-src".into(),
                url: "https://www.lua.org/ftp/lua-5.4.6.tar.gz".into(),
                sha256: "b".repeat(64),
                version: Some("5.4.6".into()),
            }),
        };
        lua.label = "//examples/pkgs/lua:lua".into();
        lua.license = Some("MIT and some custom terms".into());
        Contents {
            subject: Subject {
                label: "//examples/images/lua:lua".into(),
                name: "lua".into(),
                manifest_digest: format!("sha256:{}", "c".repeat(64)),
                platforms: vec!["linux/amd64".into()],
                version: Some("5.4.6".into()),
            },
            packages: vec![deb("bash", "5.2.15-2+b2", None), deb("libc6", "1:2.36-9", Some("glibc")), lua],
            created: 1_704_067_200,
            tool: "dhib 0.1.0".into(),
        }
    }

    #[test]
    fn deb_purls_encode_plus_and_epoch() {
        let c = contents();
        assert_eq!(purl(&c.packages[0]), "pkg:deb/debian/bash@5.2.15-2%2Bb2?arch=amd64&distro=debian-12");
        assert_eq!(purl(&c.packages[1]), "pkg:deb/debian/libc6@1%3A2.36-9?arch=amd64&distro=debian-12");
        assert_eq!(purl(&deb("libstdc++6", "12", None)), "pkg:deb/debian/libstdc%2B%2B6@12?arch=amd64&distro=debian-12");
    }

    #[test]
    fn other_purls() {
        let c = contents();
        assert_eq!(
            purl(&c.packages[2]),
            format!("pkg:generic/lua@5.4.6?checksum=sha256:{}&download_url=https://www.lua.org/ftp/lua-5.4.6.tar.gz", "b".repeat(64))
        );
        let mut p = c.packages[2].clone();
        p.origin = Origin::Built { source: None };
        assert_eq!(purl(&p), "pkg:generic/lua@5.4.6");
        p.origin =
            Origin::Oci { reference: "docker.io/library/Debian:12@sha256:ffff".into(), digest: format!("sha256:{}", "d".repeat(64)) };
        assert_eq!(purl(&p), format!("pkg:oci/debian@sha256%3A{}?repository_url=docker.io/library/Debian&tag=12", "d".repeat(64)));
        p.origin = Origin::Oci { reference: "localhost:5000/base".into(), digest: "sha256:1".into() };
        assert_eq!(purl(&p), "pkg:oci/base@sha256%3A1?repository_url=localhost:5000/base");
        assert_eq!(image_purl(&c.subject), format!("pkg:oci/lua@sha256%3A{}", "c".repeat(64)));
        // A query character inside a URL is data, not syntax.
        assert_eq!(query(&[("download_url", "https://x.org/a?b=c&d")]), "?download_url=https://x.org/a%3Fb%3Dc%26d");
    }

    #[test]
    fn spdx_ids_hold_only_the_allowed_characters_and_stay_distinct() {
        let a = spdx_id("Package", "//examples/debian:libc6");
        assert!(a.starts_with("SPDXRef-Package-examples-debian-libc6-"), "{a}");
        let b = spdx_id("Package", "//examples/debian-libc6");
        assert_ne!(a, b, "labels that sanitize alike keep distinct ids");
        for id in [a, b, spdx_id("Package", "//x:a+b_c@ü"), spdx_file_id("//x:y", "/usr/lib/libc.so.6"), spdx_id("X", "//:")] {
            let rest = id.strip_prefix("SPDXRef-").unwrap();
            assert!(rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-'), "{id}");
            assert!(!rest.contains("--") && !rest.ends_with('-'), "{id}");
        }
        assert_eq!(sanitize("//a:b++c/"), "a-b-c");
    }

    #[test]
    fn licenses_are_expressions_or_refs() {
        assert_eq!(classify_license("MIT OR Apache-2.0"), License::Expression("MIT OR Apache-2.0".into(), vec![]));
        assert_eq!(classify_license("GPL-2.0+"), License::Expression("GPL-2.0+".into(), vec![]));
        assert_eq!(
            classify_license("MIT AND LicenseRef-public-domain"),
            License::Expression("MIT AND LicenseRef-public-domain".into(), vec!["LicenseRef-public-domain".into()])
        );
        assert_eq!(classify_license("GPL-2+"), License::Text("GPL-2+".into()));
        assert_eq!(classify_license("MIT and some custom terms"), License::Text("MIT and some custom terms".into()));
        let r = license_ref_for_text("MIT and some custom terms");
        assert!(r.starts_with("LicenseRef-MIT-and-some-custom-terms-"), "{r}");
    }

    #[test]
    fn documents_are_deterministic_and_change_with_the_content() {
        let c = contents();
        assert_eq!(spdx(&c), spdx(&c));
        assert_eq!(cyclonedx(&c), cyclonedx(&c));
        let mut shuffled = c.clone();
        shuffled.packages.reverse();
        shuffled.packages[0].files.reverse();
        assert_eq!(spdx(&c), spdx(&shuffled), "input order does not matter");
        assert_eq!(cyclonedx(&c), cyclonedx(&shuffled));
        let mut other = c.clone();
        other.packages[0].version = "5.2.15-3".into();
        let serial = |doc: &[u8]| serde_json::from_slice::<Value>(doc).unwrap()["serialNumber"].clone();
        let namespace = |doc: &[u8]| serde_json::from_slice::<Value>(doc).unwrap()["documentNamespace"].clone();
        assert_ne!(serial(&cyclonedx(&c)), serial(&cyclonedx(&other)));
        assert_ne!(namespace(&spdx(&c)), namespace(&spdx(&other)));
        let serial = serial(&cyclonedx(&c));
        let serial = serial.as_str().unwrap();
        let uuid = serial.strip_prefix("urn:uuid:").unwrap();
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "5");
        assert!("89ab".contains(&uuid[19..20]));
    }

    #[test]
    fn spdx_document_shape() {
        let doc: Value = serde_json::from_slice(&spdx(&contents())).unwrap();
        assert_eq!(doc["creationInfo"]["created"], "2024-01-01T00:00:00Z");
        assert_eq!(doc["creationInfo"]["creators"][0], "Tool: dhib-0.1.0");
        let packages = doc["packages"].as_array().unwrap();
        let by_name = |n: &str| packages.iter().find(|p| p["name"] == n).unwrap();
        assert_eq!(by_name("lua")["primaryPackagePurpose"], "CONTAINER");
        assert_eq!(by_name("lua-src")["primaryPackagePurpose"], "SOURCE");
        let bash = by_name("bash");
        assert_eq!(bash["supplier"], "Organization: Debian");
        assert_eq!(bash["filesAnalyzed"], true);
        let sha1 = hex(&Sha1::digest(b"bash"));
        assert_eq!(bash["packageVerificationCode"]["packageVerificationCodeValue"], hex(&Sha1::digest(sha1.as_bytes())));
        let built = packages.iter().find(|p| p["name"] == "lua" && p["primaryPackagePurpose"].is_null()).unwrap();
        let license = built["licenseDeclared"].as_str().unwrap();
        assert!(license.starts_with("LicenseRef-"));
        assert_eq!(doc["hasExtractedLicensingInfos"][0]["licenseId"], license);
        let rel = |from: &Value, kind: &str, to: &Value| {
            doc["relationships"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["spdxElementId"] == *from && r["relationshipType"] == kind && r["relatedSpdxElement"] == *to)
        };
        assert!(rel(&json!("SPDXRef-DOCUMENT"), "DESCRIBES", &by_name("lua")["SPDXID"]));
        assert!(rel(&by_name("lua")["SPDXID"], "CONTAINS", &bash["SPDXID"]));
        assert!(rel(&built["SPDXID"], "GENERATED_FROM", &by_name("lua-src")["SPDXID"]));
        assert_eq!(doc["files"].as_array().unwrap().len(), 3);
        assert!(doc["files"].as_array().unwrap().iter().all(|f| f["fileName"].as_str().unwrap().starts_with("./usr/bin/")));
    }

    #[test]
    fn summaries_read_back_what_the_documents_say() {
        let c = contents();
        let mut expected: Vec<SbomPackage> = c
            .packages
            .iter()
            .map(|p| SbomPackage {
                name: p.name.clone(),
                version: p.version.clone(),
                purl: Some(purl(p)),
                files: p.files.iter().map(|f| (f.path.clone(), f.sha256.clone())).collect(),
            })
            .collect();
        expected.sort();
        assert_eq!(spdx_summary(&spdx(&c)).unwrap(), expected);
        assert_eq!(cyclonedx_summary(&cyclonedx(&c)).unwrap(), expected);
        assert!(spdx_summary(b"{}").unwrap_err().contains("SPDX"));
        assert!(cyclonedx_summary(b"not json").unwrap_err().contains("not a CycloneDX JSON document"));
        assert!(spdx_summary(&cyclonedx(&c)).is_err());
        assert!(cyclonedx_summary(&spdx(&c)).is_err());
    }

    #[test]
    fn unaccounted_names_missing_and_changed_files() {
        let c = contents();
        let bash = &c.packages[0].files[0];
        let rootfs = vec![
            (bash.path.clone(), bash.sha256.clone()),
            ("/usr/bin/libc6".to_string(), sha256_hex(b"tampered")),
            ("/etc/extra".to_string(), sha256_hex(b"x")),
        ];
        assert_eq!(unaccounted(&c, &rootfs), vec!["/etc/extra".to_string(), "/usr/bin/libc6".to_string()]);
        assert!(unaccounted(&c, &rootfs[..1]).is_empty());
    }

    #[test]
    fn only_public_urls_are_download_locations() {
        assert!(is_public_url("https://deb.debian.org/debian/pool/x.deb"));
        assert!(is_public_url("git+https://github.com/lua/lua.git"));
        assert!(!is_public_url("file:///home/me/src.tar.gz"));
        assert!(!is_public_url("http://localhost/x"));
        assert!(!is_public_url("vendor/src.tar.gz"));
    }
}
