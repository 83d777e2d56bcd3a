//! Random mutations of the example and stdlib files: analysis, formatting
//! and diagnostic rendering must never panic, whatever the input.

use std::path::PathBuf;

use dhib::analysis::{discover, Analysis, STDLIB};
use dhib::lang::diag::Rendered;
use proptest::prelude::*;

fn corpus() -> Vec<(String, String)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut files = discover(&root, &["tests".into(), "benches".into()]).unwrap();
    files.extend(STDLIB.iter().map(|(p, t)| (p.to_string(), t.to_string())));
    files
}

const TOKENS: &[&str] = &[
    "{", "}", "[", "]", "(", ")", "\"", "\"\"\"", "=", "+=", "+", "//", ":", ",", "#", "\n", "{x}", "{{", "variant \"v\" {",
    "load(\"@stdlib//build.dhi\", \"make\")", "template t(a) {", "image", "0o7777", "-9223372036854775808", "é", "\\",
];

#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize, usize),
    Insert(usize, usize),
    InsertBytes(usize, Vec<u8>),
    Duplicate(usize, usize, usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1..40usize).prop_map(|(a, n)| Mutation::Delete(a, n)),
        (any::<usize>(), 0..TOKENS.len()).prop_map(|(a, t)| Mutation::Insert(a, t)),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..8)).prop_map(|(a, b)| Mutation::InsertBytes(a, b)),
        (any::<usize>(), 1..60usize, any::<usize>()).prop_map(|(a, n, to)| Mutation::Duplicate(a, n, to)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

/// Applies a mutation at char boundaries, keeping the text valid UTF-8.
fn apply(text: &str, m: &Mutation) -> String {
    let bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).chain([text.len()]).collect();
    let at = |x: usize| bounds[x % bounds.len()];
    let mut s = text.to_string();
    match m {
        Mutation::Delete(a, n) => {
            let start = at(*a);
            let end = bounds.iter().copied().find(|b| *b >= start + n).unwrap_or(text.len());
            s.replace_range(start..end, "");
        }
        Mutation::Insert(a, t) => s.insert_str(at(*a), TOKENS[*t]),
        Mutation::InsertBytes(a, b) => s.insert_str(at(*a), &String::from_utf8_lossy(b)),
        Mutation::Duplicate(a, n, to) => {
            let start = at(*a);
            let end = bounds.iter().copied().find(|b| *b >= start + n).unwrap_or(text.len());
            let piece = text[start..end].to_string();
            s.insert_str(at(*to), &piece);
        }
        Mutation::Truncate(a) => s.truncate(at(*a)),
    }
    s
}

proptest! {
    // PROPTEST_CASES=N runs a longer campaign.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(400),
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
        let _ = dhib::lang::fmt::format(&path, &text);
        let workspace: Vec<(String, String)> = files.into_iter().filter(|(p, _)| !p.starts_with('@')).collect();
        let mut a = Analysis::from_texts(workspace, "linux/amd64");
        if let Err(diags) = a.analyze() {
            for d in diags {
                // Rendering checks every span against its source text.
                let _ = format!("{:?}", miette::Report::new(Rendered::new(d, &a)));
            }
        }
    }
}
