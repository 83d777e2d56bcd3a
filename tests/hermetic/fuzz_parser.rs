//! Random mutations of the .dhi files under examples/ and stdlib/: analysis,
//! formatting and diagnostic rendering must never panic, whatever the input,
//! and every span a diagnostic holds must lie inside its file's text.

use std::path::Path;

use dhib::analysis::Analysis;
use dhib::lang::diag::{Diag, Rendered, SourceLookup, Span};
use proptest::prelude::*;

fn corpus() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["examples", "stdlib"] {
        for e in walkdir::WalkDir::new(root.join(dir)).sort_by_file_name() {
            let e = e.unwrap();
            if e.path().extension().is_some_and(|x| x == "dhi") {
                let rel = e.path().strip_prefix(root).unwrap().to_str().unwrap().to_string();
                files.push((rel, std::fs::read_to_string(e.path()).unwrap()));
            }
        }
    }
    assert!(files.len() >= 10, "found only {} .dhi files", files.len());
    files
}

const TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    "\"",
    "\"\"\"",
    "=",
    "+=",
    "+",
    "//",
    ":",
    ",",
    "#",
    "\n",
    "{x}",
    "{{",
    "}}",
    "'",
    ";",
    "variant \"v\" {",
    "load(\"@stdlib//build.dhi\", \"make\")",
    "load(\"//nope.dhi\", \"x\")",
    "template t(a) {",
    "t(1, 2, 3)",
    "image",
    "file(\"../x\")",
    "0o7777",
    "-9223372036854775808",
    "99999999999999999999",
    "é",
    "\\",
    "\\\"",
    "\t",
    "\r\n",
    "\u{0}",
];

#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize, usize),
    Insert(usize, usize),
    InsertBytes(usize, Vec<u8>),
    Duplicate(usize, usize, usize),
    Swap(usize, usize, usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        1 => (any::<usize>(), 1..40usize).prop_map(|(a, n)| Mutation::Delete(a, n)),
        3 => (any::<usize>(), 0..TOKENS.len()).prop_map(|(a, t)| Mutation::Insert(a, t)),
        1 => (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..8)).prop_map(|(a, b)| Mutation::InsertBytes(a, b)),
        1 => (any::<usize>(), 1..60usize, any::<usize>()).prop_map(|(a, n, to)| Mutation::Duplicate(a, n, to)),
        1 => (any::<usize>(), any::<usize>(), 1..40usize).prop_map(|(a, b, n)| Mutation::Swap(a, b, n)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
    ]
}

/// Applies a mutation at char boundaries, keeping the text valid UTF-8.
fn apply(text: &str, m: &Mutation) -> String {
    let bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).chain([text.len()]).collect();
    let at = |x: usize| bounds[x % bounds.len()];
    // The first boundary at least `n` bytes after `start`.
    let after = |start: usize, n: usize| bounds.iter().copied().find(|b| *b >= start + n).unwrap_or(text.len());
    let mut s = text.to_string();
    match m {
        Mutation::Delete(a, n) => {
            let start = at(*a);
            s.replace_range(start..after(start, *n), "");
        }
        Mutation::Insert(a, t) => s.insert_str(at(*a), TOKENS[*t]),
        Mutation::InsertBytes(a, b) => s.insert_str(at(*a), &String::from_utf8_lossy(b)),
        Mutation::Duplicate(a, n, to) => {
            let start = at(*a);
            let piece = text[start..after(start, *n)].to_string();
            s.insert_str(at(*to), &piece);
        }
        Mutation::Swap(a, b, n) => {
            let (x, y) = (at(*a).min(at(*b)), at(*a).max(at(*b)));
            let x_end = after(x, *n).min(y);
            let y_end = after(y, *n);
            s = [&text[..x], &text[y..y_end], &text[x_end..y], &text[x..x_end], &text[y_end..]].concat();
        }
        Mutation::Truncate(a) => s.truncate(at(*a)),
    }
    s
}

/// A span miette can show: inside the text and on character boundaries.
fn check_span(lookup: &dyn SourceLookup, file: &str, span: Span, d: &Diag) {
    if file.is_empty() {
        return;
    }
    let text = lookup.source_text(file).unwrap_or_else(|| panic!("no source for `{file}` in {d:?}"));
    let (a, b) = (span.start as usize, span.end as usize);
    assert!(a <= b && b <= text.len(), "span {a}..{b} outside `{file}` ({} bytes): {d:?}", text.len());
    assert!(text.is_char_boundary(a) && text.is_char_boundary(b), "span {a}..{b} splits a character: {d:?}");
}

/// Analyses `files`, formats `path`, and renders every diagnostic.
fn exercise(files: Vec<(String, String)>, path: &str, text: &str) {
    let _ = dhib::lang::fmt::format(path, text);
    let mut a = Analysis::from_texts(files, "linux/amd64");
    if let Err(diags) = a.analyze() {
        assert!(!diags.is_empty(), "analysis failed without a diagnostic");
        for d in diags {
            check_span(&a, &d.file, d.span, &d);
            for n in &d.notes {
                check_span(&a, &n.file, n.span, &d);
            }
            let _ = format!("{:?}", miette::Report::new(Rendered::new(d, &a)));
        }
    }
}

/// Inputs that once panicked, minimized.
#[test]
fn regressions() {
    let cases: &[&str] = &[
        // The bare-value hint sliced the text inside the `→` before the error.
        "image \"a\" {\n  # →\n  :x\n}\n",
        // The formatter met a comment between `=` and the value after the
        // value's end, and sliced backwards measuring the gap before it.
        "let x = # c\n 1\n",
        "image \"a\" {\n  env = { P =# c\n  l}\n}\n",
    ];
    for text in cases {
        exercise(vec![("x/BUILD.dhi".to_string(), text.to_string())], "x/BUILD.dhi", text);
    }
}

proptest! {
    // PROPTEST_CASES=N runs a longer campaign.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn no_input_makes_analysis_panic(file in any::<prop::sample::Index>(), mutations in proptest::collection::vec(mutation(), 1..4)) {
        let mut files = corpus();
        let i = file.index(files.len());
        let mut text = files[i].1.clone();
        for m in &mutations {
            text = apply(&text, m);
        }
        files[i].1 = text.clone();
        let path = files[i].0.clone();
        exercise(files, &path, &text);
    }
}
