//! A scan's result and its renderings: a table by severity, JSON, SARIF
//! 2.1.0 (as GitHub code scanning takes it), and the predicate of a cosign
//! vulnerability attestation.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::{json, Value};

use crate::inventory::Inventory;
use crate::matching::{counts, Finding};
use crate::osv::Database;
use crate::Severity;

/// The in-toto predicate type of a scan result.
pub const PREDICATE_TYPE: &str = "https://cosign.sigstore.dev/attestation/vuln/v1";

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// What was scanned, as named on the command line.
    pub target: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    pub packages: usize,
    pub database: DatabaseInfo,
    /// Unsuppressed findings by severity.
    pub counts: BTreeMap<Severity, usize>,
    pub suppressed: usize,
    /// Debian packages no advisory could be matched to, for want of the
    /// release they belong to (an image without /etc/os-release).
    pub unmatched: usize,
    pub findings: Vec<Finding>,
}

#[derive(Clone, Debug, Serialize)]
pub struct DatabaseInfo {
    pub location: String,
    pub digest: String,
    pub records: usize,
    /// The newest record's `modified` time (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_of: Option<String>,
    /// Whole days from `as_of` to the scan; absent in attestations, which
    /// are as of the database.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_days: Option<u64>,
}

impl Report {
    pub fn new(target: &str, inv: &Inventory, db: &Database, findings: Vec<Finding>, now: u64) -> Report {
        Report {
            target: target.to_string(),
            image: inv.digest.clone(),
            os: inv.os.as_ref().map(|o| format!("{} {}", o.id, o.version)),
            packages: inv.packages.len(),
            database: DatabaseInfo {
                location: db.location.clone(),
                digest: db.digest.clone(),
                records: db.records.len(),
                as_of: db.as_of.map(dhib_core::rfc3339),
                age_days: db.as_of.map(|t| now.saturating_sub(t) / 86_400),
            },
            counts: counts(&findings),
            suppressed: findings.iter().filter(|f| f.suppressed.is_some()).count(),
            unmatched: if inv.os.is_some() { 0 } else { inv.packages.iter().filter(|p| p.is_deb()).count() },
            findings,
        }
    }

    /// Whether an unsuppressed finding is at least as bad as `threshold`.
    pub fn fails(&self, threshold: Severity) -> bool {
        self.findings.iter().any(|f| f.suppressed.is_none() && f.severity >= threshold)
    }

    /// One line per severity, as `dhib scan` and `dhib compare` print it.
    pub fn count_line(&self) -> String {
        Severity::ALL.iter().map(|s| format!("{} {}", s.as_str(), self.counts.get(s).copied().unwrap_or(0))).collect::<Vec<_>>().join("  ")
    }

    pub fn table(&self, show_suppressed: bool) -> String {
        let mut out = String::new();
        let db = &self.database;
        let age = match (&db.as_of, db.age_days) {
            (Some(t), Some(d)) => format!(", as of {t}, {d} days old"),
            (Some(t), None) => format!(", as of {t}"),
            _ => String::new(),
        };
        let _ = writeln!(out, "{}: {}, {} packages", self.target, self.os.as_deref().unwrap_or("no operating system"), self.packages);
        let _ = writeln!(out, "database {} ({}, {} records{age})", db.location, db.digest, db.records);
        if self.unmatched > 0 {
            let _ = writeln!(
                out,
                "warning: {} Debian packages were not matched: the image names no Debian release (it has no /etc/os-release; install base-files)",
                self.unmatched
            );
        }
        let shown: Vec<&Finding> = self.findings.iter().filter(|f| show_suppressed || f.suppressed.is_none()).collect();
        if !shown.is_empty() {
            let rows: Vec<[String; 6]> = shown
                .iter()
                .map(|f| {
                    let severity = match &f.suppressed {
                        Some(s) => format!("({})", s.status),
                        None => f.severity.as_str().to_string(),
                    };
                    let note = match &f.suppressed {
                        Some(s) => s.justification.clone().or(s.impact_statement.clone()).unwrap_or_default(),
                        None => f.summary.clone(),
                    };
                    [
                        severity,
                        f.vulnerability.clone(),
                        f.package.clone(),
                        f.version.clone(),
                        f.fixed_in.clone().unwrap_or("-".into()),
                        note,
                    ]
                })
                .collect();
            let head = ["SEVERITY", "VULNERABILITY", "PACKAGE", "INSTALLED", "FIXED IN", ""];
            let widths: Vec<usize> =
                (0..5).map(|i| rows.iter().map(|r| r[i].chars().count()).chain([head[i].len()]).max().unwrap_or(0)).collect();
            let line = |cells: &[String]| {
                let mut l = String::new();
                for (i, c) in cells.iter().enumerate().take(5) {
                    let _ = write!(l, "{c:<w$}  ", w = widths[i]);
                }
                l.push_str(&cells[5]);
                l.trim_end().to_string()
            };
            let _ = writeln!(out);
            let _ = writeln!(out, "{}", line(&head.map(str::to_string)));
            for r in &rows {
                let _ = writeln!(out, "{}", line(r));
            }
            let _ = writeln!(out);
        }
        let hidden = if show_suppressed || self.suppressed == 0 { String::new() } else { " (--show-suppressed lists them)".to_string() };
        let _ = writeln!(out, "{}; {} suppressed by VEX{hidden}", self.count_line(), self.suppressed);
        out
    }

    pub fn json(&self) -> Value {
        serde_json::to_value(self).expect("a report serializes")
    }

    /// SARIF 2.1.0: one rule per vulnerability, one result per finding
    /// (suppressed ones carry a `suppressions` entry, as SARIF has them).
    pub fn sarif(&self, tool_version: &str) -> Value {
        let mut rules: BTreeMap<&str, Value> = BTreeMap::new();
        let mut results = Vec::new();
        for f in &self.findings {
            let score = f.score.unwrap_or(match f.severity {
                Severity::Critical => 9.0,
                Severity::High => 7.0,
                Severity::Medium => 5.0,
                Severity::Low => 2.0,
                Severity::Unknown => 0.0,
            });
            rules.entry(&f.vulnerability).or_insert_with(|| {
                let mut rule = json!({
                    "id": f.vulnerability,
                    "name": "OsPackageVulnerability",
                    "shortDescription": { "text": f.vulnerability },
                    "fullDescription": { "text": if f.summary.is_empty() { f.vulnerability.clone() } else { f.summary.clone() } },
                    "help": { "text": format!("{} {}: {}", f.severity.as_str(), f.vulnerability, f.url.as_deref().unwrap_or("no advisory link")) },
                    "properties": { "security-severity": format!("{score:.1}"), "tags": ["vulnerability", "security", f.severity.as_str()] },
                });
                if let Some(url) = &f.url {
                    rule["helpUri"] = json!(url);
                }
                rule
            });
            let level = match f.severity {
                Severity::Critical | Severity::High => "error",
                Severity::Medium => "warning",
                _ => "note",
            };
            let fixed = f.fixed_in.as_deref().map(|v| format!(", fixed in {v}")).unwrap_or_default();
            let mut result = json!({
                "ruleId": f.vulnerability,
                "level": level,
                "message": { "text": format!("{} {} in {} {}{fixed}", f.severity.as_str(), f.vulnerability, f.package, f.version) },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": self.target.trim_start_matches('/'), "uriBaseId": "ROOTPATH" },
                        "region": { "startLine": 1, "startColumn": 1, "endLine": 1, "endColumn": 1 },
                    },
                    "message": { "text": f.purl.clone().unwrap_or_else(|| f.package.clone()) },
                }],
            });
            if let Some(s) = &f.suppressed {
                let justification = [Some(s.status.clone()), s.justification.clone(), s.impact_statement.clone()].into_iter().flatten();
                result["suppressions"] = json!([{ "kind": "external", "justification": justification.collect::<Vec<_>>().join(": "), "location": { "physicalLocation": { "artifactLocation": { "uri": s.document } } } }]);
            }
            results.push(result);
        }
        json!({
            "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
            "version": "2.1.0",
            "runs": [{
                "tool": { "driver": {
                    "name": "dhib",
                    "version": tool_version,
                    "informationUri": "https://dhib.dev",
                    "rules": rules.into_values().collect::<Vec<_>>(),
                } },
                "results": results,
                "originalUriBaseIds": { "ROOTPATH": { "uri": "file:///" } },
                "properties": { "database": self.database.digest, "databaseAsOf": self.database.as_of },
            }],
        })
    }

    /// The predicate of a cosign vulnerability attestation: the report as
    /// its scanner's result, timed as of the database so the same image
    /// and database always attest the same bytes.
    pub fn predicate(&self, tool_version: &str) -> Value {
        let mut result = self.json();
        // Nothing of the machine it ran on: the database by file name and digest.
        let file = self.database.location.rsplit('/').next().unwrap_or_default().to_string();
        if let Some(db) = result["database"].as_object_mut() {
            db.remove("age_days");
            db.insert("location".into(), json!(file));
        }
        let at = self.database.as_of.clone().unwrap_or_else(|| dhib_core::rfc3339(0));
        json!({
            "invocation": { "parameters": [], "uri": "", "event_id": "", "builder.id": "" },
            "scanner": {
                "uri": "https://dhib.dev/scan",
                "version": tool_version,
                "db": { "uri": file, "version": self.database.digest },
                "result": result,
            },
            "metadata": { "scanStartedOn": at, "scanFinishedOn": at },
        })
    }
}
