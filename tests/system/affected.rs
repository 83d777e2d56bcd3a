//! `dhib affected`: what a change touches, against a git revision or for a
//! list of files, so CI builds only that.

use std::process::Command;

use crate::common;
use common::{built_nodes, stderr, stdout, Ws};

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
        ws.write(&format!("images/{name}/BUILD.dhi"), &format!("image \"{name}\" {{\n  packages = [//pkgs/{name}]\n  user = 65532\n}}\n"));
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
    assert!(stderr(&bad).contains("E0911") && stderr(&bad).contains("--since takes a revision"), "{}", stderr(&bad));
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

/// A package in a base image, an image on the base, a customization of that
/// image and an unrelated image, signed; the package changes.
fn cascade_workspace() -> Ws {
    let ws = common::busybox_workspace("\n[sign]\nkey = \"cosign.key\"\n", "\nenv \"bb\" {\n  packages = [:busybox-static]\n}\n");
    ws.write("pkgs/BUILD.dhi", &motd("1"));
    let shell = "  skip_checks = { no_shell = \"busybox is the point\" }\n  user = 65532\n";
    ws.write(
        "images/BUILD.dhi",
        &format!(
            "image \"base\" {{\n  packages = [//pkgs:motd, //debian:busybox-static]\n  description = \"base\"\n{shell}}}\n\n\
             image \"app\" {{\n  base = :base\n  env = {{ APP = \"1\" }}\n  description = \"app\"\n{shell}}}\n\n\
             customization \"custom\" {{\n  base = :app\n  labels = {{ team = \"t\" }}\n  description = \"custom\"\n  \
             skip_checks = {{ no_shell = \"busybox is the point\" }}\n}}\n\n\
             image \"unrelated\" {{\n  packages = [//debian:busybox-static]\n  description = \"unrelated\"\n{shell}}}\n\n\
             test \"custom-motd\" {{\n  image = :custom\n  run = [\"/bin/busybox\", \"cat\", \"/etc/greeting\", \"/etc/motd\"]\n  \
             expect {{ stdout_regex = \"^hello\\nmotd \" }}\n}}\n"
        ),
    );
    let keygen = ws.dhib(&["keygen"]);
    assert!(keygen.status.success(), "{}", stderr(&keygen));
    ws
}

/// `motd` needs `greeting` at run time, named in both `deps` and
/// `runtime_deps` (the image must still install it).
fn motd(version: &str) -> String {
    format!(
        "package \"greeting\" {{\n  version = \"1\"\n  env = //debian:bb\n  \
         build = {{ steps = [\"mkdir -p $DESTDIR/etc\", \"echo hello > $DESTDIR/etc/greeting\"] }}\n  \
         outputs {{\n    runtime = [\"etc/**\"]\n  }}\n}}\n\n\
         package \"motd\" {{\n  version = \"{version}\"\n  env = //debian:bb\n  deps = [:greeting]\n  runtime_deps = [:greeting]\n  \
         build = {{ steps = [\"mkdir -p $DESTDIR/etc\", \"echo motd {version} > $DESTDIR/etc/motd\"] }}\n  \
         outputs {{\n    runtime = [\"etc/**\"]\n  }}\n}}\n"
    )
}

fn digests(ws: &Ws) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(ws.path().join("dhib-out/index.json")).unwrap()).unwrap()
}

#[test]
fn a_change_to_a_base_package_rebuilds_and_resigns_exactly_what_is_affected() {
    let ws = cascade_workspace();
    let first = ws.dhib(&["build", "//..."]);
    assert!(first.status.success(), "{}", stderr(&first));
    let before = digests(&ws);
    git(&ws, &["init", "-q"]);
    git(&ws, &["-c", "user.email=t@example.com", "-c", "user.name=t", "add", "."]);
    git(&ws, &["-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "one"]);

    ws.write("pkgs/BUILD.dhi", &motd("2"));
    let affected = lines(&ws.dhib(&["affected", "--since", "HEAD"]));
    for node in [
        "//pkgs:motd",
        "//images:base",
        "//images:app",
        "//images:custom",
        "//images:custom-motd",
        "//images:custom#test-report",
        "//images:app#sbom",
        "//images:base#provenance",
    ] {
        assert!(affected.contains(&node.to_string()), "{node} not in {affected:?}");
    }
    assert!(!affected.iter().any(|n| n.contains("unrelated") || n.contains("debian")), "{affected:?}");

    // Building everything rebuilds exactly those.
    let second = ws.dhib(&["build", "//...", "--output", "json"]);
    assert!(second.status.success(), "{}", stderr(&second));
    let built = built_nodes(&second);
    let mut expected = affected.clone();
    expected.sort();
    assert_eq!(built, expected);
    let after = digests(&ws);
    for image in ["//images:base", "//images:app", "//images:custom"] {
        assert_ne!(before["images"][image]["manifest"], after["images"][image]["manifest"], "{image} did not change");
        let verified = ws.dhib(&["verify", image]);
        assert!(verified.status.success(), "{image}: {}", stdout(&verified));
    }
    assert_eq!(before["images"]["//images:unrelated"]["manifest"], after["images"]["//images:unrelated"]["manifest"]);
    let run = ws.dhib(&["test", "//images:custom"]);
    assert!(run.status.success() && stdout(&run).contains("passed   //images:custom-motd"), "{}", stdout(&run));
}

#[test]
fn a_vex_statement_changes_only_vex_documents() {
    let ws = workspace();
    let text = std::fs::read_to_string(ws.path().join("pkgs/b/BUILD.dhi")).unwrap();
    let with_vex = text.replace(
        "package \"b\" {\n",
        "package \"b\" {\n  vex = { \"CVE-2024-0001\" = { status = \"not_affected\", justification = \"vulnerable_code_not_present\" } }\n",
    );
    assert_ne!(text, with_vex);
    ws.write("pkgs/b/BUILD.dhi", &with_vex);
    let changed = lines(&ws.dhib(&["affected", "--since", "HEAD"]));
    assert_eq!(changed, ["//images/b:b#vex"], "a statement re-makes the VEX document and rebuilds nothing");
}
