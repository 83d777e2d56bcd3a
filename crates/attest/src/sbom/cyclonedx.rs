//! The CycloneDX 1.6 JSON document of an image.

use serde_json::{json, Map, Value};
use sha1::Sha1;
use sha2::Digest;

use super::*;

pub(super) fn cdx_hashes(sha256: Option<&str>) -> Option<Value> {
    sha256.and_then(bare_sha256).map(|hex| json!([{ "alg": "SHA-256", "content": hex.to_lowercase() }]))
}

pub(super) fn cdx_licenses(text: &str) -> Value {
    match classify_license(text) {
        License::Expression(expression, _) => json!([{ "expression": expression }]),
        License::Text(text) => json!([{ "license": { "name": text } }]),
    }
}

/// A UUID of version 5 (SHA-1, RFC 9562) in the URL namespace.
pub(super) fn uuid_v5(name: &[u8]) -> String {
    const URL_NAMESPACE: [u8; 16] = [0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8];
    let mut hasher = Sha1::new();
    hasher.update(URL_NAMESPACE);
    hasher.update(name);
    dhib_core::uuid(hasher.finalize()[..16].try_into().expect("SHA-1 has 20 bytes"), 5)
}

/// The CycloneDX 1.6 JSON document of the image.
pub fn cyclonedx(c: &Contents) -> Vec<u8> {
    let s = &c.subject;
    let image_ref = image_purl(s);
    let mut image = Map::new();
    image.insert("type".into(), json!("container"));
    image.insert("bom-ref".into(), json!(image_ref));
    image.insert("name".into(), json!(s.name));
    image.insert("version".into(), json!(subject_version(s)));
    if let Some(supplier) = &s.supplier {
        image.insert("supplier".into(), json!({ "name": supplier }));
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
    if let Some(os) = &c.os {
        // What scanners key distribution advisories on: type, name ("debian"), version.
        let mut comp = json!({
            "type": "operating-system",
            "bom-ref": format!("os:{}@{}", os.id, os.version),
            "name": os.id,
            "version": os.version,
            "supplier": { "name": os_supplier(os) },
        });
        if let Some(name) = &os.pretty_name {
            comp["description"] = json!(name);
        }
        components.push(comp);
    }
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
            "timestamp": dhib_core::rfc3339(c.created),
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

pub(super) fn cdx_component(p: &Package, s: &Subject) -> Value {
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
    if let Some(supplier) = supplier_of(p, s) {
        comp.insert("supplier".into(), json!({ "name": supplier }));
    }
    if let Some(cpe) = &p.cpe {
        comp.insert("cpe".into(), json!(cpe));
    }
    if let Some(d) = &p.description {
        comp.insert("description".into(), json!(d));
    }
    if let Some(l) = p.license.as_deref().map(str::trim).filter(|l| !l.is_empty()) {
        comp.insert("licenses".into(), cdx_licenses(l));
    }
    comp.insert("purl".into(), json!(purl_in(p, Some(s))));
    let mut references = Vec::new();
    let mut properties = vec![json!({ "name": "dhib:label", "value": p.label })];
    if let Some(h) = &p.homepage {
        references.push(json!({ "type": "website", "url": h }));
    }
    match &p.origin {
        Origin::Deb { download_url, sha256, rebuilt, arch, distro, source } => {
            let (name, version) = source.clone().unwrap_or_else(|| (p.name.clone(), p.version.clone()));
            let (epoch, upstream, revision) = debian_version_parts(&version);
            // dhib's names, and Trivy's, which reads no other to know a deb's source.
            for (key, value) in [
                ("dhib:deb:source", name.as_str()),
                ("dhib:deb:source_version", version.as_str()),
                ("aquasecurity:trivy:SrcName", name.as_str()),
                ("aquasecurity:trivy:SrcEpoch", epoch),
                ("aquasecurity:trivy:SrcVersion", upstream),
                ("aquasecurity:trivy:SrcRelease", revision),
            ] {
                if !value.is_empty() {
                    properties.push(json!({ "name": key, "value": value }));
                }
            }
            if !download_url.is_empty() {
                references.push(json!({ "type": "distribution", "url": download_url }));
            }
            if let Some(h) = cdx_hashes(Some(sha256)) {
                comp.insert("hashes".into(), h);
            }
            if let Some(r) = rebuilt {
                // Debian's own build of the same package is the ancestor;
                // the patches are what dhib's build adds to it.
                let debian = Package {
                    version: r.source_version.clone(),
                    origin: Origin::Deb {
                        arch: arch.clone(),
                        source: None,
                        distro: distro.clone(),
                        download_url: String::new(),
                        sha256: String::new(),
                        rebuilt: None,
                    },
                    ..p.clone()
                };
                let mut ancestor = json!({
                    "type": kind,
                    "name": p.name,
                    "version": r.source_version,
                    "purl": purl_in(&debian, Some(s)),
                    "externalReferences": [{ "type": "source-distribution", "url": r.dsc_url }],
                });
                if let Some(h) = cdx_hashes(Some(&r.dsc_sha256)) {
                    ancestor["hashes"] = h;
                }
                let patches: Vec<Value> =
                    r.patches.iter().map(|(path, _)| json!({ "type": "unofficial", "diff": { "url": path } })).collect();
                comp.insert(
                    "pedigree".into(),
                    json!({
                        "ancestors": [ancestor],
                        "patches": patches,
                        "notes": format!("rebuilt by dhib ({}) from the Debian source package {} {}", r.build, r.source, r.source_version),
                    }),
                );
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
    comp.insert("properties".into(), json!(properties));
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
