//! The upstream-diff guardrail: before a new upstream release is trusted,
//! its source tree is diffed against the old one and the changed code is
//! checked for patterns that weaken it (inverted or dropped error checks,
//! swallowed errors, disabled hardening) or smuggle code into the build
//! (payloads decoded at build time, release files absent from the VCS tree,
//! opaque blobs used by build scripts, build changes by commit authors or
//! tag signers new to the project).
//!
//! Rules are heuristics over the added lines of each change, judged next to
//! the lines they replaced. Only findings of high severity *and* high
//! confidence block; the rest are for a reviewer to read.

mod rules;
mod supply;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Serialize;

use dhib_exec::archive::{self, ExtractOptions};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    Low,
    Medium,
    High,
}

macro_rules! lowercase_display {
    ($($t:ty),*) => {$(
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(match self { Self::Low => "low", Self::Medium => "medium", Self::High => "high" })
            }
        }
    )*};
}
lowercase_display!(Severity, Confidence);

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub rule: &'static str,
    pub severity: Severity,
    pub confidence: Confidence,
    pub file: String,
    /// First and last line in NEW, 1-based; (0, 0) for whole-file findings.
    pub lines: (usize, usize),
    pub explanation: String,
}

impl Finding {
    /// How `--approve` names this finding.
    pub fn approval_id(&self) -> String {
        format!("{}@{}", self.rule, self.file)
    }

    pub fn blocks(&self) -> bool {
        self.severity == Severity::High && self.confidence == Confidence::High
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Sorted by file, then line, then rule.
    pub findings: Vec<Finding>,
    pub files_added: usize,
    pub files_removed: usize,
    pub files_changed: usize,
    /// Files only in the release, absent from the VCS tree (`--vcs`).
    pub files_not_in_vcs: Option<usize>,
}

#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    #[error("{0} does not exist")]
    Missing(PathBuf),
    #[error("cannot extract {path}: {source}")]
    Extract { path: PathBuf, source: archive::ArchiveError },
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// Diffs the source trees OLD and NEW (directories or archives) and runs
/// every rule on what changed; `vcs` is a checkout of NEW's tag, to find
/// release files that do not come from version control and, when it is a
/// git checkout, build changes by authors or tag signers new to the project.
pub fn guard(old: &Path, new: &Path, vcs: Option<&Path>) -> Result<Report, GuardError> {
    let old = SourceTree::open(old)?;
    let new = SourceTree::open(new)?;
    let vcs = vcs.map(SourceTree::open).transpose()?;
    let (old_files, new_files) = (old.files()?, new.files()?);
    let mut findings = Vec::new();
    let (mut added, mut changed) = (0, 0);
    let mut blobs = Vec::new();
    let mut touched = Vec::new();
    for rel in &new_files {
        let after = read(&new.root.join(rel))?;
        let before = if old_files.contains(rel) { Some(read(&old.root.join(rel))?) } else { None };
        match &before {
            Some(b) if *b == after => continue,
            Some(_) => changed += 1,
            None => added += 1,
        }
        touched.push(rel.clone());
        match (text(&after), before.as_deref().map(text)) {
            (Some(after), Some(Some(before))) => rules::check(rel, before, after, &mut findings),
            (Some(after), None) => rules::check(rel, "", after, &mut findings),
            _ => blobs.push((rel.clone(), after)),
        }
    }
    let removed = old_files.difference(&new_files).count();
    let not_in_vcs = match &vcs {
        Some(vcs) => {
            supply::new_authors(&vcs.root, &mut findings);
            findings.extend(supply::new_signer(&vcs.root));
            Some(supply::not_in_vcs(&old, &old_files, &new, &new_files, &vcs.files()?, &mut findings)?)
        }
        None => None,
    };
    supply::blobs(&new, &new_files, &blobs, &mut findings)?;
    supply::build_scripts(&touched, &mut findings);
    findings.sort_by(|a, b| (&a.file, a.lines, a.rule).cmp(&(&b.file, b.lines, b.rule)));
    findings.dedup();
    Ok(Report { findings, files_added: added, files_removed: removed, files_changed: changed, files_not_in_vcs: not_in_vcs })
}

/// The findings that stop an update: high severity and high confidence,
/// unless approved as `RULE_ID@FILE`.
pub fn blocking<'a>(report: &'a Report, approved: &[String]) -> Vec<&'a Finding> {
    report.findings.iter().filter(|f| f.blocks() && !approved.contains(&f.approval_id())).collect()
}

/// A source tree on disk; an archive is extracted into a temp dir that
/// lives as long as this.
struct SourceTree {
    root: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

impl SourceTree {
    fn open(path: &Path) -> Result<SourceTree, GuardError> {
        let meta = std::fs::metadata(path).map_err(|_| GuardError::Missing(path.to_path_buf()))?;
        if meta.is_dir() {
            return Ok(SourceTree { root: path.to_path_buf(), _temp: None });
        }
        let io = |source| GuardError::Io { path: path.to_path_buf(), source };
        let temp = tempfile::tempdir().map_err(io)?;
        let dest = temp.path().join("tree");
        archive::extract(path, &dest, &ExtractOptions::default())
            .map_err(|source| GuardError::Extract { path: path.to_path_buf(), source })?;
        // Upstream archives hold one top-level directory (`xz-5.6.1/`).
        let entries: Vec<_> = std::fs::read_dir(&dest).map_err(io)?.collect::<Result<_, _>>().map_err(io)?;
        let root = match entries.as_slice() {
            [only] if only.file_type().map_err(io)?.is_dir() => only.path(),
            _ => dest,
        };
        Ok(SourceTree { root, _temp: Some(temp) })
    }

    /// Relative paths of the regular files, without VCS metadata.
    fn files(&self) -> Result<BTreeSet<String>, GuardError> {
        let mut files = BTreeSet::new();
        let walk = walkdir::WalkDir::new(&self.root)
            .into_iter()
            .filter_entry(|e| !matches!(e.file_name().to_str(), Some(".git" | ".hg" | ".svn")));
        for entry in walk {
            let entry = entry.map_err(|e| GuardError::Io { path: self.root.clone(), source: e.into() })?;
            if entry.file_type().is_file() {
                let rel = entry.path().strip_prefix(&self.root).expect("walked under root");
                files.insert(rel.to_string_lossy().into_owned());
            }
        }
        Ok(files)
    }
}

fn read(path: &Path) -> Result<Vec<u8>, GuardError> {
    std::fs::read(path).map_err(|source| GuardError::Io { path: path.to_path_buf(), source })
}

/// The contents as text, unless they are binary (NUL bytes or not UTF-8).
fn text(bytes: &[u8]) -> Option<&str> {
    if bytes.contains(&0) {
        return None;
    }
    std::str::from_utf8(bytes).ok()
}
