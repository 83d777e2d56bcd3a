//! Just enough of package URLs to match them: a purl's parts, decoded.

/// A package URL taken apart; `name` and `version` are percent-decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Purl {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub version: Option<String>,
    pub qualifiers: Vec<(String, String)>,
}

pub fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Some(b) = s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Purl {
    pub fn parse(s: &str) -> Option<Purl> {
        let rest = s.trim().strip_prefix("pkg:")?.trim_start_matches('/');
        let rest = rest.split('#').next().unwrap_or(rest);
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (path, version) = match rest.rsplit_once('@') {
            Some((p, v)) if !p.is_empty() => (p, Some(decode(v))),
            _ => (rest, None),
        };
        let (kind, path) = path.split_once('/')?;
        let (namespace, name) = path.rsplit_once('/').unwrap_or(("", path));
        let qualifiers = query.split('&').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_ascii_lowercase(), decode(v))).collect();
        Some(Purl { kind: kind.to_ascii_lowercase(), namespace: decode(namespace), name: decode(name), version, qualifiers })
    }

    pub fn qualifier(&self, key: &str) -> Option<&str> {
        self.qualifiers.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// "type/namespace/name": what matching compares.
    pub fn base(&self) -> String {
        if self.namespace.is_empty() {
            format!("{}/{}", self.kind, self.name)
        } else {
            format!("{}/{}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// The base of a purl string, or the string itself when it is none.
pub fn base(s: &str) -> String {
    Purl::parse(s).map(|p| p.base()).unwrap_or_else(|| s.to_string())
}

/// Whether a purl a VEX statement names applies to a package's purl: the
/// same type, namespace and name; the same version, when it gives one; and
/// every qualifier it gives, the package has too (a plain purl names the
/// package whatever its qualifiers).
pub fn names(statement: &str, package: &str) -> bool {
    let (Some(s), Some(p)) = (Purl::parse(statement), Purl::parse(package)) else { return statement == package };
    s.base() == p.base()
        && s.version.as_ref().is_none_or(|v| p.version.as_ref() == Some(v))
        && s.qualifiers.iter().all(|(k, v)| p.qualifier(k) == Some(v.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_purls_apart() {
        let p = Purl::parse("pkg:deb/debian/zlib1g@1%3A1.2.13.dfsg-1?arch=amd64&distro=debian-12&upstream=zlib").unwrap();
        assert_eq!((p.kind.as_str(), p.namespace.as_str(), p.name.as_str()), ("deb", "debian", "zlib1g"));
        assert_eq!(p.version.as_deref(), Some("1:1.2.13.dfsg-1"));
        assert_eq!(p.qualifier("upstream"), Some("zlib"));
        assert_eq!(Purl::parse("pkg:oci/lua@sha256%3Aab").unwrap().version.as_deref(), Some("sha256:ab"));
        assert!(names("pkg:generic/zlib@1.2.13", "pkg:generic/zlib@1.2.13?download_url=x"));
        assert!(!names("pkg:generic/zlib@1.2.12", "pkg:generic/zlib@1.2.13"));
        assert!(!names("pkg:generic/zlib@1.2.13?arch=arm64", "pkg:generic/zlib@1.2.13?arch=amd64"));
    }
}
