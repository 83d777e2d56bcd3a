//! Package URLs: of packages (Debian's `pkg:deb`, `pkg:generic` for what
//! dhib built), of source archives, and of the image itself (`pkg:oci`).

use super::*;

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

pub(super) fn purl_in(p: &Package, subject: Option<&Subject>) -> String {
    match &p.origin {
        Origin::Deb { arch, source, distro, .. } => {
            // `upstream` names the source package, as Syft writes it:
            // "NAME", or "NAME@VERSION" when its version is not the binary's.
            let upstream = match source {
                Some((name, version)) if version != &p.version => format!("{name}@{version}"),
                Some((name, _)) if name != &p.name => name.clone(),
                _ => String::new(),
            };
            let qualifiers = vec![("arch", arch.as_str()), ("distro", distro.as_str()), ("upstream", upstream.as_str())];
            format!("pkg:deb/{}/{}{}{}", pct(deb_vendor(distro), b""), pct(&p.name, b""), at_version(&p.version), query(&qualifiers))
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

/// The namespace of a deb's purl, the vendor: "debian" of "debian-12".
fn deb_vendor(distro: &str) -> &str {
    distro.split('-').next().filter(|v| !v.is_empty()).unwrap_or("debian")
}

/// The purl of a package without qualifiers: how VEX statements name
/// components, so that a scanner's match (by type, name and version, as
/// Trivy and Grype match) holds whatever qualifiers the SBOM adds.
pub fn plain_purl(p: &Package) -> String {
    match &p.origin {
        Origin::Deb { distro, .. } => format!("pkg:deb/{}/{}{}", pct(deb_vendor(distro), b""), pct(&p.name, b""), at_version(&p.version)),
        Origin::Built { .. } => format!("pkg:generic/{}{}", pct(&p.name, b""), at_version(&p.version)),
        _ => purl(p),
    }
}

pub(super) fn source_purl(s: &Source) -> String {
    let version = s.version.as_deref().map(at_version).unwrap_or_default();
    format!("pkg:generic/{}{version}{}", pct(label_name(&s.label), b""), source_qualifiers(s))
}

pub(super) fn source_qualifiers(s: &Source) -> String {
    let checksum = format!("sha256:{}", bare_sha256(&s.sha256).unwrap_or(&s.sha256));
    query(&[("checksum", &checksum), ("download_url", &s.url)])
}

pub(super) fn at_version(version: &str) -> String {
    if version.is_empty() {
        String::new()
    } else {
        format!("@{}", pct(version, b""))
    }
}

/// `?k=v&…` with the keys in the canonical (sorted) order; values keep `:`
/// and `/` readable as the purl spec's examples do.
pub(super) fn query(qualifiers: &[(&str, &str)]) -> String {
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
pub(super) fn pct(s: &str, keep: &[u8]) -> String {
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
pub(super) fn split_reference(reference: &str) -> (&str, Option<&str>) {
    let without_digest = reference.split('@').next().unwrap_or(reference);
    let last_slash = without_digest.rfind('/').map_or(0, |i| i + 1);
    match without_digest[last_slash..].rfind(':') {
        Some(i) => (&without_digest[..last_slash + i], Some(&without_digest[last_slash + i + 1..])),
        None => (without_digest, None),
    }
}

/// The name part of a label: "lua-src" of "//examples/sources:lua-src".
pub(super) fn label_name(label: &str) -> &str {
    label.rsplit([':', '/']).next().filter(|n| !n.is_empty()).unwrap_or(label)
}
