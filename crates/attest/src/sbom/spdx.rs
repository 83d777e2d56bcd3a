//! The SPDX 2.3 JSON document of an image.

use std::collections::{BTreeMap, BTreeSet};

use dhib_core::hex;
use serde_json::{json, Map, Value};
use sha1::Sha1;
use sha2::Digest;

use super::*;

/// `SPDXRef-<kind>-<readable key>-<8 hex of the key>`: the readable part
/// loses characters, the hash keeps distinct keys distinct.
pub(super) fn spdx_id(kind: &str, key: &str) -> String {
    let readable = sanitize(key);
    let sep = if readable.is_empty() { "" } else { "-" };
    format!("SPDXRef-{kind}-{readable}{sep}{}", &sha256_hex(key.as_bytes())[..8])
}

pub(super) fn spdx_file_id(label: &str, path: &str) -> String {
    let readable = sanitize(path);
    let sep = if readable.is_empty() { "" } else { "-" };
    format!("SPDXRef-File-{readable}{sep}{}", &sha256_hex(format!("{label}\0{path}").as_bytes())[..8])
}

pub(super) fn spdx_supplier(supplier: Option<&str>) -> String {
    match supplier.map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => format!("Organization: {}", s.replace('\n', " ")),
        None => "NOASSERTION".into(),
    }
}

pub(super) fn spdx_purl_ref(purl: &str) -> Value {
    json!([{ "referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": purl }])
}

pub(super) fn spdx_sha256(hex: &str) -> Value {
    json!([{ "algorithm": "SHA256", "checksumValue": hex.to_lowercase() }])
}

/// SPDX 2.3's package verification code: the SHA1 of the sorted SHA1s.
pub(super) fn verification_code(files: &[File]) -> String {
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
    image.insert("versionInfo".into(), json!(subject_version(s)));
    image.insert("supplier".into(), json!(spdx_supplier(s.supplier.as_deref())));
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
    if let Some(os) = &c.os {
        // Scanners know the operating system by this SPDXID's prefix.
        let os_id = spdx_id("OperatingSystem", &format!("{}-{}", os.id, os.version));
        relationships.insert((image_id.clone(), "CONTAINS", os_id.clone()));
        let mut pkg = json!({
            "SPDXID": os_id,
            "name": os.id,
            "versionInfo": os.version,
            "supplier": spdx_supplier(Some(&os_supplier(os))),
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "primaryPackagePurpose": "OPERATING-SYSTEM",
        });
        if let Some(name) = &os.pretty_name {
            pkg["description"] = json!(name);
        }
        packages.push(pkg);
    }

    for p in &c.packages {
        let id = spdx_id("Package", &p.label);
        relationships.insert((image_id.clone(), "CONTAINS", id.clone()));
        let mut pkg = Map::new();
        pkg.insert("SPDXID".into(), json!(id));
        pkg.insert("name".into(), json!(p.name));
        if !p.version.is_empty() {
            pkg.insert("versionInfo".into(), json!(p.version));
        }
        pkg.insert("supplier".into(), json!(spdx_supplier(supplier_of(p, s).as_deref())));
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
        let mut refs = spdx_purl_ref(&purl_in(p, Some(s)));
        if let (Some(cpe), Some(list)) = (&p.cpe, refs.as_array_mut()) {
            list.push(json!({ "referenceCategory": "SECURITY", "referenceType": "cpe23Type", "referenceLocator": cpe }));
        }
        pkg.insert("externalRefs".into(), refs);
        let mut location = "NOASSERTION".to_string();
        match &p.origin {
            Origin::Deb { download_url, sha256, rebuilt, source, .. } => {
                // In the words scanners read it back by.
                let (name, version) = source.clone().unwrap_or_else(|| (p.name.clone(), p.version.clone()));
                pkg.insert("sourceInfo".into(), json!(format!("built package from: {name} {version}")));
                if is_public_url(download_url) {
                    location = download_url.clone();
                }
                if let Some(hex) = bare_sha256(sha256) {
                    pkg.insert("checksums".into(), spdx_sha256(hex));
                }
                if let Some(r) = rebuilt {
                    let patches: Vec<String> = r.patches.iter().map(|(path, sha)| format!("{path} (sha256 {sha})")).collect();
                    let with =
                        if patches.is_empty() { "without patches".to_string() } else { format!("with the patches {}", patches.join(", ")) };
                    pkg.insert(
                        "comment".into(),
                        json!(format!(
                            "rebuilt by dhib ({}) from the Debian source package {} {} ({}, sha256 {}) {with}",
                            r.build, r.source, r.source_version, r.dsc_url, r.dsc_sha256
                        )),
                    );
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
        "creationInfo": { "created": dhib_core::rfc3339(c.created), "creators": [creator] },
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

pub(super) fn spdx_source(id: &str, src: &Source) -> Value {
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
