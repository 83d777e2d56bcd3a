//! Editing one file re-parses only that file and recomputes only the keys
//! downstream of it: the salsa database reuses everything else.

use std::sync::{Arc, Mutex};

use dhib::analysis::{discover, Analysis};
use dhib::db::Database;

fn example_texts() -> Vec<(String, String)> {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    discover(&root, &["tests".into(), "stdlib".into(), "benches".into()]).unwrap()
}

/// Counts executions per query name (`parse`, `node_key`, ...).
fn count(log: &[String], query: &str) -> usize {
    log.iter().filter(|l| l.starts_with(&format!("{query}("))).count()
}

#[test]
fn editing_one_file_recomputes_only_what_depends_on_it() {
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = log.clone();
    let db = Database::with_execution_log(move |q| sink.lock().unwrap().push(q));
    let files = example_texts();
    let file_count = files.len();
    let lua = "examples/pkgs/lua/BUILD.dhi";
    let lua_text = files.iter().find(|(p, _)| p == lua).unwrap().1.clone();
    let mut a = Analysis::with_db(db, files, "linux/amd64");
    let before = a.analyze().unwrap();
    {
        let l = log.lock().unwrap();
        assert_eq!(count(&l, "parse"), file_count + dhib::analysis::STDLIB.len(), "every file and each stdlib file parse once: {l:?}");
        assert_eq!(count(&l, "node_key"), before.keys.len());
    }
    log.lock().unwrap().clear();

    // Nothing changed: nothing re-executes.
    let same = a.analyze().unwrap();
    assert!(same.keys == before.keys);
    assert!(log.lock().unwrap().iter().all(|q| !q.starts_with("parse(") && !q.starts_with("node_key(")));
    log.lock().unwrap().clear();

    // The first edit of a file moves what depends on it from the durability
    // of loaded files to that of edited ones, which salsa re-validates in
    // full once; from the next edit on, only the edit's own cone is touched.
    let bump = |v: &str| lua_text.replace("version = \"5.4.4\"\n  source", &format!("version = \"{v}\"\n  source"));
    a.set_file(lua, bump("5.4.5"));
    let first = a.analyze().unwrap();
    assert_eq!(count(&log.lock().unwrap(), "parse"), 1, "only the edited file re-parses");
    log.lock().unwrap().clear();

    // Bump Lua's version again: one file re-parses; only Lua's dependents re-key.
    let before = first;
    a.set_file(lua, bump("5.4.6"));
    let after = a.analyze().unwrap();
    let changed = after.keys.changed_since(&before.keys);
    let l = log.lock().unwrap().clone();
    assert_eq!(count(&l, "parse"), 1, "only the edited file re-parses: {l:?}");
    assert_eq!(count(&l, "lower_file"), 1, "only the edited file is lowered again: {l:?}");
    assert!(!changed.is_empty());
    assert_eq!(count(&l, "build_graph"), 0, "a value edit leaves the graph's shape alone: {l:?}");
    assert_eq!(count(&l, "node_key"), changed.len(), "exactly the changed keys are recomputed: {l:?}");
    let g = &after.graph;
    let q = dhib::graph::query::parse("rdeps(//..., //examples/pkgs/lua:lua)").unwrap();
    let rdeps = dhib::graph::query::eval(&q, g, &a).unwrap();
    let mut want: Vec<String> = rdeps.iter().map(|i| g.node(*i).to_string()).collect();
    let mut got: Vec<String> = changed.iter().map(|i| i.to_string()).collect();
    want.sort();
    got.sort();
    assert_eq!(got, want);
    assert!(got.len() < before.keys.len() / 2, "most of the graph was reused");
}
