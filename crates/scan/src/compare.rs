//! Two images side by side, as `docker scout compare` shows them: the
//! analyzed image against a baseline, with every delta from the baseline
//! to the analyzed image.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::Serialize;

use crate::inventory::Inventory;
use crate::report::Report;
use crate::{version, Severity};

/// What is known of one image.
#[derive(Clone, Debug, Default)]
pub struct Image {
    /// As named on the command line.
    pub target: String,
    pub digest: String,
    pub platforms: Vec<String>,
    /// Bytes of its layers and config, as stored (compressed).
    pub size: u64,
    pub env: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    /// From its provenance: where it was built from, and at which revision.
    pub source: Option<String>,
    pub revision: Option<String>,
    pub inventory: Inventory,
    /// With a database.
    pub scan: Option<Report>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    Added,
    Removed,
    Upgraded,
    Downgraded,
    Unchanged,
}

impl Change {
    fn mark(self) -> &'static str {
        match self {
            Change::Added => "+",
            Change::Removed => "-",
            Change::Upgraded => "↑",
            Change::Downgraded => "↓",
            Change::Unchanged => " ",
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct PackageChange {
    pub name: String,
    pub change: Change,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analyzed: Option<String>,
    /// Vulnerabilities of the baseline's package the change removes.
    pub fixes: Vec<String>,
    /// Vulnerabilities of the analyzed package the baseline's did not have.
    pub brings: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct KeyChange {
    pub key: String,
    pub change: Change,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analyzed: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Side {
    pub target: String,
    pub digest: String,
    pub platforms: Vec<String>,
    pub size: u64,
    pub packages: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vulnerabilities: Option<BTreeMap<Severity, usize>>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub analyzed: Side,
    pub baseline: Side,
    pub env: Vec<KeyChange>,
    pub labels: Vec<KeyChange>,
    pub packages: Vec<PackageChange>,
}

fn side(i: &Image) -> Side {
    Side {
        target: i.target.clone(),
        digest: i.digest.clone(),
        platforms: i.platforms.clone(),
        size: i.size,
        packages: i.inventory.packages.len(),
        source: i.source.clone(),
        revision: i.revision.clone(),
        vulnerabilities: i.scan.as_ref().map(|r| r.counts.clone()),
    }
}

fn keys(baseline: &BTreeMap<String, String>, analyzed: &BTreeMap<String, String>, unchanged: bool) -> Vec<KeyChange> {
    let all: BTreeSet<&String> = baseline.keys().chain(analyzed.keys()).collect();
    all.into_iter()
        .filter_map(|k| {
            let (b, a) = (baseline.get(k), analyzed.get(k));
            let change = match (b, a) {
                (None, Some(_)) => Change::Added,
                (Some(_), None) => Change::Removed,
                (Some(x), Some(y)) if x != y => Change::Upgraded,
                _ if unchanged => Change::Unchanged,
                _ => return None,
            };
            Some(KeyChange { key: k.clone(), change, baseline: b.cloned(), analyzed: a.cloned() })
        })
        .collect()
}

/// The vulnerabilities each package has, unsuppressed.
fn vulns(i: &Image) -> BTreeMap<&str, BTreeSet<&str>> {
    let mut out: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for f in i.scan.iter().flat_map(|r| &r.findings).filter(|f| f.suppressed.is_none()) {
        out.entry(f.package.as_str()).or_default().insert(f.vulnerability.as_str());
    }
    out
}

/// `analyzed` against `baseline`; `unchanged` keeps what did not change.
pub fn compare(analyzed: &Image, baseline: &Image, unchanged: bool) -> Comparison {
    let versions =
        |i: &Image| -> BTreeMap<String, String> { i.inventory.packages.iter().map(|p| (p.name.clone(), p.version.clone())).collect() };
    let (va, vb) = (versions(analyzed), versions(baseline));
    let (fa, fb) = (vulns(analyzed), vulns(baseline));
    let mut packages = Vec::new();
    for name in va.keys().chain(vb.keys()).collect::<BTreeSet<_>>() {
        let (a, b) = (va.get(name), vb.get(name));
        let change = match (b, a) {
            (None, Some(_)) => Change::Added,
            (Some(_), None) => Change::Removed,
            (Some(x), Some(y)) => match version::compare(y, x) {
                Ordering::Greater => Change::Upgraded,
                Ordering::Less => Change::Downgraded,
                Ordering::Equal => Change::Unchanged,
            },
            (None, None) => continue,
        };
        if change == Change::Unchanged && !unchanged {
            continue;
        }
        let empty = BTreeSet::new();
        let (in_a, in_b) = (fa.get(name.as_str()).unwrap_or(&empty), fb.get(name.as_str()).unwrap_or(&empty));
        packages.push(PackageChange {
            name: name.clone(),
            change,
            baseline: b.cloned(),
            analyzed: a.cloned(),
            fixes: in_b.difference(in_a).map(|s| s.to_string()).collect(),
            brings: in_a.difference(in_b).map(|s| s.to_string()).collect(),
        });
    }
    Comparison {
        analyzed: side(analyzed),
        baseline: side(baseline),
        env: keys(&baseline.env, &analyzed.env, unchanged),
        labels: keys(&baseline.labels, &analyzed.labels, unchanged),
        packages,
    }
}

fn human(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MB", b as f64 / 1_048_576.0),
        b if b >= 1 << 10 => format!("{:.1} kB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

fn delta(a: i64, b: i64, unit: &dyn Fn(u64) -> String) -> String {
    match a - b {
        0 => String::new(),
        d if d > 0 => format!(" (+{})", unit(d as u64)),
        d => format!(" (-{})", unit(d.unsigned_abs())),
    }
}

impl Comparison {
    pub fn text(&self) -> String {
        let (a, b) = (&self.analyzed, &self.baseline);
        let vuln = |s: &Side, other: &Side| {
            s.vulnerabilities.as_ref().map(|v| {
                Severity::ALL
                    .iter()
                    .map(|sev| {
                        let n = v.get(sev).copied().unwrap_or(0) as i64;
                        let m = other.vulnerabilities.as_ref().and_then(|o| o.get(sev)).copied().unwrap_or(0) as i64;
                        format!("{}{}{}", n, &sev.as_str()[..1], delta(n, m, &|d| d.to_string()))
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            })
        };
        let rows: Vec<(&str, String, String)> = [
            ("target", a.target.clone(), b.target.clone()),
            ("digest", a.digest.clone(), b.digest.clone()),
            ("platform", a.platforms.join(", "), b.platforms.join(", ")),
            ("size", format!("{}{}", human(a.size), delta(a.size as i64, b.size as i64, &human)), human(b.size)),
            (
                "packages",
                format!("{}{}", a.packages, delta(a.packages as i64, b.packages as i64, &|d| d.to_string())),
                b.packages.to_string(),
            ),
            ("provenance", a.source.clone().unwrap_or("-".into()), b.source.clone().unwrap_or("-".into())),
            ("revision", a.revision.clone().unwrap_or("-".into()), b.revision.clone().unwrap_or("-".into())),
        ]
        .into_iter()
        .chain(vuln(a, b).map(|v| ("vulnerabilities", v, vuln(b, b).unwrap_or("-".into()))))
        .collect();
        let w0 = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
        let w1 = rows.iter().map(|r| r.1.chars().count()).chain(["Analyzed".len()]).max().unwrap_or(0);
        let mut out = String::new();
        let _ = writeln!(out, "## Overview\n");
        let _ = writeln!(out, "  {:w0$}  {:w1$}  Baseline", "", "Analyzed");
        for (k, x, y) in &rows {
            let _ = writeln!(out, "  {k:w0$}  {x:w1$}  {y}");
        }
        for (title, list) in [("Environment variables", &self.env), ("Labels", &self.labels)] {
            let _ = writeln!(out, "\n## {title}\n");
            if list.is_empty() {
                let _ = writeln!(out, "  no change");
            }
            for c in list {
                let text = match c.change {
                    Change::Added => format!("{}={}", c.key, c.analyzed.as_deref().unwrap_or_default()),
                    Change::Removed => format!("{}={}", c.key, c.baseline.as_deref().unwrap_or_default()),
                    Change::Unchanged => format!("{}={}", c.key, c.analyzed.as_deref().unwrap_or_default()),
                    _ => format!("{}={} → {}", c.key, c.baseline.as_deref().unwrap_or_default(), c.analyzed.as_deref().unwrap_or_default()),
                };
                let mark = if matches!(c.change, Change::Upgraded | Change::Downgraded) { "~" } else { c.change.mark() };
                let _ = writeln!(out, "  {mark} {text}");
            }
        }
        let _ = writeln!(out, "\n## Packages and vulnerabilities\n");
        if self.packages.is_empty() {
            let _ = writeln!(out, "  no change");
        }
        let wn = self.packages.iter().map(|p| p.name.len()).max().unwrap_or(0);
        for p in &self.packages {
            let versions = match (p.change, &p.baseline, &p.analyzed) {
                (Change::Upgraded | Change::Downgraded, Some(b), Some(a)) => format!("{b} → {a}"),
                (_, _, Some(a)) => a.clone(),
                (_, Some(b), None) => b.clone(),
                _ => String::new(),
            };
            let mut notes = Vec::new();
            if !p.fixes.is_empty() {
                notes.push(format!("fixes {}", p.fixes.join(", ")));
            }
            if !p.brings.is_empty() {
                notes.push(format!("brings {}", p.brings.join(", ")));
            }
            let notes = if notes.is_empty() { String::new() } else { format!("  ({})", notes.join("; ")) };
            let _ = writeln!(out, "  {} {:wn$}  {versions}{notes}", p.change.mark(), p.name);
        }
        out
    }
}
