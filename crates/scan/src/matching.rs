//! Which records affect which packages: Debian records by the image's
//! release (`Debian:12`) and the source package, in Debian's version
//! order; everything else by purl or by CPE, in upstream version order or
//! by the record's list of affected versions.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use crate::inventory::{Inventory, Package};
use crate::osv::{Affected, Database, Record};
use crate::{cpe, purl, version, Severity};

/// One vulnerability of one package.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Finding {
    /// The name it is best known by: its CVE when it has one.
    pub vulnerability: String,
    /// The records that report it.
    pub records: Vec<String>,
    pub aliases: Vec<String>,
    pub package: String,
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purl: Option<String>,
    /// How it matched: "Debian:12 source zlib 1:1.2.13.dfsg-1", "cpe zlib:zlib", "purl pkg:generic/zlib".
    pub matched_by: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixed_in: Option<String>,
    pub severity: Severity,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    pub summary: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Set when a VEX statement says the image is not affected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suppressed: Option<crate::vex::Suppression>,
}

/// Every finding of the inventory, sorted by severity (worst first), then
/// vulnerability and package.
pub fn findings(inv: &Inventory, db: &Database) -> Vec<Finding> {
    let ecosystem = inv.os.as_ref().and_then(|o| o.ecosystem());
    let mut by_key: BTreeMap<(String, String, String), Finding> = BTreeMap::new();
    for p in &inv.packages {
        let mut hits: Vec<(&Record, Option<String>, String)> = Vec::new();
        if p.is_deb() {
            let (Some(eco), Some((source, source_version))) = (&ecosystem, &p.source) else { continue };
            for r in db.for_package(eco, source) {
                for a in r.affected.iter().filter(|a| a.package.as_ref().is_some_and(|ap| &ap.ecosystem == eco && &ap.name == source)) {
                    if let Some(fixed) = affects(a, source_version) {
                        hits.push((r, fixed, format!("{eco} source {source} {source_version}")));
                    }
                }
            }
        } else {
            upstream_hits(p, db, &mut hits);
        }
        for (r, fixed, how) in hits {
            let vulnerability = r.names().find(|n| n.starts_with("CVE-")).unwrap_or(&r.id).to_string();
            let (severity, score) = db.severity(r);
            let key = (vulnerability.clone(), p.name.clone(), p.version.clone());
            let f = by_key.entry(key).or_insert_with(|| Finding {
                vulnerability: vulnerability.clone(),
                records: Vec::new(),
                aliases: Vec::new(),
                package: p.name.clone(),
                version: p.version.clone(),
                purl: p.purl.clone(),
                matched_by: how.clone(),
                fixed_in: None,
                severity,
                score,
                summary: String::new(),
                url: None,
                suppressed: None,
            });
            f.records.push(r.id.clone());
            f.aliases.extend(r.names().filter(|n| *n != vulnerability).map(str::to_string));
            if severity > f.severity {
                (f.severity, f.score) = (severity, score);
            }
            if f.fixed_in.is_none() {
                f.fixed_in = fixed.filter(|v| v != "0");
            }
            if f.summary.is_empty() {
                f.summary = r.summary.clone().or_else(|| r.details.as_deref().map(first_line)).unwrap_or_default();
            }
            if f.url.is_none() {
                f.url = r.references.iter().find(|x| x.kind == "ADVISORY").or(r.references.first()).map(|x| x.url.clone());
            }
        }
    }
    let mut out: Vec<Finding> = by_key
        .into_values()
        .map(|mut f| {
            f.records.sort();
            f.records.dedup();
            f.aliases.sort();
            f.aliases.dedup();
            f.aliases.retain(|a| !f.records.contains(a));
            f
        })
        .collect();
    out.sort_by(|a, b| b.severity.cmp(&a.severity).then_with(|| (&a.vulnerability, &a.package).cmp(&(&b.vulnerability, &b.package))));
    out
}

fn first_line(s: &str) -> String {
    let line = s.lines().find(|l| !l.trim().is_empty()).unwrap_or_default().trim();
    let mut out: String = line.chars().take(160).collect();
    if line.chars().count() > 160 {
        out.push('…');
    }
    out
}

/// A from-source package's records: by its purl's type/namespace/name, and
/// by the vendor and product of its CPEs.
fn upstream_hits<'d>(p: &Package, db: &'d Database, hits: &mut Vec<(&'d Record, Option<String>, String)>) {
    if let Some(base) = p.purl.as_deref().map(purl::base) {
        for r in db.for_purl(&base) {
            for a in
                r.affected.iter().filter(|a| a.package.as_ref().and_then(|ap| ap.purl.as_deref()).map(purl::base) == Some(base.clone()))
            {
                if let Some(fixed) = affects(a, &p.version) {
                    hits.push((r, fixed, format!("purl pkg:{base}")));
                }
            }
        }
    }
    for c in &p.cpes {
        let Some(product) = cpe::product(c) else { continue };
        let version = cpe::version(c).unwrap_or_else(|| p.version.clone());
        for r in db.for_cpe(&product) {
            for a in r.affected.iter().filter(|a| a.cpes().iter().any(|x| cpe::product(x).as_deref() == Some(product.as_str()))) {
                // A record's CPE with a version names exactly that version.
                let exact = a.cpes().iter().filter_map(|x| cpe::version(x)).any(|v| version::compare(&v, &version) == Ordering::Equal);
                if exact {
                    hits.push((r, None, format!("cpe {product}")));
                } else if let Some(fixed) = affects(a, &version) {
                    hits.push((r, fixed, format!("cpe {product}")));
                }
            }
        }
    }
}

/// Whether `v` is affected by the entry: `Some(fixed version)` when it
/// is (the fix, if a range gives one), `None` when not.
pub fn affects(a: &Affected, v: &str) -> Option<Option<String>> {
    let normal = normalize(v);
    if a.versions.iter().any(|x| version::compare(normalize(x), normal) == Ordering::Equal) {
        let fixed = a
            .ranges
            .iter()
            .flat_map(|r| &r.events)
            .filter_map(|e| e.fixed.as_deref())
            .find(|f| version::compare(normalize(f), normal) == Ordering::Greater);
        return Some(fixed.map(str::to_string));
    }
    for r in &a.version_ranges() {
        fn at(e: &Option<String>) -> Option<&str> {
            e.as_deref().map(normalize)
        }
        let mut events: Vec<(&str, u8)> = Vec::new();
        for e in &r.events {
            // The order of events at one version: introduced first, so a
            // fix at the same version wins.
            if let Some(x) = at(&e.introduced) {
                events.push((x, 0));
            }
            if let Some(x) = at(&e.fixed) {
                events.push((x, 1));
            }
            if let Some(x) = at(&e.last_affected) {
                events.push((x, 2));
            }
            if let Some(x) = at(&e.limit) {
                events.push((x, 3));
            }
        }
        events.sort_by(|a, b| version::compare(a.0, b.0).then(a.1.cmp(&b.1)));
        let mut affected = false;
        let mut fixed = None;
        for (x, kind) in &events {
            let c = if *x == "0" { Ordering::Greater } else { version::compare(normal, x) };
            match kind {
                0 if c != Ordering::Less => affected = true,
                1 | 3 if c != Ordering::Less => affected = false,
                2 if c == Ordering::Greater => affected = false,
                1 if affected && fixed.is_none() => fixed = Some(x.to_string()),
                _ => {}
            }
        }
        if affected {
            return Some(fixed);
        }
    }
    None
}

/// A version as upstream tags name it, without a leading "v" or "name-".
fn normalize(v: &str) -> &str {
    let v = v.trim();
    if v.contains(':') || v.starts_with(|c: char| c.is_ascii_digit()) {
        return v;
    }
    v.find(|c: char| c.is_ascii_digit()).map_or(v, |i| &v[i..])
}

/// The severities counted, worst first, as a report's summary gives them.
pub fn counts(findings: &[Finding]) -> BTreeMap<Severity, usize> {
    let mut out = BTreeMap::new();
    for f in findings.iter().filter(|f| f.suppressed.is_none()) {
        *out.entry(f.severity).or_insert(0) += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::osv::{Event, Range};

    fn range(events: &[(&str, &str)]) -> Affected {
        let events = events
            .iter()
            .map(|(k, v)| {
                let v = Some(v.to_string());
                match *k {
                    "introduced" => Event { introduced: v, ..Default::default() },
                    "fixed" => Event { fixed: v, ..Default::default() },
                    _ => Event { last_affected: v, ..Default::default() },
                }
            })
            .collect();
        Affected { ranges: vec![Range { kind: "ECOSYSTEM".into(), events, ..Default::default() }], ..Default::default() }
    }

    #[test]
    fn ranges_in_debian_order() {
        let a = range(&[("introduced", "0"), ("fixed", "1:1.3.dfsg-3")]);
        assert_eq!(affects(&a, "1:1.2.13.dfsg-1"), Some(Some("1:1.3.dfsg-3".into())));
        assert_eq!(affects(&a, "1:1.3.dfsg-3"), None);
        assert_eq!(affects(&a, "1:1.3.dfsg-3+b1"), None);
        let a = range(&[("introduced", "0"), ("fixed", "2.36-9+deb12u3")]);
        assert_eq!(affects(&a, "2.36-9+deb12u2"), Some(Some("2.36-9+deb12u3".into())));
        assert_eq!(affects(&a, "2.36-9+deb12u10"), None);
        let a = range(&[("introduced", "1.2.2"), ("last_affected", "1.2.11")]);
        assert_eq!(affects(&a, "1.2.11"), Some(None));
        assert_eq!(affects(&a, "1.2.12"), None);
        assert_eq!(affects(&a, "1.2.1"), None);
        // An entry without a fix: every version from the introduction on.
        assert_eq!(affects(&range(&[("introduced", "0")]), "1:1.2.13.dfsg-1+deb12u1"), Some(None));
    }

    #[test]
    fn lists_of_versions_as_tags_name_them() {
        let a = Affected { versions: vec!["v1.2.11".into(), "v1.2.12".into()], ..Default::default() };
        assert!(affects(&a, "1.2.12").is_some());
        assert!(affects(&a, "1.2.13").is_none());
    }
}
