//! The error-code registry: every code the sources use is explained, and
//! docs/errors.md is the registry as `dhib explain --markdown` writes it.

use std::collections::BTreeSet;
use std::path::Path;

use crate::common::{self, stdout};

fn used_codes() -> BTreeSet<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = BTreeSet::new();
    for dir in ["crates", "src"] {
        for e in walkdir::WalkDir::new(root.join(dir)).into_iter().filter_map(Result::ok) {
            if e.path().extension().is_some_and(|x| x == "rs") && !e.path().to_string_lossy().contains("core/src/codes/") {
                out.extend(quoted_codes(&std::fs::read_to_string(e.path()).unwrap()));
            }
        }
    }
    out
}

/// The codes written as string literals in `text`: `"E` and four digits.
fn quoted_codes(text: &str) -> Vec<String> {
    text.match_indices("\"E")
        .filter_map(|(i, _)| {
            let code = text.get(i + 1..i + 6)?;
            let closed = text[i + 6..].starts_with('"') && code[1..].bytes().all(|b| b.is_ascii_digit());
            closed.then(|| code.to_string())
        })
        .collect()
}

#[test]
fn every_code_in_the_sources_is_explained() {
    let used = used_codes();
    assert!(used.len() > 90, "found only {} codes", used.len());
    let listed = stdout(&common::dhib().arg("explain").output().unwrap());
    let registered: BTreeSet<String> = listed.lines().filter_map(|l| l.split_whitespace().next()).map(str::to_string).collect();
    let missing: Vec<&String> = used.difference(&registered).collect();
    assert!(missing.is_empty(), "codes used but not in crates/core/src/codes/list.rs: {missing:?}");
    let unused: Vec<&String> = registered.difference(&used).collect();
    assert!(unused.is_empty(), "codes in the registry that nothing reports: {unused:?}");
}

#[test]
fn explain_prints_one_entry_and_refuses_what_is_no_code() {
    let out = common::dhib().args(["explain", "e0201"]).output().unwrap();
    assert!(out.status.success());
    assert!(stdout(&out).starts_with("E0201: "), "{}", stdout(&out));
    let bad = common::dhib().args(["explain", "E9999"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(common::stderr(&bad).contains("E0008"), "{}", common::stderr(&bad));
}

#[test]
fn docs_errors_md_is_the_registry() {
    let out = common::dhib().args(["explain", "--markdown"]).output().unwrap();
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/errors.md")).unwrap();
    assert!(stdout(&out) == doc, "docs/errors.md is not the registry: write it again with `dhib explain --markdown > docs/errors.md`");
}
