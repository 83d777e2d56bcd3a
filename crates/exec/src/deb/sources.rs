//! A repository's `Sources` index: one deb822 paragraph per source package,
//! and the restrictions of its Build-Depends (`[amd64]`, `<!nobiarch>`).

use super::control::{paragraphs, parse_fields};
use super::resolve::{parse_relations, RelationError};

/// One source package of a `Sources` index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceEntry {
    pub package: String,
    pub version: String,
    /// Where its files are in the archive (`pool/main/z/zlib`).
    pub directory: String,
    /// Each file (the `.dsc` among them) by name, with its sha256.
    pub files: Vec<(String, String)>,
    /// `Build-Depends`, `Build-Depends-Arch` and `Build-Depends-Indep`
    /// together: a binary build (`-b`) needs all three.
    pub build_depends: String,
}

/// The source packages of an index's text, in index order.
pub fn parse_sources(text: &str) -> Vec<SourceEntry> {
    paragraphs(text)
        .into_iter()
        .filter_map(|p| {
            let f = parse_fields(p);
            let files = f
                .get("Checksums-Sha256")?
                .lines()
                .filter_map(|l| {
                    let mut w = l.split_whitespace();
                    let (sha, _size, name) = (w.next()?, w.next()?, w.next()?);
                    Some((name.to_string(), sha.to_string()))
                })
                .collect();
            let build_depends = ["Build-Depends", "Build-Depends-Arch", "Build-Depends-Indep"]
                .iter()
                .filter_map(|k| f.get(*k))
                .map(|v| v.replace('\n', " "))
                .collect::<Vec<_>>()
                .join(", ");
            Some(SourceEntry {
                package: f.get("Package")?.clone(),
                version: f.get("Version")?.clone(),
                directory: f.get("Directory")?.clone(),
                files,
                build_depends,
            })
        })
        .collect()
}

/// The relation groups of a Build-Depends field that apply when building
/// for `arch` with `profiles`, restrictions removed: an alternative with
/// `[arch ...]` or `<profile ...>` that excludes this build is dropped, and
/// a group with no alternative left.
pub fn build_relations(field: &str, arch: &str, profiles: &[String]) -> Result<Vec<String>, RelationError> {
    let mut out = Vec::new();
    for group in field.split(',').map(str::trim).filter(|g| !g.is_empty()) {
        let mut kept = Vec::new();
        for alt in group.split('|') {
            let (relation, applies) = restricted(alt.trim(), arch, profiles).ok_or_else(|| RelationError(alt.trim().to_string()))?;
            if applies {
                kept.push(relation);
            }
        }
        if !kept.is_empty() {
            let text = kept.join(" | ");
            parse_relations(&text)?;
            out.push(text);
        }
    }
    Ok(out)
}

/// One alternative without its restrictions, and whether it applies.
fn restricted(alt: &str, arch: &str, profiles: &[String]) -> Option<(String, bool)> {
    let mut relation = alt;
    let mut applies = true;
    if let Some(at) = alt.find(['[', '<']) {
        relation = alt[..at].trim_end();
        let mut rest = &alt[at..];
        let mut any_profile_group: Option<bool> = None;
        while let Some(c) = rest.chars().next() {
            let close = match c {
                '[' => ']',
                '<' => '>',
                ' ' | '\t' => {
                    rest = &rest[1..];
                    continue;
                }
                _ => return None,
            };
            let end = rest.find(close)?;
            let terms: Vec<&str> = rest[1..end].split_whitespace().collect();
            rest = &rest[end + 1..];
            if c == '[' {
                // All negated (`[!amd64 !i386]`) or all plain (`[amd64 i386]`).
                let negated = terms.iter().all(|t| t.starts_with('!'));
                let hit = terms.iter().any(|t| arch_matches(t.trim_start_matches('!'), arch));
                applies &= if negated { !hit } else { hit };
            } else {
                // Each `<...>` is a conjunction; several are alternatives.
                let all = terms.iter().all(|t| match t.strip_prefix('!') {
                    Some(p) => !profiles.iter().any(|x| x == p),
                    None => profiles.iter().any(|x| x == t),
                });
                any_profile_group = Some(any_profile_group.unwrap_or(false) || all);
            }
        }
        applies &= any_profile_group.unwrap_or(true);
    }
    Some((relation.to_string(), applies))
}

/// Whether an architecture restriction term (`amd64`, `any`, `linux-any`,
/// `any-amd64`) names the Debian architecture `arch`.
fn arch_matches(term: &str, arch: &str) -> bool {
    term == arch || term == "any" || term == "linux-any" || term == format!("any-{arch}") || term == format!("linux-{arch}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restrictions_are_evaluated_for_the_arch_and_profiles() {
        let zlib = "debhelper (>= 13), gcc-multilib [amd64 i386 x32] <!nobiarch>, dpkg-dev (>= 1.16.1)";
        assert_eq!(build_relations(zlib, "amd64", &[]).unwrap(), ["debhelper (>= 13)", "gcc-multilib", "dpkg-dev (>= 1.16.1)"]);
        assert_eq!(build_relations(zlib, "amd64", &["nobiarch".into()]).unwrap(), ["debhelper (>= 13)", "dpkg-dev (>= 1.16.1)"]);
        assert_eq!(build_relations(zlib, "arm64", &[]).unwrap(), ["debhelper (>= 13)", "dpkg-dev (>= 1.16.1)"]);
        let mixed = "libfoo-dev [!hurd-any] | libbar-dev, python3 <!nocheck> <pkg.x.y>, tzdata [linux-any] <!nocheck !nodoc>";
        assert_eq!(build_relations(mixed, "amd64", &["nocheck".into()]).unwrap(), ["libfoo-dev | libbar-dev"]);
        assert_eq!(build_relations(mixed, "amd64", &[]).unwrap(), ["libfoo-dev | libbar-dev", "python3", "tzdata"]);
        assert!(build_relations("foo [amd64", "amd64", &[]).is_err());
    }

    #[test]
    fn reads_a_source_paragraph() {
        let text = "Package: zlib\nVersion: 1:1.2.13.dfsg-1\nBuild-Depends: debhelper (>= 13),\n dpkg-dev\nBuild-Depends-Indep: doxygen\n\
                    Checksums-Sha256:\n 3fa1 2399 zlib_1.2.13.dfsg-1.dsc\n 71fe 1239825 zlib_1.2.13.dfsg.orig.tar.bz2\nDirectory: pool/main/z/zlib\n";
        let s = &parse_sources(text)[0];
        assert_eq!((s.package.as_str(), s.version.as_str(), s.directory.as_str()), ("zlib", "1:1.2.13.dfsg-1", "pool/main/z/zlib"));
        assert_eq!(s.files[0], ("zlib_1.2.13.dfsg-1.dsc".to_string(), "3fa1".to_string()));
        assert_eq!(build_relations(&s.build_depends, "amd64", &[]).unwrap(), ["debhelper (>= 13)", "dpkg-dev", "doxygen"]);
    }
}
