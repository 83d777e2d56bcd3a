//! A database of OSV records (https://ossf.github.io/osv-schema/), read
//! whole from an `all.zip` as osv.dev publishes one per ecosystem, or from a
//! directory of `*.json` records, and indexed for matching. Only what
//! matching and reports use is kept.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::Path;

use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::Severity;

/// One record, as far as matching and reporting go.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Record {
    pub id: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Debian's records name the CVE they track here.
    #[serde(default)]
    pub upstream: Vec<String>,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub details: Option<String>,
    #[serde(default)]
    pub modified: Option<String>,
    #[serde(default)]
    pub published: Option<String>,
    #[serde(default)]
    pub withdrawn: Option<String>,
    #[serde(default)]
    pub severity: Vec<Score>,
    #[serde(default)]
    pub affected: Vec<Affected>,
    #[serde(default)]
    pub references: Vec<Reference>,
    #[serde(default)]
    pub database_specific: Option<serde_json::Value>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Score {
    #[serde(rename = "type")]
    pub kind: String,
    pub score: String,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Reference {
    #[serde(rename = "type", default)]
    pub kind: String,
    pub url: String,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Affected {
    #[serde(default)]
    pub package: Option<AffectedPackage>,
    #[serde(default)]
    pub ranges: Vec<Range>,
    #[serde(default)]
    pub versions: Vec<String>,
    #[serde(default)]
    pub severity: Vec<Score>,
    #[serde(default)]
    pub ecosystem_specific: Option<serde_json::Value>,
    #[serde(default)]
    pub database_specific: Option<serde_json::Value>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct AffectedPackage {
    #[serde(default)]
    pub ecosystem: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub purl: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Range {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub repo: Option<String>,
    #[serde(default)]
    pub events: Vec<Event>,
    /// NVD-derived records keep the CPEs a GIT range came from here, with
    /// the range in upstream versions: `{"cpe": […], "versions": [events]}`.
    #[serde(default)]
    pub database_specific: Option<serde_json::Value>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Event {
    pub introduced: Option<String>,
    pub fixed: Option<String>,
    pub last_affected: Option<String>,
    pub limit: Option<String>,
}

impl Affected {
    /// The CPEs this entry applies to, where NVD-derived records keep them:
    /// in a range's or the entry's `database_specific.cpe` (a string or a list).
    pub fn cpes(&self) -> Vec<&str> {
        let places = self.ranges.iter().filter_map(|r| r.database_specific.as_ref()).chain(&self.database_specific);
        let mut out = Vec::new();
        for db in places {
            match db.get("cpe").or_else(|| db.get("cpes")) {
                Some(serde_json::Value::String(c)) => out.push(c.as_str()),
                Some(serde_json::Value::Array(list)) => out.extend(list.iter().filter_map(|v| v.as_str())),
                _ => {}
            }
        }
        out
    }

    /// The ranges in versions, with those an NVD-derived record states
    /// beside its GIT ranges (`database_specific.versions`) as ECOSYSTEM ones.
    pub fn version_ranges(&self) -> Vec<Range> {
        let mut out: Vec<Range> = self.ranges.iter().filter(|r| r.kind == "ECOSYSTEM" || r.kind == "SEMVER").cloned().collect();
        for r in &self.ranges {
            let Some(events) = r.database_specific.as_ref().and_then(|d| d.get("versions")) else { continue };
            if let Ok(events) = serde_json::from_value::<Vec<Event>>(events.clone()) {
                out.push(Range { kind: "ECOSYSTEM".into(), repo: None, events, database_specific: None });
            }
        }
        out
    }
}

impl Record {
    /// The record's own severity: the highest CVSS score it gives, else
    /// the severity its database states (GitHub's `database_specific.severity`,
    /// Debian's urgency), else unknown.
    pub fn own_severity(&self) -> (Severity, Option<f64>) {
        let scores = self.severity.iter().chain(self.affected.iter().flat_map(|a| &a.severity));
        let best = scores
            .filter_map(|s| s.score.parse::<cvss::Cvss>().ok())
            .map(|c| c.score())
            .fold(None, |m: Option<f64>, s| Some(m.map_or(s, |m| m.max(s))));
        if let Some(score) = best {
            return (Severity::of_score(score), Some(score));
        }
        let stated = self
            .database_specific
            .iter()
            .chain(self.affected.iter().flat_map(|a| a.ecosystem_specific.iter().chain(&a.database_specific)))
            .filter_map(|v| v.get("severity").or_else(|| v.get("urgency")).and_then(|s| s.as_str()))
            .map(Severity::of_word)
            .max()
            .unwrap_or(Severity::Unknown);
        (stated, None)
    }

    /// Every name the record goes by: its id, aliases and upstream ids.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.id.as_str()).chain(self.aliases.iter().map(String::as_str)).chain(self.upstream.iter().map(String::as_str))
    }

    pub fn modified_secs(&self) -> Option<u64> {
        self.modified.as_deref().and_then(dhib_core::parse_rfc3339)
    }
}

/// The records, indexed.
#[derive(Debug, Default)]
pub struct Database {
    pub records: Vec<Record>,
    /// "sha256:<hex>": of the zip file, or of the directory's records by path.
    pub digest: String,
    /// Where it was read from, as given.
    pub location: String,
    /// The newest `modified` time of any record: how current the database is.
    pub as_of: Option<u64>,
    by_package: HashMap<(String, String), Vec<usize>>,
    by_purl: HashMap<String, Vec<usize>>,
    by_cpe: HashMap<String, Vec<usize>>,
    by_name: HashMap<String, Vec<usize>>,
}

impl Database {
    /// Reads an OSV `all.zip` or a directory of OSV JSON records.
    pub fn open(path: &Path) -> Result<Database, String> {
        let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let digest;
        if path.is_dir() {
            let mut h = Sha256::new();
            for entry in walkdir::WalkDir::new(path).sort_by_file_name() {
                let entry = entry.map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                if !entry.file_type().is_file() || entry.path().extension().is_none_or(|e| e != "json") {
                    continue;
                }
                let bytes = std::fs::read(entry.path()).map_err(|e| format!("cannot read {}: {e}", entry.path().display()))?;
                let rel = entry.path().strip_prefix(path).unwrap_or(entry.path()).to_string_lossy().into_owned();
                h.update(format!("{rel}\0{}\n", dhib_core::hex(&Sha256::digest(&bytes))));
                files.insert(rel, bytes);
            }
            digest = format!("sha256:{}", dhib_core::hex(&h.finalize()));
        } else {
            let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            digest = format!("sha256:{}", dhib_core::hex(&Sha256::digest(&bytes)));
            let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))
                .map_err(|e| format!("{} is neither a directory nor a zip file of OSV records: {e}", path.display()))?;
            for i in 0..zip.len() {
                let mut f = zip.by_index(i).map_err(|e| format!("{}: {e}", path.display()))?;
                let name = f.name().map(|n| n.into_owned()).unwrap_or_default();
                if !f.is_file() || !name.ends_with(".json") {
                    continue;
                }
                let mut bytes = Vec::with_capacity(f.size() as usize);
                f.read_to_end(&mut bytes).map_err(|e| format!("{}: {name}: {e}", path.display()))?;
                files.insert(name, bytes);
            }
        }
        let mut records = Vec::with_capacity(files.len());
        for (name, bytes) in &files {
            let record: Record =
                serde_json::from_slice(bytes).map_err(|e| format!("{}: {name} is not an OSV record: {e}", path.display()))?;
            if record.withdrawn.is_none() {
                records.push(record);
            }
        }
        if records.is_empty() {
            return Err(format!("{} holds no OSV records (*.json)", path.display()));
        }
        Ok(Database::from_records(records, digest, path.display().to_string()))
    }

    pub fn from_records(records: Vec<Record>, digest: String, location: String) -> Database {
        let mut db = Database { as_of: records.iter().filter_map(Record::modified_secs).max(), digest, location, ..Default::default() };
        for (i, r) in records.iter().enumerate() {
            for name in r.names() {
                db.by_name.entry(name.to_string()).or_default().push(i);
            }
            for a in &r.affected {
                if let Some(p) = &a.package {
                    if !p.ecosystem.is_empty() {
                        db.by_package.entry((p.ecosystem.clone(), p.name.clone())).or_default().push(i);
                    }
                    if let Some(purl) = &p.purl {
                        db.by_purl.entry(crate::purl::base(purl)).or_default().push(i);
                    }
                }
                for cpe in a.cpes() {
                    if let Some(product) = crate::cpe::product(cpe) {
                        db.by_cpe.entry(product).or_default().push(i);
                    }
                }
            }
        }
        for list in db.by_package.values_mut().chain(db.by_purl.values_mut()).chain(db.by_cpe.values_mut()) {
            list.dedup();
        }
        db.records = records;
        db
    }

    pub fn for_package(&self, ecosystem: &str, name: &str) -> impl Iterator<Item = &Record> {
        self.pick(self.by_package.get(&(ecosystem.to_string(), name.to_string())))
    }

    pub fn for_purl(&self, purl_base: &str) -> impl Iterator<Item = &Record> {
        self.pick(self.by_purl.get(purl_base))
    }

    /// By a CPE's "vendor:product".
    pub fn for_cpe(&self, product: &str) -> impl Iterator<Item = &Record> {
        self.pick(self.by_cpe.get(product))
    }

    /// The severity of a record: its own, or else that of a record it is
    /// an alias of (a Debian record takes the CVE's score when the
    /// database holds the CVE too).
    pub fn severity(&self, r: &Record) -> (Severity, Option<f64>) {
        let own = r.own_severity();
        if own.0 != Severity::Unknown {
            return own;
        }
        r.names()
            .skip(1)
            .flat_map(|n| self.pick(self.by_name.get(n)))
            .filter(|other| other.id != r.id)
            .map(Record::own_severity)
            .max_by(|a, b| a.0.cmp(&b.0))
            .unwrap_or(own)
    }

    fn pick<'a>(&'a self, list: Option<&'a Vec<usize>>) -> impl Iterator<Item = &'a Record> {
        list.into_iter().flatten().map(|&i| &self.records[i])
    }
}
