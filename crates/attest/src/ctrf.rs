//! Test reports in CTRF (Common Test Report Format) JSON.

use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Passed,
    Failed,
    Skipped,
}

impl Status {
    fn name(&self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
        }
    }
}

#[derive(Debug, Clone)]
pub struct TestCase {
    pub name: String,
    pub status: Status,
    pub duration_ms: u64,
    /// Why it failed or was skipped.
    pub message: Option<String>,
    /// `command`, `standard check`.
    pub suite: String,
}

/// The report of one image's tests, run from `start` to `stop` (Unix
/// milliseconds).
pub fn report(tool_version: &str, tests: &[TestCase], start: u64, stop: u64) -> Value {
    let count = |s: Status| tests.iter().filter(|t| t.status == s).count();
    let cases: Vec<Value> = tests
        .iter()
        .map(|t| {
            let mut v = json!({"name": t.name, "status": t.status.name(), "duration": t.duration_ms, "suite": [t.suite]});
            if let Some(m) = &t.message {
                v["message"] = json!(m);
            }
            v
        })
        .collect();
    json!({
        "reportFormat": "CTRF",
        "specVersion": "1.0.0",
        "results": {
            "tool": {"name": "dhib", "version": tool_version},
            "summary": {
                "tests": tests.len(),
                "passed": count(Status::Passed),
                "failed": count(Status::Failed),
                "skipped": count(Status::Skipped),
                "pending": 0,
                "other": 0,
                "start": start,
                "stop": stop,
            },
            "tests": cases,
        },
    })
}

/// How many tests of a report failed.
pub fn failed(report: &Value) -> u64 {
    report["results"]["summary"]["failed"].as_u64().unwrap_or(0)
}
