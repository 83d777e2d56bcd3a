//! The corpus of bad inputs under tests/diagnostics/: every case must fail
//! `dhib check` with exit code 1, write nothing, and print exactly the
//! diagnostic in tests/snapshots/ (review changes with `cargo insta review`,
//! or set INSTA_UPDATE=always to rewrite them).
//!
//! A case file holds one or more files, each introduced by `--- PATH`; a
//! case without its own `dhi.toml` gets a minimal one.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

fn parse_case(text: &str) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.split_inclusive('\n') {
        if let Some(path) = line.strip_prefix("--- ") {
            current = Some(path.trim().to_string());
            files.insert(path.trim().to_string(), String::new());
        } else if let Some(p) = &current {
            files.get_mut(p).expect("inserted above").push_str(line);
        }
    }
    files.entry("dhi.toml".to_string()).or_insert_with(|| "[workspace]\nname = \"case\"\n".to_string());
    files
}

/// Every file under `dir` with its content, to prove nothing was written.
fn listing(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(|e| e.ok())
        .map(|e| {
            let rel = e.path().strip_prefix(dir).unwrap().display().to_string();
            let content = if e.file_type().is_file() { std::fs::read(e.path()).unwrap() } else { Vec::new() };
            (rel, content)
        })
        .collect()
}

#[test]
fn every_bad_input_gets_its_diagnostic() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/diagnostics");
    let mut cases: Vec<_> = std::fs::read_dir(&corpus)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "case"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 25, "the corpus has {} cases", cases.len());
    for case in cases {
        let name = case.file_stem().unwrap().to_string_lossy().into_owned();
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in parse_case(&std::fs::read_to_string(&case).unwrap()) {
            let p = dir.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        let before = listing(dir.path());
        let out = Command::new(env!("CARGO_BIN_EXE_dhib"))
            .arg("-C")
            .arg(dir.path())
            .arg("check")
            .env("NO_COLOR", "1")
            .env("TERM", "xterm")
            .env("LANG", "C.UTF-8")
            .env("LC_ALL", "C.UTF-8")
            .env("COLUMNS", "100")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(1), "{name}: expected exit 1\n{stderr}");
        assert!(!stderr.contains("panicked"), "{name} panicked:\n{stderr}");
        assert_eq!(listing(dir.path()), before, "{name}: dhib check wrote files");
        insta::assert_snapshot!(name, stderr);
    }
}
