//! `dhib affected`: what a change touches, against a git revision or for a
//! list of files, so CI builds only that.

use std::process::Command;

mod common;
use common::{stderr, stdout, Ws};

const SHA: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn git(ws: &Ws, args: &[&str]) {
    let out = Command::new("git").arg("-C").arg(ws.path()).args(args).output().unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Two packages from one shared library file, each in an image.
fn workspace() -> Ws {
    let ws = Ws::empty();
    ws.write("dhi.toml", "[workspace]\nname = \"t\"\n");
    ws.write("lib/flags.dhi", "let cflags = \"-O2\"\n");
    ws.write("toolchains/BUILD.dhi", "env \"cc\" {\n  packages = []\n}\n");
    for name in ["a", "b"] {
        let load = if name == "a" { "load(\"//lib/flags.dhi\", \"cflags\")\n\n" } else { "" };
        let flags = if name == "a" { "cflags" } else { "\"-O1\"" };
        ws.write(
            &format!("pkgs/{name}/BUILD.dhi"),
            &format!(
                "{load}source \"{name}-src\" {{\n  url = \"file://{name}.tar.gz\"\n  sha256 = \"{SHA}\"\n}}\n\n\
                 package \"{name}\" {{\n  version = \"1\"\n  source = :{name}-src\n  env = //toolchains:cc\n  \
                 build = {{ steps = [\"make\"], env = {{ CFLAGS = {flags} }} }}\n}}\n"
            ),
        );
        ws.write(
            &format!("images/{name}/BUILD.dhi"),
            &format!("image \"{name}\" {{\n  packages = [//pkgs/{name}]\n  user = 65532\n}}\n"),
        );
    }
    let check = ws.dhib(&["check"]);
    assert!(check.status.success(), "{}", stderr(&check));
    git(&ws, &["init", "-q"]);
    git(&ws, &["-c", "user.email=t@example.com", "-c", "user.name=t", "add", "."]);
    git(&ws, &["-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "one"]);
    ws
}

fn lines(out: &std::process::Output) -> Vec<String> {
    assert!(out.status.success(), "{}", stderr(out));
    stdout(out).lines().map(str::to_string).collect()
}

#[test]
fn since_a_revision_lists_exactly_the_nodes_whose_keys_changed() {
    let ws = workspace();
    assert!(lines(&ws.dhib(&["affected", "--since", "HEAD"])).is_empty(), "nothing changed yet");
    // A value in the shared file: a's package, image and attestations; not b.
    ws.write("lib/flags.dhi", "let cflags = \"-O3\"\n");
    let changed = lines(&ws.dhib(&["affected", "--since", "HEAD"]));
    assert!(changed.contains(&"//pkgs/a:a".to_string()) && changed.contains(&"//images/a:a".to_string()), "{changed:?}");
    assert!(changed.contains(&"//images/a:a#sbom".to_string()), "{changed:?}");
    assert!(!changed.iter().any(|n| n.contains("/b:") || n.contains("a-src")), "{changed:?}");
    // A comment or a reformat changes no key.
    ws.write("lib/flags.dhi", "# the flags\nlet cflags   =   \"-O2\"\n");
    assert!(lines(&ws.dhib(&["affected", "--since", "HEAD"])).is_empty());
    let json = ws.dhib(&["affected", "--since", "HEAD", "--output", "json"]);
    let rows: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(rows, serde_json::json!([]));

    let bad = ws.dhib(&["affected", "--since", "no-such-rev"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("E0901") && stderr(&bad).contains("--since takes a revision"), "{}", stderr(&bad));
}

#[test]
fn files_list_what_depends_on_them() {
    let ws = workspace();
    let by_lib = lines(&ws.dhib(&["affected", "--files", "lib/flags.dhi"]));
    assert!(by_lib.contains(&"//pkgs/a:a".to_string()) && by_lib.contains(&"//images/a:a#provenance".to_string()), "{by_lib:?}");
    assert!(!by_lib.iter().any(|n| n.contains("/b:")), "{by_lib:?}");
    let by_b = lines(&ws.dhib(&["affected", "--files", "pkgs/b/BUILD.dhi"]));
    assert!(by_b.contains(&"//pkgs/b:b-src".to_string()) && by_b.contains(&"//images/b:b".to_string()), "{by_b:?}");
    assert!(!by_b.iter().any(|n| n.contains("/a:")), "{by_b:?}");
    let all = lines(&ws.dhib(&["affected", "--files", "dhi.toml"]));
    assert!(all.iter().any(|n| n.contains("/a:")) && all.iter().any(|n| n.contains("/b:")), "{all:?}");
    let json = ws.dhib(&["affected", "--files", "pkgs/b/BUILD.dhi", "--output", "json"]);
    let rows: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert!(rows.as_array().unwrap().iter().any(|r| r["node"] == "//images/b:b" && r["kind"] == "image" && r["key"].is_string()), "{rows}");
}
