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

use dhib_core::hex;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Everything an image's SBOM says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contents {
    pub subject: Subject,
    /// The distribution the image's Debian packages come from, as its
    /// os-release says, when it has one.
    pub os: Option<Os>,
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
    /// Who supplies the image: its `org.opencontainers.image.vendor`.
    /// Also the supplier of what the image's own build made (packages built
    /// from source without a `supplier`, the image's own files).
    pub supplier: Option<String>,
}

/// An image's operating system, from its `/etc/os-release` and
/// `/etc/debian_version`: what scanners key distribution advisories on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Os {
    /// "debian".
    pub id: String,
    /// The point release, "12.13" (debian_version), else VERSION_ID "12".
    pub version: String,
    /// "Debian GNU/Linux 12 (bookworm)".
    pub pretty_name: Option<String>,
    /// The major release: "12", for purls' `distro=debian-12`.
    pub version_id: String,
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
    /// A CPE 2.3 name, for scanners that match by CPE.
    pub cpe: Option<String>,
    pub origin: Origin,
    /// The package's regular files in the image.
    pub files: Vec<File>,
}

/// A Debian package dhib built from its source package (a `debian_build`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rebuilt {
    /// The `debian_build`'s label.
    pub build: String,
    /// The source package and the version it rebuilt: what Debian's own
    /// build of this package is versioned.
    pub source: String,
    pub source_version: String,
    /// The `.dsc` it was unpacked from, and its sha256.
    pub dsc_url: String,
    pub dsc_sha256: String,
    /// The patches added to Debian's, by workspace path, with their sha256.
    pub patches: Vec<(String, String)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A Debian binary package.
    Deb {
        arch: String,
        /// The source package's name and version (of the control file's
        /// `Source: NAME (VERSION)`, else the binary's own).
        source: Option<(String, String)>,
        /// "debian-12".
        distro: String,
        download_url: String,
        /// Of the .deb.
        sha256: String,
        /// How dhib rebuilt it from Debian's source package, when it did.
        rebuilt: Option<Rebuilt>,
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

mod cyclonedx;
mod license;
mod purl;
mod spdx;
mod summary;

pub use cyclonedx::cyclonedx;
pub use purl::{image_purl, plain_purl, purl};
pub use spdx::spdx;
pub use summary::{cyclonedx_summary, spdx_summary, unaccounted};

use license::*;
use purl::*;

// Shared by the documents.

/// The characters an SPDX ID may hold (`[A-Za-z0-9.-]`): others become `-`,
/// runs of `-` collapse and none lead or trail.
pub(super) fn sanitize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '.' { c } else { '-' };
        if !(c == '-' && (out.is_empty() || out.ends_with('-'))) {
            out.push(c);
        }
    }
    out.trim_end_matches('-').to_string()
}

/// The hex of a sha256 given as "sha256:<hex>" or "<hex>", if it is one.
pub(super) fn bare_sha256(digest: &str) -> Option<&str> {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}

pub(super) fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

pub(super) fn absolute(path: &str) -> String {
    format!("/{}", path.trim_start_matches("./").trim_start_matches('/'))
}

/// URLs the SPDX tools accept as a download location or homepage (a host
/// name with a dot, one of the usual schemes); anything else, such as a
/// `file://` path on the build machine, is better stated as NOASSERTION.
pub(super) fn is_public_url(url: &str) -> bool {
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

/// Who supplies a package: its own supplier, else, for what the image's
/// build made, the image's supplier; for layers of another image, the
/// repository they come from.
pub(super) fn supplier_of(p: &Package, s: &Subject) -> Option<String> {
    let own = p.supplier.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_string);
    own.or_else(|| match &p.origin {
        Origin::Built { .. } | Origin::Image => s.supplier.clone(),
        Origin::Oci { reference, .. } => Some(split_reference(reference).0.to_string()),
        Origin::Deb { .. } => None,
    })
}

/// The image's version: its `version`, else its digest, which is what
/// names this build of it.
pub(super) fn subject_version(s: &Subject) -> String {
    s.version.clone().unwrap_or_else(|| s.manifest_digest.clone())
}

/// What Debian's version is made of: (epoch, upstream, revision), as
/// scanners that split versions (Trivy's SrcEpoch/SrcVersion/SrcRelease) want it.
pub(super) fn debian_version_parts(v: &str) -> (&str, &str, &str) {
    let (epoch, rest) = match v.split_once(':') {
        Some((e, rest)) if e.bytes().all(|b| b.is_ascii_digit()) => (e, rest),
        _ => ("", v),
    };
    let (upstream, revision) = rest.rsplit_once('-').unwrap_or((rest, ""));
    (epoch, upstream, revision)
}

/// Who supplies an operating system's packages: "Debian" for debian.
pub(super) fn os_supplier(os: &Os) -> String {
    match os.id.as_str() {
        "debian" => "Debian".to_string(),
        other => other.to_string(),
    }
}

pub(super) fn to_bytes(doc: &Value) -> Vec<u8> {
    // serde_json's map is a BTreeMap (no `preserve_order`): keys come out sorted.
    let mut bytes = serde_json::to_vec_pretty(doc).expect("a JSON value always serializes");
    bytes.push(b'\n');
    bytes
}

/// The tool as name and version: "dhib 0.1.0" → ("dhib", Some("0.1.0")).
pub(super) fn tool_parts(tool: &str) -> (&str, Option<&str>) {
    match tool.trim().split_once(char::is_whitespace) {
        Some((name, version)) => (name, Some(version.trim())),
        None => (tool.trim(), None),
    }
}

#[cfg(test)]
mod tests;
