//! The corpus of bad inputs under tests/diagnostics/: each directory is a
//! tiny workspace that must fail `dhib check` with exit code 1, write
//! nothing, and print exactly the diagnostic in tests/snapshots/ (set
//! INSTA_UPDATE=always to rewrite them, then review every changed one).

use crate::common;
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::process::{Output, Stdio};

/// Every file and directory under `dir` with its content, to prove nothing was written.
fn listing(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.expect("readable case directory"))
        .map(|e| {
            let rel = e.path().strip_prefix(dir).unwrap().display().to_string();
            let content = if e.file_type().is_file() { std::fs::read(e.path()).unwrap() } else { Vec::new() };
            (rel, content)
        })
        .collect()
}

/// `dhib -C dir check`, rendered the same everywhere: miette ignores
/// COLUMNS and wraps at 80 columns when none of stdin, stdout and stderr is
/// a terminal, and uses neither colour nor hyperlinks with NO_COLOR and no
/// TERM, so the environment is cleared of everything that could change that.
fn check(dir: &Path) -> Output {
    common::dhib().arg("-C").arg(dir).arg("check").env_clear().env("COLUMNS", "100").stdin(Stdio::null()).output().expect("dhib runs")
}

fn run_case(dir: &Path, name: &str) {
    assert!(dir.join("dhi.toml").is_file(), "{name}: every case needs its own dhi.toml");
    let before = listing(dir);
    let out = check(dir);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{name} panicked:\n{stderr}");
    assert_eq!(out.status.code(), Some(1), "{name}: expected exit 1\n{stderr}");
    assert!(out.stdout.is_empty(), "{name}: printed to stdout");
    assert_eq!(listing(dir), before, "{name}: dhib check wrote files");
    insta::assert_snapshot!(name, stderr);
}

#[test]
fn every_bad_input_gets_its_diagnostic() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/diagnostics");
    let mut cases: Vec<_> = std::fs::read_dir(&corpus).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    cases.sort();
    assert!(cases.len() >= 30, "the corpus has {} cases", cases.len());
    let mut failed = Vec::new();
    for dir in &cases {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        if catch_unwind(AssertUnwindSafe(|| run_case(dir, &name))).is_err() {
            failed.push(name);
        }
    }
    assert!(failed.is_empty(), "{} of {} cases failed: {}", failed.len(), cases.len(), failed.join(", "));
}

/// What the corpus must not flag: root is fine in a dev variant and where
/// the image says `allow_root = true`.
#[test]
fn root_where_allowed_is_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("dhi.toml"), "[workspace]\nname = \"ok\"\n").unwrap();
    std::fs::create_dir(dir.path().join("img")).unwrap();
    let build = r#"
image "init" {
  user = 0
  allow_root = true
}

image "app" {
  user = 65532

  variant "dev" {
    user = 0
  }
}

image "tools" {
  user = "root"
  dev = true
}
"#;
    std::fs::write(dir.path().join("img/BUILD.dhi"), build).unwrap();
    let before = listing(dir.path());
    let out = check(dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.starts_with("ok: "), "{stderr}");
    assert_eq!(listing(dir.path()), before, "dhib check wrote files");
}
