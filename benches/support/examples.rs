//! What the end-to-end benchmarks over the example catalog share: the dhib
//! they run, and a store seeded from the workspace's own.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `dhib ARGS` in `ws` with `store`, which must succeed, and how long it took.
pub fn run(ws: &Path, store: &Path, args: &[&str]) -> (Output, Duration) {
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_dhib")).arg("--store").arg(store).args(args).current_dir(ws).output().unwrap();
    let took = start.elapsed();
    assert!(out.status.success(), "dhib {args:?}: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out, took)
}

pub fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// A store in `dir` that starts as a hard-linked copy of the workspace's
/// (.dhib/, or $DHIB_STORE): after `./run.sh` an untimed build is all cache
/// hits. Blobs are immutable and results are replaced by rename or
/// unlinked, so the copy never writes through to the original.
pub fn seeded_store(dir: &Path) -> PathBuf {
    let seed = std::env::var_os("DHIB_STORE").map(PathBuf::from).unwrap_or_else(|| repo().join(".dhib"));
    let store = dir.join("store");
    if seed.is_dir() {
        let copied = Command::new("cp").arg("-al").arg(&seed).arg(&store).status().unwrap();
        assert!(copied.success(), "cannot copy the store {} (on another file system?)", seed.display());
    }
    store
}

/// Removes the cached results of `nodes` from `store`, so that the next
/// build remakes them whatever an earlier run left in the seed.
pub fn forget(ws: &Path, store: &Path, nodes: &[String]) {
    let args: Vec<&str> = ["key"].into_iter().chain(nodes.iter().map(String::as_str)).collect();
    let (keys, _) = run(ws, store, &args);
    for line in String::from_utf8_lossy(&keys.stdout).lines() {
        let key = line.split_whitespace().next().unwrap();
        let _ = std::fs::remove_file(store.join("ac").join(&key[..2]).join(format!("{key}.json")));
    }
}

/// The nodes a `dhib build --output json` built, with the seconds each took.
pub fn built(out: &Output) -> Vec<(String, f64)> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "built")
        .map(|e| (e["node"].as_str().unwrap_or_default().to_string(), e["seconds"].as_f64().unwrap_or(0.0)))
        .collect()
}
