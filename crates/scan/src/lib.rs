//! Vulnerability scanning and image comparison, offline: an image's SBOM
//! ([`inventory`]) matched against a database of OSV records ([`osv`],
//! [`matching`]), with OpenVEX statements applied ([`vex`]), reported as a
//! table, JSON, SARIF 2.1.0 or a cosign vulnerability attestation
//! ([`report`]); and two images side by side ([`compare`]).
//!
//! # Architecture invariant
//! Pure but for [`osv::Database::open`], which reads the database it is
//! given: the commands layer finds the SBOMs, VEX documents and image
//! configurations, and this crate only reads the documents handed to it.

pub mod compare;
pub mod cpe;
pub mod inventory;
pub mod matching;
pub mod osv;
pub mod purl;
pub mod report;
pub mod version;
pub mod vex;

pub use matching::Finding;
pub use report::Report;

/// How bad a vulnerability is: from a CVSS score by CVSS's own bands, or
/// from the word its database uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    Unknown,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [Severity::Critical, Severity::High, Severity::Medium, Severity::Low, Severity::Unknown];

    pub fn of_score(score: f64) -> Severity {
        match score {
            s if s >= 9.0 => Severity::Critical,
            s if s >= 7.0 => Severity::High,
            s if s >= 4.0 => Severity::Medium,
            s if s > 0.0 => Severity::Low,
            _ => Severity::Unknown,
        }
    }

    /// GitHub's words ("MODERATE"), Debian's urgencies ("low**", "unimportant").
    pub fn of_word(word: &str) -> Severity {
        match word.trim_end_matches('*').to_ascii_lowercase().as_str() {
            "critical" => Severity::Critical,
            "high" | "important" => Severity::High,
            "medium" | "moderate" => Severity::Medium,
            "low" | "unimportant" | "negligible" => Severity::Low,
            _ => Severity::Unknown,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Unknown => "UNKNOWN",
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
            Severity::Critical => "CRITICAL",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|v| v.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

/// Scans an inventory: every finding, with the statements applied.
pub fn scan(target: &str, inv: &inventory::Inventory, db: &osv::Database, statements: &[vex::Statement], now: u64) -> Report {
    let mut findings = matching::findings(inv, db);
    vex::apply(&mut findings, statements, inv.purl.as_deref(), inv.digest.as_deref());
    Report::new(target, inv, db, findings, now)
}
