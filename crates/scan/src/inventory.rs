//! What an image holds, read from its SBOM: CycloneDX (1.4 to 1.6) or SPDX
//! 2.3 JSON, dhib's own or another tool's (Trivy's and Syft's properties
//! and purl qualifiers for a deb's source package are read too).

use serde_json::Value;

use crate::purl::Purl;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inventory {
    /// The image's name, as the SBOM gives it.
    pub name: String,
    /// Its purl (`pkg:oci/NAME@sha256%3A…`), when the SBOM gives one.
    pub purl: Option<String>,
    /// "sha256:<hex>" of the image, when the SBOM gives it.
    pub digest: Option<String>,
    pub os: Option<Os>,
    pub packages: Vec<Package>,
}

/// The operating system the packages belong to: "debian" "12".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Os {
    pub id: String,
    pub version: String,
}

impl Os {
    /// The OSV ecosystem of the distribution's packages: "Debian:12".
    pub fn ecosystem(&self) -> Option<String> {
        let major = self.version.split('.').next().filter(|m| !m.is_empty())?;
        match self.id.as_str() {
            "debian" => Some(format!("Debian:{major}")),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub purl: Option<String>,
    /// A deb's source package and its version (the binary's when not given).
    pub source: Option<(String, String)>,
    pub cpes: Vec<String>,
}

impl Package {
    pub fn is_deb(&self) -> bool {
        self.purl.as_deref().and_then(Purl::parse).is_some_and(|p| p.kind == "deb")
    }
}

/// Reads a CycloneDX or SPDX JSON document.
pub fn read(doc: &Value) -> Result<Inventory, String> {
    let mut inv = if doc.get("bomFormat").and_then(Value::as_str) == Some("CycloneDX") {
        cyclonedx(doc)
    } else if doc.get("spdxVersion").is_some() {
        spdx(doc)
    } else {
        return Err("not a CycloneDX or SPDX JSON document".into());
    };
    // Without an OS component, the distribution the debs' purls name.
    if inv.os.is_none() {
        inv.os = inv.packages.iter().filter_map(|p| Purl::parse(p.purl.as_deref()?)).find_map(|p| {
            let distro = p.qualifier("distro")?;
            // `debian-12` or `bookworm`; a bare `debian` names no release.
            let (id, version) = distro.split_once('-').unwrap_or((p.namespace.as_str(), distro));
            let version = match version {
                "bookworm" => "12",
                v if v.starts_with(|c: char| c.is_ascii_digit()) => v,
                _ => return None,
            };
            Some(Os { id: id.to_string(), version: version.to_string() })
        });
    }
    // The image's own files (dhib's `*-files`) are no package of their own.
    let image = inv.purl.clone();
    inv.packages.retain(|p| p.purl.is_none() || p.purl != image);
    inv.packages.sort();
    inv.packages.dedup();
    Ok(inv)
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string).filter(|s| !s.is_empty())
}

/// A deb's source package: properties (dhib's, Trivy's), else the purl's
/// `upstream` qualifier ("SRC" or "SRC@VERSION", as Syft writes it).
fn source_of(name: &str, version: &str, purl: Option<&str>, property: &dyn Fn(&str) -> Option<String>) -> Option<(String, String)> {
    let p = Purl::parse(purl?)?;
    if p.kind != "deb" {
        return None;
    }
    // Trivy splits the version: SrcEpoch, SrcVersion, SrcRelease.
    let trivy_version = || {
        let upstream = property("aquasecurity:trivy:SrcVersion")?;
        let epoch = property("aquasecurity:trivy:SrcEpoch").filter(|e| e != "0").map(|e| format!("{e}:")).unwrap_or_default();
        let release = property("aquasecurity:trivy:SrcRelease").map(|r| format!("-{r}")).unwrap_or_default();
        Some(format!("{epoch}{upstream}{release}"))
    };
    let by_property = property("dhib:deb:source")
        .or_else(|| property("aquasecurity:trivy:SrcName"))
        .map(|s| (s, property("dhib:deb:source_version").or_else(trivy_version)));
    let (source, source_version) = by_property
        .or_else(|| {
            let up = p.qualifier("upstream")?;
            Some(match up.split_once('@') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (up.to_string(), None),
            })
        })
        .unwrap_or((name.to_string(), None));
    Some((source, source_version.unwrap_or_else(|| version.to_string())))
}

fn cyclonedx(doc: &Value) -> Inventory {
    let subject = &doc["metadata"]["component"];
    let mut inv = Inventory {
        name: text(subject, "name").unwrap_or_default(),
        purl: text(subject, "purl"),
        digest: subject["hashes"]
            .as_array()
            .into_iter()
            .flatten()
            .find_map(|h| (h["alg"] == "SHA-256").then(|| h["content"].as_str().map(|c| format!("sha256:{c}"))).flatten()),
        ..Default::default()
    };
    let mut stack: Vec<&Value> = doc["components"].as_array().into_iter().flatten().collect();
    while let Some(c) = stack.pop() {
        stack.extend(c["components"].as_array().into_iter().flatten());
        let kind = c["type"].as_str().unwrap_or_default();
        if kind == "operating-system" {
            inv.os = Some(Os { id: text(c, "name").unwrap_or_default().to_lowercase(), version: text(c, "version").unwrap_or_default() });
            continue;
        }
        if kind == "file" {
            continue;
        }
        let (Some(name), version) = (text(c, "name"), text(c, "version").unwrap_or_default()) else { continue };
        let purl = text(c, "purl");
        let property =
            |key: &str| c["properties"].as_array().into_iter().flatten().find(|p| p["name"] == key).and_then(|p| text(p, "value"));
        let mut cpes: Vec<String> = text(c, "cpe").into_iter().collect();
        cpes.extend(property("dhib:cpe"));
        inv.packages.push(Package { source: source_of(&name, &version, purl.as_deref(), &property), name, version, purl, cpes });
    }
    inv
}

fn spdx(doc: &Value) -> Inventory {
    let packages = doc["packages"].as_array().cloned().unwrap_or_default();
    let described: Vec<&str> = doc["relationships"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["relationshipType"] == "DESCRIBES" && r["spdxElementId"] == "SPDXRef-DOCUMENT")
        .filter_map(|r| r["relatedSpdxElement"].as_str())
        .collect();
    let refs = |p: &Value, ty: &str| -> Vec<String> {
        p["externalRefs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["referenceType"] == ty)
            .filter_map(|r| text(r, "referenceLocator"))
            .collect()
    };
    let mut inv = Inventory::default();
    for p in &packages {
        let id = p["SPDXID"].as_str().unwrap_or_default();
        let purpose = p["primaryPackagePurpose"].as_str().unwrap_or_default();
        let name = text(p, "name").unwrap_or_default();
        let version = text(p, "versionInfo").unwrap_or_default();
        let purl = refs(p, "purl").into_iter().next();
        if described.contains(&id) {
            inv.name = name;
            inv.purl = purl;
            inv.digest =
                p["checksums"].as_array().into_iter().flatten().find_map(|c| {
                    (c["algorithm"] == "SHA256").then(|| c["checksumValue"].as_str().map(|v| format!("sha256:{v}"))).flatten()
                });
            continue;
        }
        match purpose {
            "OPERATING-SYSTEM" => inv.os = Some(Os { id: name.to_lowercase(), version }),
            // A source archive is what a package was built from, not content.
            "SOURCE" => {}
            _ => inv.packages.push(Package {
                source: source_of(&name, &version, purl.as_deref(), &|_| None),
                cpes: refs(p, "cpe23Type"),
                name,
                version,
                purl,
            }),
        }
    }
    inv
}
