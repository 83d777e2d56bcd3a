//! Keys change exactly when something that can change an output changes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use dhib::analysis::{discover, Analysis};
use dhib::graph::{Key, NodeId};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn example_texts() -> Vec<(String, String)> {
    discover(&repo(), &["tests".into(), "stdlib".into(), "benches".into()]).unwrap()
}

fn keys_of(files: Vec<(String, String)>) -> HashMap<NodeId, Key> {
    let mut a = Analysis::from_texts(files, "linux/amd64");
    match a.analyze() {
        Ok(r) => r.keys.iter().map(|(id, k)| (id.clone(), k)).collect(),
        Err(d) => panic!("analysis failed: {d:#?}"),
    }
}

fn edit(files: &[(String, String)], path: &str, f: impl Fn(&str) -> String) -> Vec<(String, String)> {
    let mut hit = false;
    let out = files
        .iter()
        .map(|(p, t)| {
            if p == path {
                hit = true;
                (p.clone(), f(t))
            } else {
                (p.clone(), t.clone())
            }
        })
        .collect();
    assert!(hit, "no file {path}");
    out
}

fn changed(a: &HashMap<NodeId, Key>, b: &HashMap<NodeId, Key>) -> Vec<String> {
    let mut v: Vec<String> = a.iter().filter(|(id, k)| b.get(*id) != Some(*k)).map(|(id, _)| id.to_string()).collect();
    v.sort();
    v
}

fn node(s: &str) -> NodeId {
    NodeId::parse(s).unwrap()
}

#[test]
fn layout_comments_and_attribute_order_do_not_change_keys() {
    let files = example_texts();
    let base = keys_of(files.clone());
    let zlib = "examples/pkgs/zlib/BUILD.dhi";
    // Reformat: collapse indentation, add comments and blank lines everywhere.
    let noisy = edit(&files, zlib, |t| {
        t.lines().map(|l| format!("{}   # noise\n\n", l.trim())).collect::<String>().replace("{   # noise", "{ # noise")
    });
    // A line that is itself a comment would comment out the appended noise: fine.
    assert_eq!(changed(&base, &keys_of(noisy)), Vec::<String>::new());
    // Swap two attributes of the source block.
    let swapped = edit(&files, zlib, |t| {
        let a = "  license = \"Zlib\"\n  upstream";
        assert!(t.contains(a));
        t.replacen("  strip_prefix", "  license = \"Zlib\"\n  strip_prefix", 1).replacen(a, "  upstream", 1)
    });
    assert_eq!(changed(&base, &keys_of(swapped)), Vec::<String>::new());
    // `dhib fmt` output keeps every key.
    let formatted: Vec<(String, String)> = files.iter().map(|(p, t)| (p.clone(), dhib::lang::fmt::format(p, t).unwrap())).collect();
    assert_eq!(changed(&base, &keys_of(formatted)), Vec::<String>::new());
}

#[test]
fn a_source_change_changes_exactly_its_dependents() {
    let files = example_texts();
    let base = keys_of(files.clone());
    let bumped = edit(&files, "examples/pkgs/lua/BUILD.dhi", |t| {
        t.replace("164c7849653b80ae67bec4b7473b884bf5cc8d2dca05653475ec2ed27b9ebf61", &"a".repeat(64))
    });
    let after = keys_of(bumped);
    let got = changed(&base, &after);
    for must in [
        "//examples/pkgs/lua:lua-src",
        "//examples/pkgs/lua:lua",
        "//examples/images/lua:lua",
        "//examples/images/lua:lua-dev",
        "//examples/images/lua:lua#sbom",
        "//examples/images/lua:lua-hello",
        "//examples/customizations/acme:acme-lua",
        "//examples/customizations/acme:acme-lua#test-report",
    ] {
        assert!(got.contains(&must.to_string()), "{must} should change: {got:?}");
    }
    for unrelated in ["//examples/pkgs/zlib:zlib", "//examples/images/sqlite:sqlite", "//examples/bases:debian-runtime"] {
        assert!(!got.contains(&unrelated.to_string()), "{unrelated} should keep its key");
    }
    // Exactly the reverse dependencies of the edited source changed.
    let mut a = Analysis::from_texts(files, "linux/amd64");
    let g = a.analyze().unwrap().graph;
    let q = dhib::graph::query::parse("rdeps(//..., //examples/pkgs/lua:lua-src)").unwrap();
    let mut want: Vec<String> = dhib::graph::query::eval(&q, &g, &a).unwrap().iter().map(|i| g.node(*i).to_string()).collect();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn templates_lets_and_platform_are_part_of_keys() {
    let files = example_texts();
    let base = keys_of(files.clone());
    // A different flag set loaded from a workspace file changes lua, not sqlite.
    let flags = edit(&files, "examples/lib/flags.dhi", |t| t.replace("-fno-plt", "-fno-plt -fno-semantic-interposition"));
    let got = changed(&base, &keys_of(flags));
    assert!(got.contains(&"//examples/pkgs/lua:lua".to_string()));
    assert!(!got.contains(&"//examples/pkgs/sqlite:sqlite".to_string()));
    // The workspace's target platform configures every package and image.
    let mut arm = Analysis::from_texts(files, "linux/arm64");
    let arm_keys = arm.analyze().map(|r| r.keys);
    // The examples pin amd64 .debs, so an arm64 default is rejected rather
    // than silently mixing architectures.
    let diags = arm_keys.err().expect("amd64 debs cannot build for arm64");
    assert!(diags.iter().any(|d| d.code == "E0304"), "{diags:#?}");
    assert!(base.contains_key(&node("//examples/pkgs/zlib:zlib")));
}

#[test]
fn referenced_files_are_hashed_into_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path();
    std::fs::write(ws.join("dhi.toml"), "[workspace]\nname = \"t\"\n").unwrap();
    std::fs::create_dir_all(ws.join("img")).unwrap();
    std::fs::write(
        ws.join("img/BUILD.dhi"),
        "image \"base\" {\n  user = 1000\n}\n\ncustomization \"c\" {\n  base = :base\n  add = [file(\"motd\", to = \"/etc/motd\")]\n}\n",
    )
    .unwrap();
    std::fs::write(ws.join("img/motd"), "hello\n").unwrap();
    let key = |ws: &Path| {
        let mut a = Analysis::load(ws).unwrap();
        let r = a.analyze().unwrap();
        (r.keys.get(&node("//img:c")).unwrap(), r.keys.get(&node("//img:base")).unwrap())
    };
    let (c1, b1) = key(ws);
    std::fs::write(ws.join("img/motd"), "hello, world\n").unwrap();
    let (c2, b2) = key(ws);
    assert_ne!(c1, c2, "the customization reads motd");
    assert_eq!(b1, b2, "the base image does not");
}

#[test]
fn keys_do_not_depend_on_the_checkout_path() {
    let copy = |dir: &Path| {
        std::fs::copy(repo().join("dhi.toml"), dir.join("dhi.toml")).unwrap();
        for (rel, text) in example_texts() {
            let p = dir.join(&rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        // The files they reference with `file(...)` (certificates, patches).
        for e in walkdir::WalkDir::new(repo().join("examples")).into_iter().flatten() {
            if e.file_type().is_file() && e.path().extension().is_none_or(|x| x != "dhi") {
                let to = dir.join(e.path().strip_prefix(repo()).unwrap());
                std::fs::create_dir_all(to.parent().unwrap()).unwrap();
                std::fs::copy(e.path(), to).unwrap();
            }
        }
    };
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let nested = b.path().join("some/deeper/checkout");
    std::fs::create_dir_all(&nested).unwrap();
    copy(a.path());
    copy(&nested);
    let keys =
        |d: &Path| Analysis::load(d).unwrap().analyze().unwrap().keys.iter().map(|(id, k)| (id.clone(), k)).collect::<HashMap<_, _>>();
    let (ka, kb) = (keys(a.path()), keys(&nested));
    assert_eq!(ka.len(), kb.len());
    assert_eq!(changed(&ka, &kb), Vec::<String>::new());
    // And they equal those of this checkout.
    assert_eq!(changed(&ka, &keys(&repo())), Vec::<String>::new());
}

#[test]
fn the_build_time_is_part_of_the_keys_of_what_carries_times() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path();
    let write = |epoch: u64| {
        std::fs::write(ws.join("dhi.toml"), format!("[workspace]\nname = \"t\"\n\n[build]\nsource_date_epoch = {epoch}\n")).unwrap();
    };
    std::fs::create_dir_all(ws.join("img")).unwrap();
    std::fs::write(ws.join("img/BUILD.dhi"), "image \"app\" {\n  user = 1000\n}\n\nsource \"s\" {\n  url = \"file://s.tgz\"\n  sha256 = \"71feb7947e3c00ef125f83b79a4e529bde31171e5babe48b391f06758d1ab0a1\"\n}\n").unwrap();
    let keys = || {
        let r = Analysis::load(ws).unwrap().analyze().unwrap();
        (r.keys.get(&node("//img:app")).unwrap(), r.keys.get(&node("//img:s")).unwrap())
    };
    write(0);
    let (image0, source0) = keys();
    write(1_700_000_000);
    let (image1, source1) = keys();
    assert_ne!(image0, image1, "an image's layers and config carry the time");
    assert_eq!(source0, source1, "a pinned source does not");
}
