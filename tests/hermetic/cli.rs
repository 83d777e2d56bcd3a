//! The `dhib` binary on the example catalog, as a user runs it.

use crate::common;
use common::{stderr, stdout, Ws};
use std::process::Output;

fn dhib(args: &[&str]) -> Output {
    common::dhib().args(args).current_dir(env!("CARGO_MANIFEST_DIR")).output().expect("dhib runs")
}

fn stdout_lines(args: &[&str]) -> Vec<String> {
    let out = dhib(args);
    assert!(out.status.success(), "dhib {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).collect()
}

#[test]
fn rdeps_of_zlib_lists_every_image_that_must_rebuild() {
    let images = stdout_lines(&["query", "kind(image, rdeps(//..., //examples/pkgs/zlib))"]);
    assert_eq!(
        images,
        [
            "//examples/images/lua:lua",
            "//examples/images/lua:lua-dev",
            "//examples/images/minigzip:minigzip",
            "//examples/images/minigzip:minigzip-dev",
            "//examples/images/sqlite:sqlite",
            "//examples/images/sqlite:sqlite-dev",
        ]
    );
    let all = stdout_lines(&["query", "rdeps(//..., //examples/pkgs/zlib)"]);
    assert!(all.contains(&"//examples/customizations/acme:acme-lua".to_string()));
    assert!(all.contains(&"//examples/images/sqlite:sqlite-version".to_string()));
    assert!(!all.iter().any(|l| l.contains("debian-runtime")), "the base does not contain zlib: {all:?}");
}

#[test]
fn set_operators_depth_and_attr() {
    let direct = stdout_lines(&["query", "deps(//examples/images/lua:lua, 1)"]);
    assert_eq!(direct, ["//examples/bases:debian-runtime", "//examples/images/lua:lua", "//examples/pkgs/lua:lua"]);
    let minus = stdout_lines(&["query", "deps(//examples/images/lua:lua, 1) - //examples/bases/..."]);
    assert_eq!(minus, ["//examples/images/lua:lua", "//examples/pkgs/lua:lua"]);
    let inter = stdout_lines(&["query", "kind(package, //...) ^ attr(license, MIT, //...)"]);
    assert_eq!(inter, ["//examples/pkgs/lua:lua"]);
    let paths = stdout_lines(&["query", "allpaths(//examples/customizations/acme:acme-lua, //examples/pkgs/zlib:zlib)"]);
    assert_eq!(
        paths,
        ["//examples/customizations/acme:acme-lua", "//examples/images/lua:lua", "//examples/pkgs/lua:lua", "//examples/pkgs/zlib:zlib",]
    );
    let tests = stdout_lines(&["query", "tests(//examples/images/lua:lua)"]);
    assert_eq!(tests, ["//examples/images/lua:lua-files", "//examples/images/lua:lua-hello"]);
}

#[test]
fn json_and_dot_outputs() {
    let out = dhib(&["query", "kind(source, //...)", "--output", "json"]);
    assert!(out.status.success());
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    for r in rows {
        assert_eq!(r["kind"], "source");
        assert_eq!(r["key"].as_str().unwrap().len(), 64);
    }
    let dot = String::from_utf8(dhib(&["graph", "//examples/images/minigzip:minigzip"]).stdout).unwrap();
    assert!(dot.starts_with("digraph dhib {"));
    assert!(dot.contains("\"//examples/images/minigzip:minigzip\" -> \"//examples/pkgs/zlib:zlib\";"));
}

#[test]
fn key_prints_stable_hex_keys() {
    let a = stdout_lines(&["key", "//examples/images/lua:lua", "//examples/images/lua:lua#sbom"]);
    let b = stdout_lines(&["key", "//examples/images/lua:lua", "//examples/images/lua:lua#sbom"]);
    assert_eq!(a, b);
    assert_eq!(a.len(), 2);
    assert!(a[0].ends_with("  //examples/images/lua:lua"));
    assert_ne!(a[0][..64], a[1][..64]);
}

#[test]
fn unknown_targets_get_a_suggestion_and_exit_1() {
    let out = dhib(&["query", "rdeps(//..., //examples/pkgs/zlb)"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("no target `//examples/pkgs/zlb`"), "{err}");
    assert!(err.contains("did you mean `//examples/pkgs/zlib:zlib`?"), "{err}");
    let out = dhib(&["query", "rdep(//...)"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stderr).unwrap().contains("did you mean `rdeps`?"));
}

#[test]
fn outside_a_workspace_says_how_to_make_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::dhib().args(["-C", dir.path().to_str().unwrap(), "check"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stderr).unwrap().contains("no dhi.toml found"));
}

#[test]
fn examples_are_formatted_and_fmt_is_idempotent() {
    let out = dhib(&["fmt", "--check"]);
    assert!(out.status.success(), "examples need `dhib fmt`: {}", String::from_utf8_lossy(&out.stdout));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("dhi.toml"), "").unwrap();
    std::fs::write(dir.path().join("a.dhi"), "test  \"t\"{image=:i # x\n}").unwrap();
    let run = |args: &[&str]| common::dhib().arg("-C").arg(dir.path()).args(args).output().unwrap();
    assert_eq!(run(&["fmt", "--check"]).status.code(), Some(1));
    assert!(run(&["fmt"]).status.success());
    assert_eq!(std::fs::read_to_string(dir.path().join("a.dhi")).unwrap(), "test \"t\" {\n  image = :i  # x\n}\n");
    assert!(run(&["fmt", "--check"]).status.success());
}

#[test]
fn help_teaches_with_examples() {
    let top = String::from_utf8(dhib(&["--help"]).stdout).unwrap();
    assert!(top.contains("dhib query 'rdeps(//..., //pkgs/zlib)'"));
    let q = String::from_utf8(dhib(&["query", "--help"]).stdout).unwrap();
    for f in ["deps(X, 1)", "rdeps(U, X)", "allpaths(A, B)", "kind(image, X)", "attr(license, Zlib, X)"] {
        assert!(q.contains(f), "query --help lacks {f}");
    }
}

#[test]
fn support_windows_select_images_and_change_no_key() {
    let image = |name: &str, support: &str| format!("image \"{name}\" {{\n  base = scratch\n  user = 65532\n{support}}}\n");
    let text = |old_until: &str| {
        format!(
            "//- dhi.toml\n[workspace]\nname = \"t\"\n//- images/BUILD.dhi\n{}{}{}",
            image("old", &format!("  support = {{ until = \"{old_until}\" }}\n")),
            image("new", "  support = { until = \"2030-12-31\" }\n"),
            image("forever", ""),
        )
    };
    let ws = Ws::fixture(&text("2026-06-30"));
    let lines = |q: &str| {
        let out = ws.dhib(&["query", q]);
        assert!(out.status.success(), "{q}: {}", stderr(&out));
        stdout(&out).lines().map(str::to_string).collect::<Vec<_>>()
    };
    assert_eq!(lines("supported(2027-01-01, //...)"), ["//images:forever", "//images:new"]);
    assert_eq!(lines("unsupported(2027-01-01, //...)"), ["//images:old"]);
    // The last day is inside the window.
    assert_eq!(lines("unsupported(2026-06-30, //...)"), Vec::<String>::new());
    // A window decides what is rebuilt, not what is built: no key changes.
    let key = |ws: &Ws| stdout(&ws.dhib(&["key", "//images:old"]));
    let before = key(&ws);
    assert!(before.ends_with("  //images:old\n") && before.find(' ') == Some(64), "a key: {before}");
    ws.add_fixture(&text("2028-01-01"));
    assert_eq!(key(&ws), before);
    // Bad dates, in the file and in the query, are named where they are.
    ws.add_fixture(&text("2027-02-29"));
    let out = ws.dhib(&["check"]);
    let err = stderr(&out);
    assert!(!out.status.success() && err.contains("E0250") && err.contains("not a calendar date"), "{err}");
    ws.add_fixture(&text("2028-02-29"));
    let out = ws.dhib(&["query", "supported(2027-13-01, //...)"]);
    let err = stderr(&out);
    assert!(!out.status.success() && err.contains("E0404") && err.contains("2027-13-01"), "{err}");
}
