//! The architecture, checked: which crate may depend on which (the
//! dependency graph of the workspace *is* the layering of ARCHITECTURE.md),
//! which crates may touch the file system, the environment, processes or
//! the network, and the size rules of the code map.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every crate of the workspace and the dhib crates it may depend on:
/// data flows lang → graph → analysis → exec, with store → oci → attest
/// beneath execution, upstream above it, commands above all, the binary last.
const ALLOWED: &[(&str, &[&str])] = &[
    ("dhib-core", &[]),
    ("dhib-net", &[]),
    ("dhib-lang", &["dhib-core"]),
    ("dhib-graph", &["dhib-core", "dhib-lang"]),
    ("dhib-analysis", &["dhib-core", "dhib-lang", "dhib-graph"]),
    ("dhib-store", &["dhib-core"]),
    ("dhib-oci", &["dhib-core", "dhib-store", "dhib-net"]),
    ("dhib-attest", &["dhib-core", "dhib-oci"]),
    ("dhib-scan", &["dhib-core"]),
    (
        "dhib-exec",
        &["dhib-core", "dhib-lang", "dhib-graph", "dhib-analysis", "dhib-store", "dhib-net", "dhib-oci", "dhib-attest", "dhib-scan"],
    ),
    ("dhib-upstream", &["dhib-core", "dhib-lang", "dhib-graph", "dhib-analysis", "dhib-store", "dhib-net", "dhib-exec"]),
    (
        "dhib-commands",
        &[
            "dhib-core",
            "dhib-lang",
            "dhib-graph",
            "dhib-analysis",
            "dhib-store",
            "dhib-oci",
            "dhib-attest",
            "dhib-scan",
            "dhib-exec",
            "dhib-upstream",
        ],
    ),
];

/// Crates that are pure: no file system, environment, clock or process.
const PURE: &[&str] = &["core", "lang", "graph", "attest"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn manifest(path: &Path) -> toml::Table {
    toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The dhib crates a manifest depends on (normal dependencies; dev
/// dependencies may reach further, for tests only).
fn dhib_deps(m: &toml::Table) -> BTreeSet<String> {
    m.get("dependencies")
        .and_then(|d| d.as_table())
        .into_iter()
        .flatten()
        .map(|(k, _)| k.clone())
        .filter(|k| k.starts_with("dhib-"))
        .collect()
}

fn sources(dir: &Path) -> Vec<(PathBuf, String)> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "rs"))
        .map(|e| (e.path().to_path_buf(), std::fs::read_to_string(e.path()).unwrap()))
        .collect()
}

#[test]
fn each_crate_depends_only_on_the_layers_below_it() {
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut seen = BTreeSet::new();
    for entry in std::fs::read_dir(root().join("crates")).unwrap() {
        let m = manifest(&entry.unwrap().path().join("Cargo.toml"));
        let name = m["package"]["name"].as_str().unwrap().to_string();
        let may = allowed.get(name.as_str()).unwrap_or_else(|| panic!("{name} is not in ALLOWED: place it in the layering first"));
        for dep in dhib_deps(&m) {
            assert!(may.contains(&dep.as_str()), "{name} depends on {dep}, which its layer may not use");
        }
        seen.insert(name);
    }
    let listed: BTreeSet<String> = allowed.keys().map(|k| k.to_string()).collect();
    assert_eq!(seen, listed, "ALLOWED names a crate that does not exist");
    assert!(seen.len() >= 6);
}

#[test]
fn pure_crates_touch_no_file_environment_clock_or_process() {
    for krate in PURE {
        for (path, text) in sources(&root().join("crates").join(krate).join("src")) {
            for forbidden in ["std::fs", "std::env", "std::process", "std::net", "SystemTime::now", "Instant::now", "File::open"] {
                assert!(!text.contains(forbidden), "{} uses {forbidden}; dhib-{krate} must stay pure", path.display());
            }
        }
    }
}

#[test]
fn only_dhib_net_makes_an_http_agent_and_only_dhib_oci_knows_oci_media_types() {
    for (path, text) in sources(&root().join("crates")).into_iter().chain(sources(&root().join("src"))) {
        let rel = path.strip_prefix(root()).unwrap().to_string_lossy().into_owned();
        if !rel.starts_with("crates/net/") {
            assert!(!text.contains("Agent::config_builder") && !text.contains("Agent::new"), "{rel} builds an HTTP agent");
        }
        if !rel.starts_with("crates/oci/") {
            assert!(!text.contains("application/vnd.oci."), "{rel} spells an OCI media type");
        }
    }
}

#[test]
fn the_cli_parses_calls_and_prints() {
    let cli = sources(&root().join("src/cli"));
    let main = cli.iter().find(|(p, _)| p.ends_with("main.rs")).unwrap();
    assert!(main.1.lines().count() < 300, "src/cli/main.rs has {} lines", main.1.lines().count());
    for (path, text) in &cli {
        for decision in ["std::fs", "std::env::var", "Store::open", "Analysis::load", "dhib_store", "dhib_analysis"] {
            assert!(!text.contains(decision), "{} uses {decision}: that belongs in dhib-commands", path.display());
        }
    }
    let m = manifest(&root().join("Cargo.toml"));
    let deps = dhib_deps(&m);
    assert!(deps.contains("dhib-commands"));
}

#[test]
fn only_exec_facts_knows_the_keys_of_result_metadata() {
    for (path, text) in sources(&root().join("crates")) {
        let rel = path.strip_prefix(root()).unwrap().to_string_lossy().into_owned();
        if rel.ends_with("exec/src/facts.rs") || rel.starts_with("crates/store/") {
            continue;
        }
        assert!(!text.contains("metadata.get(") && !text.contains("metadata.insert("), "{rel} reads or writes result metadata by key");
    }
}

#[test]
fn no_library_source_file_is_over_800_lines() {
    for (path, text) in sources(&root().join("crates")) {
        let n = text.lines().count();
        assert!(n <= 800, "{} has {n} lines: split it by concept", path.display());
    }
}
