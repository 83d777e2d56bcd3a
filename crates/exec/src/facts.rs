//! What a result records besides its outputs, typed. The store keeps
//! `ActionResult::metadata` as a map of strings (its on-disk form); every
//! key is named, written and parsed here and nowhere else, so an action
//! and its readers cannot disagree on a key or an encoding.

use std::collections::BTreeMap;

use dhib_store::{ActionResult, Digest};

use crate::deb::Control;
use crate::sandbox::Mode;

const MANIFEST: &str = "manifest";
const IMPORTED_LAYERS: &str = "imported_layers";
const STRIP_PREFIX: &str = "strip_prefix";
const CONTROL: &str = "control";
const LICENSE: &str = "license";
const CLOSURE: &str = "closure";
const PROFILES: &str = "build_profiles";
const ENV: &str = "env";
const TEST_STATUS: &str = "test_status";
const DURATION_MS: &str = "duration_ms";
const MESSAGE: &str = "message";
const UNACCOUNTED: &str = "unaccounted";
const FAILED: &str = "failed";
const SANDBOX: &str = "sandbox";
const STARTED_ON: &str = "started_on";
const FINISHED_ON: &str = "finished_on";

/// The manifest (or index) an image, customization or index built.
pub fn manifest(r: &ActionResult) -> Option<Digest> {
    r.metadata.get(MANIFEST).and_then(|d| Digest::parse(d))
}

pub fn set_manifest(r: &mut ActionResult, d: &Digest) {
    r.metadata.insert(MANIFEST.into(), d.hex());
}

/// Layers an image took from another image (`layers_from`), for its SBOM.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImportedLayers {
    /// The `index.json` file or the registry reference, as written.
    pub reference: String,
    /// The layers, bottom first.
    pub layers: Vec<Digest>,
}

/// Which layers of an image came from other images, one entry per source.
pub fn imported_layers(r: &ActionResult) -> Vec<ImportedLayers> {
    r.metadata.get(IMPORTED_LAYERS).and_then(|t| serde_json::from_str(t).ok()).unwrap_or_default()
}

pub fn set_imported_layers(r: &mut ActionResult, imported: &[ImportedLayers]) {
    if !imported.is_empty() {
        r.metadata.insert(IMPORTED_LAYERS.into(), serde_json::to_string(imported).expect("layers serialize"));
    }
}

/// The directory a patched source's tree was extracted from.
pub fn strip_prefix(r: &ActionResult) -> Option<String> {
    r.metadata.get(STRIP_PREFIX).cloned()
}

pub fn set_strip_prefix(r: &mut ActionResult, prefix: String) {
    r.metadata.insert(STRIP_PREFIX.into(), prefix);
}

/// A deb's control fields.
pub fn control(r: &ActionResult) -> Option<Control> {
    r.metadata.get(CONTROL).and_then(|c| serde_json::from_str(c).ok())
}

pub fn set_control(r: &mut ActionResult, control: &Control) {
    r.metadata.insert(CONTROL.into(), serde_json::to_string(control).expect("control serializes"));
}

/// A deb's license, from its copyright file or its definition.
pub fn license(r: &ActionResult) -> Option<String> {
    r.metadata.get(LICENSE).cloned()
}

pub fn set_license(r: &mut ActionResult, license: String) {
    r.metadata.insert(LICENSE.into(), license);
}

/// A deb's .deb and those of its whole `depends` closure, by file name;
/// `None` for a result that records none.
pub fn closure(r: &ActionResult) -> Option<Result<BTreeMap<String, Digest>, String>> {
    let text = r.metadata.get(CLOSURE)?;
    Some(
        text.split_whitespace()
            .map(|item| {
                let (name, hex) = item.split_once('=').ok_or_else(|| format!("bad closure entry {item}"))?;
                Ok((name.to_string(), Digest::parse(hex).ok_or_else(|| format!("bad closure entry {item}"))?))
            })
            .collect(),
    )
}

pub fn set_closure(r: &mut ActionResult, closure: &BTreeMap<String, Digest>) {
    r.metadata.insert(CLOSURE.into(), closure.iter().map(|(n, d)| format!("{n}={d}")).collect::<Vec<_>>().join(" "));
}

/// The build profiles a Debian source is built with.
pub fn build_profiles(r: &ActionResult) -> Vec<String> {
    r.metadata.get(PROFILES).map(|p| p.split_whitespace().map(str::to_string).collect()).unwrap_or_default()
}

pub fn set_build_profiles(r: &mut ActionResult, profiles: &[String]) {
    r.metadata.insert(PROFILES.into(), profiles.join(" "));
}

/// An environment's variables for the steps built in it.
pub fn env_vars(r: &ActionResult) -> Result<BTreeMap<String, String>, String> {
    r.metadata.get(ENV).map_or(Ok(BTreeMap::new()), |vars| serde_json::from_str(vars).map_err(|e| e.to_string()))
}

pub fn set_env_vars(r: &mut ActionResult, vars: &BTreeMap<String, String>) {
    r.metadata.insert(ENV.into(), serde_json::to_string(vars).expect("maps serialize"));
}

/// How a test ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestOutcome {
    pub passed: bool,
    pub duration_ms: u64,
    /// Why it failed, and what the command printed.
    pub message: Option<String>,
}

/// The outcome of a test node's result; `None` for any other result.
pub fn test_outcome(r: &ActionResult) -> Option<TestOutcome> {
    let passed = r.metadata.get(TEST_STATUS)? == "passed";
    let duration_ms = r.metadata.get(DURATION_MS).and_then(|d| d.parse().ok()).unwrap_or(0);
    Some(TestOutcome { passed, duration_ms, message: r.metadata.get(MESSAGE).cloned() })
}

pub fn set_test_outcome(r: &mut ActionResult, t: &TestOutcome) {
    r.metadata.insert(TEST_STATUS.into(), if t.passed { "passed" } else { "failed" }.into());
    r.metadata.insert(DURATION_MS.into(), t.duration_ms.to_string());
    if let Some(m) = &t.message {
        r.metadata.insert(MESSAGE.into(), m.clone());
    }
}

/// The image files an SBOM could not account for (by path).
pub fn unaccounted(r: &ActionResult) -> Vec<String> {
    r.metadata.get(UNACCOUNTED).map(|u| u.lines().map(str::to_string).collect()).unwrap_or_default()
}

pub fn set_unaccounted(r: &mut ActionResult, paths: &[String]) {
    if !paths.is_empty() {
        r.metadata.insert(UNACCOUNTED.into(), paths.join("\n"));
    }
}

/// How many tests and checks a test report counts as failed.
pub fn failed_count(r: &ActionResult) -> Option<u64> {
    r.metadata.get(FAILED).and_then(|n| n.parse().ok())
}

pub fn set_failed_count(r: &mut ActionResult, n: u64) {
    r.metadata.insert(FAILED.into(), n.to_string());
}

/// Whether a result is a failed test (reported, and not cached: it runs
/// again next time).
pub fn is_failed_test(r: &ActionResult) -> bool {
    test_outcome(r).is_some_and(|t| !t.passed)
}

/// Whether a result is a failed test, or a test report with failures.
pub fn reports_failure(r: &ActionResult) -> bool {
    is_failed_test(r) || failed_count(r).is_some_and(|n| n > 0)
}

/// How and when a result was made: the sandbox and the build's start and
/// end (seconds since the epoch), for provenance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub sandbox: String,
    pub started_on: Option<u64>,
    pub finished_on: Option<u64>,
}

pub fn run(r: &ActionResult) -> Run {
    let time = |k: &str| r.metadata.get(k).and_then(|t| t.parse().ok());
    Run {
        sandbox: r.metadata.get(SANDBOX).map_or_else(|| "bwrap".into(), |s| s.trim_matches('"').to_string()),
        started_on: time(STARTED_ON),
        finished_on: time(FINISHED_ON),
    }
}

pub fn set_run(r: &mut ActionResult, sandbox: Mode, started_on: u64, finished_on: u64) {
    r.metadata.insert(SANDBOX.into(), serde_json::to_string(&sandbox).expect("modes serialize"));
    r.metadata.insert(STARTED_ON.into(), started_on.to_string());
    r.metadata.insert(FINISHED_ON.into(), finished_on.to_string());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_written_reads_back() {
        let mut r = ActionResult::default();
        let d = Digest::of(b"x");
        set_manifest(&mut r, &d);
        set_closure(&mut r, &BTreeMap::from([("a.deb".to_string(), d)]));
        set_test_outcome(&mut r, &TestOutcome { passed: false, duration_ms: 7, message: Some("no".into()) });
        set_run(&mut r, Mode::Bwrap, 1, 2);
        assert_eq!(manifest(&r), Some(d));
        assert_eq!(closure(&r).unwrap().unwrap()["a.deb"], d);
        assert_eq!(test_outcome(&r), Some(TestOutcome { passed: false, duration_ms: 7, message: Some("no".into()) }));
        assert!(reports_failure(&r));
        assert_eq!(run(&r), Run { sandbox: "bwrap".into(), started_on: Some(1), finished_on: Some(2) });
        r.metadata.insert(CLOSURE.into(), "junk".into());
        assert!(closure(&r).unwrap().is_err());
    }
}
