//! The example catalog builds real zlib, Lua and SQLite from their upstream
//! sources with the pinned Debian toolchain, in the sandbox; the results are
//! reproducible and a second build does nothing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn dhib(store: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dhib")).arg("--store").arg(store).args(args).current_dir(repo()).output().unwrap()
}

/// `dhib ls` rows: (output, path, size or "->", mode or target, digest).
fn files(store: &Path, node: &str) -> Vec<Vec<String>> {
    let out = dhib(store, &["ls", node]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(|l| l.split('\t').map(str::to_string).collect()).collect()
}

fn blob(store: &Path, digest: &str) -> PathBuf {
    let hex = digest.trim_start_matches("sha256:");
    store.join("blobs").join(&hex[..2]).join(hex)
}

#[test]
fn the_examples_build_from_source_reproducibly() {
    assert!(
        repo().join("third_party/debian").is_dir(),
        "third_party/ is missing: run scripts/setup.sh (scripts/test.sh does)"
    );
    let store = tempfile::tempdir().unwrap();
    let out = dhib(store.path(), &["build", "//examples/pkgs/...", "--output", "json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));

    let zlib = files(store.path(), "//examples/pkgs/zlib:zlib");
    assert!(zlib.iter().any(|r| r[0] == "runtime" && r[1] == "usr/lib/libz.so.1.2.13"), "{zlib:?}");
    assert!(zlib.iter().any(|r| r[0] == "dev" && r[1] == "usr/include/zlib.h"));

    // Lua runs, and is a position-independent x86-64 executable.
    let lua = files(store.path(), "//examples/pkgs/lua:lua");
    let row = lua.iter().find(|r| r[0] == "runtime" && r[1] == "usr/bin/lua").expect("lua is in the runtime output");
    let bytes = std::fs::read(blob(store.path(), &row[4])).unwrap();
    assert_eq!(&bytes[..4], b"\x7fELF");
    assert_eq!(u16::from_le_bytes([bytes[16], bytes[17]]), 3, "ET_DYN: built as PIE");
    assert_eq!(u16::from_le_bytes([bytes[18], bytes[19]]), 0x3e, "x86-64");
    let exe = store.path().join("lua");
    std::fs::write(&exe, &bytes).unwrap();
    std::fs::set_permissions(&exe, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let run = Command::new(&exe).args(["-e", "print(_VERSION, 6 * 7)"]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&run.stdout), "Lua 5.4\t42\n");

    let sqlite = files(store.path(), "//examples/pkgs/sqlite:sqlite");
    assert!(sqlite.iter().any(|r| r[0] == "runtime" && r[1] == "usr/bin/sqlite3"), "{sqlite:?}");

    // Debian packages carry their license, from their copyright file.
    let key = String::from_utf8(dhib(store.path(), &["key", "//examples/debian:zlib1g"]).stdout).unwrap();
    let key = key.split_whitespace().next().unwrap();
    let ac: serde_json::Value =
        serde_json::from_slice(&std::fs::read(store.path().join("ac").join(&key[..2]).join(format!("{key}.json"))).unwrap()).unwrap();
    assert_eq!(ac["metadata"]["license"], "Zlib", "{ac}");

    // Nothing to do the second time.
    let again = dhib(store.path(), &["build", "//examples/pkgs/..."]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("targets up to date"), "{}", String::from_utf8_lossy(&again.stderr));

    // A second store, from nothing, gets byte-identical zlib outputs.
    let other = tempfile::tempdir().unwrap();
    assert!(dhib(other.path(), &["build", "//examples/pkgs/zlib"]).status.success());
    assert_eq!(files(other.path(), "//examples/pkgs/zlib:zlib"), zlib);
}
