//! The completeness check of an image's files against its packages, and
//! the summaries of either document that `dhib verify` reads back.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::*;

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

pub(super) fn parse(doc: &[u8], format: &str) -> Result<Value, String> {
    serde_json::from_slice(doc).map_err(|e| format!("not a {format} JSON document: {e}"))
}

pub(super) fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

pub(super) fn sorted(mut packages: Vec<SbomPackage>) -> Vec<SbomPackage> {
    for p in &mut packages {
        p.files.sort();
    }
    packages.sort();
    packages
}

/// The packages an SPDX document lists, without the package it describes
/// (the image), source packages (purpose `SOURCE`) and the operating system.
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
        if described.contains(id) || matches!(str_field(p, "primaryPackagePurpose"), Some("SOURCE" | "OPERATING-SYSTEM")) {
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
/// `metadata.component`, sources are ancestors, the operating system has no
/// files: none is among them),
/// with their nested `file` components.
pub fn cyclonedx_summary(doc: &[u8]) -> Result<Vec<SbomPackage>, String> {
    let doc = parse(doc, "CycloneDX")?;
    if str_field(&doc, "bomFormat") != Some("CycloneDX") {
        return Err("not a CycloneDX document: `bomFormat` is not CycloneDX".into());
    }
    let mut packages = Vec::new();
    for c in doc.get("components").and_then(Value::as_array).into_iter().flatten() {
        let name = str_field(c, "name").ok_or_else(|| format!("CycloneDX component without a name: {c}"))?;
        if str_field(c, "type") == Some("operating-system") {
            continue;
        }
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
