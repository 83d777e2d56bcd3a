//! Debian repository indexes: `Packages` files, Debian's version ordering,
//! and the dependency closure `dhib lock` pins.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::deb::parse_fields;

/// One paragraph of a `Packages` index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    pub package: String,
    pub version: String,
    pub architecture: String,
    pub filename: String,
    pub sha256: String,
    pub size: u64,
    pub depends: String,
    pub pre_depends: String,
    pub provides: String,
}

pub fn parse_packages(text: &str) -> Vec<IndexEntry> {
    text.split("\n\n")
        .filter(|p| !p.trim().is_empty())
        .filter_map(|p| {
            let f = parse_fields(p);
            let get = |k: &str| f.get(k).cloned().unwrap_or_default();
            Some(IndexEntry {
                package: f.get("Package")?.clone(),
                version: f.get("Version")?.clone(),
                architecture: get("Architecture"),
                filename: f.get("Filename")?.clone(),
                sha256: get("SHA256"),
                size: get("Size").parse().unwrap_or(0),
                depends: get("Depends"),
                pre_depends: get("Pre-Depends"),
                provides: get("Provides"),
            })
        })
        .collect()
}

/// dpkg's ordering of one character in a non-digit run: `~` before the end
/// of the string, letters before everything else.
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(b'~') => -1,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => c as i32,
        Some(c) => c as i32 + 256,
    }
}

fn verrevcmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let mut first_diff = 0i32;
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let (ac, bc) = (order(a.get(i).copied()), order(b.get(j).copied()));
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        while i < a.len() && a[i] == b'0' {
            i += 1;
        }
        while j < b.len() && b[j] == b'0' {
            j += 1;
        }
        while i < a.len() && j < b.len() && a[i].is_ascii_digit() && b[j].is_ascii_digit() {
            if first_diff == 0 {
                first_diff = a[i] as i32 - b[j] as i32;
            }
            i += 1;
            j += 1;
        }
        if i < a.len() && a[i].is_ascii_digit() {
            return Ordering::Greater;
        }
        if j < b.len() && b[j].is_ascii_digit() {
            return Ordering::Less;
        }
        if first_diff != 0 {
            return first_diff.cmp(&0);
        }
    }
    Ordering::Equal
}

/// Compares two Debian versions (`[epoch:]upstream[-revision]`) as dpkg does.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    fn split(v: &str) -> (u64, &str, &str) {
        let (epoch, rest) = match v.split_once(':') {
            Some((e, r)) if e.chars().all(|c| c.is_ascii_digit()) => (e.parse().unwrap_or(0), r),
            _ => (0, v),
        };
        match rest.rsplit_once('-') {
            Some((up, rev)) => (epoch, up, rev),
            None => (epoch, rest, ""),
        }
    }
    let (ea, ua, ra) = split(a);
    let (eb, ub, rb) = split(b);
    ea.cmp(&eb).then_with(|| verrevcmp(ua, ub)).then_with(|| verrevcmp(ra, rb))
}

/// `name[:arch] [(op version)] [[arch list]]`, one alternative of a relation.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Relation {
    name: String,
    constraint: Option<(String, String)>,
}

fn parse_relation(text: &str) -> Option<Relation> {
    let text = text.split('[').next()?.trim();
    let (name_part, constraint) = match text.split_once('(') {
        Some((n, c)) => {
            let c = c.trim_end_matches(')').trim();
            let op_len = c.find(|ch: char| !"<>=".contains(ch)).unwrap_or(c.len());
            (n.trim(), Some((c[..op_len].to_string(), c[op_len..].trim().to_string())))
        }
        None => (text, None),
    };
    let name = name_part.split(':').next()?.trim().to_string();
    (!name.is_empty()).then_some(Relation { name, constraint })
}

/// Groups of alternatives, from a Depends-style field.
fn parse_relations(field: &str) -> Vec<Vec<Relation>> {
    field
        .split(',')
        .filter(|g| !g.trim().is_empty())
        .map(|g| g.split('|').filter_map(parse_relation).collect())
        .filter(|g: &Vec<Relation>| !g.is_empty())
        .collect()
}

fn satisfies(version: &str, constraint: &Option<(String, String)>) -> bool {
    let Some((op, want)) = constraint else { return true };
    let c = compare_versions(version, want);
    match op.as_str() {
        ">=" => c != Ordering::Less,
        "<=" => c != Ordering::Greater,
        ">>" | ">" => c == Ordering::Greater,
        "<<" | "<" => c == Ordering::Less,
        "=" => c == Ordering::Equal,
        _ => false,
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot resolve {chain}: {why}")]
pub struct ResolveError {
    pub chain: String,
    pub why: String,
}

/// The resolved closure: each selected entry and, for each of its relation
/// groups, the selected package that satisfies it.
#[derive(Debug, Clone)]
pub struct Resolved<'a> {
    pub entries: BTreeMap<String, &'a IndexEntry>,
    pub depends: BTreeMap<String, BTreeSet<String>>,
}

/// Resolves `roots` and everything they depend on (Depends and Pre-Depends)
/// against `index`, for `arch` (and `all`). The highest version satisfying a
/// relation wins; a relation on a virtual package is satisfied by a provider.
pub fn resolve<'a>(index: &'a [IndexEntry], roots: &[&str], arch: &str) -> Result<Resolved<'a>, ResolveError> {
    let mut by_name: BTreeMap<&str, Vec<&IndexEntry>> = BTreeMap::new();
    let mut providers: BTreeMap<String, Vec<(&IndexEntry, Option<String>)>> = BTreeMap::new();
    for e in index.iter().filter(|e| e.architecture == arch || e.architecture == "all") {
        by_name.entry(e.package.as_str()).or_default().push(e);
        for p in e.provides.split(',').filter_map(parse_relation) {
            let version = p.constraint.map(|(_, v)| v);
            providers.entry(p.name).or_default().push((e, version));
        }
    }
    for v in by_name.values_mut() {
        v.sort_by(|a, b| compare_versions(&b.version, &a.version));
    }
    let best = |rel: &Relation| -> Option<&'a IndexEntry> {
        by_name.get(rel.name.as_str()).and_then(|v| v.iter().find(|e| satisfies(&e.version, &rel.constraint)).copied())
    };
    let provider = |rel: &Relation| -> Option<&'a IndexEntry> {
        let mut candidates: Vec<&'a IndexEntry> = providers
            .get(&rel.name)?
            .iter()
            .filter(|(_, pv)| rel.constraint.is_none() || pv.as_ref().is_some_and(|v| satisfies(v, &rel.constraint)))
            .map(|(e, _)| *e)
            .collect();
        candidates.sort_by(|a, b| a.package.cmp(&b.package).then_with(|| compare_versions(&b.version, &a.version)));
        candidates.first().copied()
    };
    let mut out = Resolved { entries: BTreeMap::new(), depends: BTreeMap::new() };
    let mut queue: VecDeque<(&'a IndexEntry, String)> = VecDeque::new();
    for r in roots {
        let rel = Relation { name: r.to_string(), constraint: None };
        let e = best(&rel).or_else(|| provider(&rel)).ok_or_else(|| ResolveError {
            chain: r.to_string(),
            why: format!("no package `{r}` for {arch} in the index"),
        })?;
        if out.entries.insert(e.package.clone(), e).is_none() {
            queue.push_back((e, e.package.clone()));
        }
    }
    while let Some((e, chain)) = queue.pop_front() {
        let mut deps = BTreeSet::new();
        for group in parse_relations(&e.pre_depends).into_iter().chain(parse_relations(&e.depends)) {
            // Already satisfied by something selected?
            let chosen = group.iter().find_map(|rel| {
                out.entries.get(&rel.name).filter(|s| satisfies(&s.version, &rel.constraint)).map(|s| s.package.clone()).or_else(|| {
                    out.entries
                        .values()
                        .find(|s| {
                            s.provides.split(',').filter_map(parse_relation).any(|p| {
                                p.name == rel.name
                                    && (rel.constraint.is_none() || p.constraint.as_ref().is_some_and(|(_, v)| satisfies(v, &rel.constraint)))
                            })
                        })
                        .map(|s| s.package.clone())
                })
            });
            let name = match chosen {
                Some(n) => n,
                None => {
                    let picked = group.iter().find_map(|rel| best(rel).or_else(|| provider(rel))).ok_or_else(|| {
                        let wanted: Vec<String> = group
                            .iter()
                            .map(|r| match &r.constraint {
                                Some((op, v)) => format!("{} ({op} {v})", r.name),
                                None => r.name.clone(),
                            })
                            .collect();
                        ResolveError { chain: format!("{chain} -> {}", wanted.join(" | ")), why: "not in the index".into() }
                    })?;
                    if !out.entries.contains_key(&picked.package) {
                        out.entries.insert(picked.package.clone(), picked);
                        queue.push_back((picked, format!("{chain} -> {}", picked.package)));
                    }
                    picked.package.clone()
                }
            };
            if name != e.package {
                deps.insert(name);
            }
        }
        out.depends.insert(e.package.clone(), deps);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_order_as_dpkg_orders_them() {
        let less = [
            ("1.0~rc1", "1.0"),
            ("1.0", "1.0a"),
            ("2.0", "1:0.9"),
            ("2.36-9+deb12u9", "2.36-9+deb12u14"),
            ("1.2.13.dfsg-1", "1:1.2.13.dfsg-1"),
            ("1.0~~", "1.0~"),
            ("1.9", "1.10"),
            ("1.0-1", "1.0-1.1"),
            ("5.4.4-3", "5.4.4-3+deb12u1"),
        ];
        for (a, b) in less {
            assert_eq!(compare_versions(a, b), Ordering::Less, "{a} < {b}");
            assert_eq!(compare_versions(b, a), Ordering::Greater, "{b} > {a}");
        }
        assert_eq!(compare_versions("1.01", "1.1"), Ordering::Equal);
        assert_eq!(compare_versions("0:1.0", "1.0"), Ordering::Equal);
    }

    const INDEX: &str = "\
Package: app
Version: 1.0
Architecture: amd64
Filename: pool/a/app.deb
Depends: libc6 (>= 2.30), mail-transport-agent | exim4, libold (<< 2)
Pre-Depends: dpkg

Package: libc6
Version: 2.36-9
Architecture: amd64
Filename: pool/l/libc6_2.36-9.deb

Package: libc6
Version: 2.28-10
Architecture: amd64
Filename: pool/l/libc6_2.28-10.deb

Package: postfix
Version: 3.7
Architecture: amd64
Filename: pool/p/postfix.deb
Provides: mail-transport-agent
Depends: libc6

Package: libold
Version: 3.0
Architecture: amd64
Filename: pool/l/libold3.deb

Package: libold
Version: 1.5
Architecture: amd64
Filename: pool/l/libold1.deb

Package: dpkg
Version: 1.21
Architecture: amd64
Filename: pool/d/dpkg.deb
Depends: tar:any

Package: tar
Version: 1.34
Architecture: amd64
Filename: pool/t/tar.deb

Package: armonly
Version: 1
Architecture: arm64
Filename: pool/a/armonly.deb
";

    #[test]
    fn resolves_versions_alternatives_providers_and_qualifiers() {
        let index = parse_packages(INDEX);
        let r = resolve(&index, &["app"], "amd64").unwrap();
        let picked: Vec<(&str, &str)> = r.entries.values().map(|e| (e.package.as_str(), e.version.as_str())).collect();
        assert_eq!(
            picked,
            [("app", "1.0"), ("dpkg", "1.21"), ("libc6", "2.36-9"), ("libold", "1.5"), ("postfix", "3.7"), ("tar", "1.34")]
        );
        assert_eq!(r.depends["app"], BTreeSet::from(["dpkg", "libc6", "libold", "postfix"].map(String::from)));
        assert_eq!(r.depends["dpkg"], BTreeSet::from(["tar".to_string()]));
    }

    #[test]
    fn unsatisfiable_relations_name_the_chain() {
        let index = parse_packages(&INDEX.replace("Depends: tar:any", "Depends: tar (>= 9)"));
        let e = resolve(&index, &["app"], "amd64").unwrap_err();
        assert_eq!(e.to_string(), "cannot resolve app -> dpkg -> tar (>= 9): not in the index");
        assert!(resolve(&index, &["armonly"], "amd64").is_err());
    }
}
