//! Hostile inputs and faults: workspaces written to make dhib read or write
//! what it must not. Each case was found by probing dhib as an attacker
//! would and is kept here so it stays fixed.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common;
use common::{stderr, Ws};

/// A runtime image copying the workspace file `reference` into itself.
fn image_with_file(ws: &Ws, reference: &str) {
    ws.write("dhi.toml", "[workspace]\nname = \"t\"\n");
    ws.write(
        "a/BUILD.dhi",
        &format!("image \"leak\" {{\n  files = [file(\"{reference}\", to = \"/etc/leak\")]\n  entrypoint = [\"/etc/leak\"]\n  user = 65532\n}}\n"),
    );
}

#[test]
fn a_file_reference_through_a_link_out_of_the_workspace_is_refused_at_its_span() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("shadow"), "root:$6$secret:19000:0:99999:7:::\n").unwrap();
    for (reference, link, target) in [
        ("sh", "a/sh", outside.path().join("shadow")),
        ("//lnk/shadow", "lnk", outside.path().to_path_buf()),
        ("../up", "up", outside.path().join("shadow")),
    ] {
        let ws = Ws::empty();
        image_with_file(&ws, reference);
        std::os::unix::fs::symlink(&target, ws.path().join(link)).unwrap();
        for command in [&["check"][..], &["build", "//..."]] {
            let out = ws.dhib(command);
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(1), "{reference}: {command:?}: {err}");
            assert!(err.contains("E0121") && err.contains("resolves outside the workspace"), "{reference}: {err}");
            assert!(err.contains(&format!("file(\"{reference}\"")), "the span is shown: {err}");
            assert!(!ws.path().join("dhib-out").exists(), "nothing is written");
        }
    }
}

#[test]
fn a_link_inside_the_workspace_is_followed() {
    let ws = Ws::empty();
    image_with_file(&ws, "ok");
    ws.write("b/real", "#!/bin/sh\n");
    std::os::unix::fs::symlink("../b/real", ws.path().join("a/ok")).unwrap();
    let out = ws.dhib(&["check"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_fifo_or_a_directory_is_refused_without_hanging() {
    for (name, what) in [("pipe", "a FIFO"), ("dir", "a directory")] {
        let ws = Ws::empty();
        image_with_file(&ws, name);
        let path = ws.path().join("a").join(name);
        if name == "pipe" {
            let made = Command::new("mkfifo").arg(&path).status().unwrap();
            assert!(made.success());
        } else {
            std::fs::create_dir(&path).unwrap();
        }
        let mut child = common::dhib().arg("-C").arg(ws.path()).arg("check").stderr(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
        let start = Instant::now();
        while child.try_wait().unwrap().is_none() {
            if start.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                panic!("dhib check hangs on {what}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(stderr(&out).contains("E0122") && stderr(&out).contains(&format!("is {what}, not a regular file")), "{}", stderr(&out));
    }
}

#[test]
fn dhib_lock_writes_only_inside_the_workspace() {
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    let ws = Ws::empty();
    ws.write_bytes("Packages", b"Package: a\nVersion: 1\nArchitecture: amd64\nFilename: pool/a_1_amd64.deb\nSHA256: 1111111111111111111111111111111111111111111111111111111111111111\n");
    let index = ws.path().join("Packages");
    let relative = format!("../{}/victim", outside.path().file_name().unwrap().to_string_lossy());
    for lock in [victim.to_string_lossy().into_owned(), relative, "debian/../../x".to_string()] {
        ws.write("dhi.toml", &format!("[workspace]\nname = \"t\"\n\n[debian]\nlock = \"{lock}\"\npackages = [\"a\"]\n"));
        let out = ws.dhib(&["lock", "--index", index.to_str().unwrap()]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{lock}: {err}");
        assert!(err.contains("E0605") && err.contains("is not a path inside the workspace"), "{err}");
        assert!(err.contains(&format!("lock = \"{lock}\"")), "the span in dhi.toml is shown: {err}");
    }
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    assert!(!ws.path().parent().unwrap().join("x").exists());
}

#[test]
fn deep_nesting_and_very_long_lines_are_diagnostics_not_crashes() {
    let cases = [
        ("let x = ".to_string() + &"[".repeat(5000) + &"]".repeat(5000) + "\n", "E0103", "BUILD.dhi:1:137"),
        ("image \"i\" {\n  x = ".to_string() + &"{a = ".repeat(10000) + &"}".repeat(10000) + "\n}\n", "E0103", "BUILD.dhi:2:642"),
        ("let x = \"".to_string() + &"a".repeat(70000) + "\" %\n", "E0100", "BUILD.dhi:1:70012"),
    ];
    for (text, code, place) in cases {
        let ws = Ws::empty();
        ws.write("dhi.toml", "[workspace]\n");
        ws.write("BUILD.dhi", &text);
        for command in [&["check"][..], &["fmt", "--check"]] {
            let out = ws.dhib(command);
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(1), "{command:?} {code}: {}", &err[..err.len().min(2000)]);
            assert!(err.contains(code) && err.contains(place), "{command:?}: {}", &err[..err.len().min(2000)]);
            // What is drawn is a window of the line, not the whole line.
            assert!(
                err.lines().all(|l| l.chars().count() < 400),
                "{command:?}: a line of {} chars",
                err.lines().map(str::len).max().unwrap()
            );
        }
    }
}

#[test]
fn a_signing_key_that_is_no_regular_file_is_refused_at_once_and_an_open_one_is_warned_about() {
    let ws = Ws::empty();
    ws.write("dhi.toml", "[workspace]\nname = \"t\"\n");
    let fifo = ws.path().join("fifo.key");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    for key in [std::path::PathBuf::from("/dev/zero"), fifo] {
        let start = Instant::now();
        let out = common::dhib()
            .arg("-C")
            .arg(ws.path())
            .args(["build", "//..."])
            .env("DHIB_SIGNING_KEY", &key)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(start.elapsed() < Duration::from_secs(20), "{}: took {:?}", key.display(), start.elapsed());
        assert_eq!(out.status.code(), Some(1), "{}: {}", key.display(), stderr(&out));
        assert!(stderr(&out).contains("E0510") && stderr(&out).contains("it is not a regular"), "{}", stderr(&out));
    }
    let keygen = ws.dhib(&["keygen", "--output", "open"]);
    assert!(keygen.status.success(), "{}", stderr(&keygen));
    let key = ws.path().join("open.key");
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let out = common::dhib().arg("-C").arg(ws.path()).args(["build", "//..."]).env("DHIB_SIGNING_KEY", &key).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("can be read by other users (mode 0644); chmod 600 it"), "{}", stderr(&out));
}

#[test]
fn gc_behind_a_build_says_it_waits() {
    let ws = Ws::empty();
    ws.write("dhi.toml", "[workspace]\nname = \"t\"\n");
    let first = ws.dhib(&["gc"]);
    assert!(first.status.success(), "{}", stderr(&first));
    // A build holds the store lock (shared) for two seconds.
    let lock = ws.path().join(".dhib/locks/store.lock");
    let mut holder = Command::new("flock").arg("--shared").arg(&lock).args(["sleep", "2"]).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let out = ws.dhib(&["gc"]);
    holder.wait().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("waiting: another dhib is using the store"), "{}", stderr(&out));
}

#[test]
fn a_source_url_naming_a_host_file_is_refused_without_its_hash() {
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("shadow");
    std::fs::write(&secret, "root:$6$secret\n").unwrap();
    let ws = Ws::empty();
    ws.write("dhi.toml", "[workspace]\nname = \"t\"\n");
    std::os::unix::fs::symlink(&secret, ws.path().join("inside-link")).unwrap();
    for url in [format!("file://{}", secret.display()), "file://inside-link".to_string(), "inside-link".to_string()] {
        ws.write("src/BUILD.dhi", &format!("source \"s\" {{\n  url = \"{url}\"\n  sha256 = \"{}\"\n}}\n", "0".repeat(64)));
        let out = ws.dhib(&["fetch", "//src:s"]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{url}: {err}");
        assert!(err.contains("is not read") && err.contains("resolves outside the workspace"), "{url}: {err}");
        assert!(!err.contains(&common::sha256(b"root:$6$secret\n")), "{url}: the host file's hash leaks: {err}");
    }
}

/// A signed busybox image, `//images:box`.
fn signed_image_workspace() -> Ws {
    let ws = common::busybox_workspace("\n[sign]\nkey = \"cosign.key\"\n", "");
    ws.write(
        "images/BUILD.dhi",
        "image \"box\" {\n  packages = [//debian:busybox-static]\n  entrypoint = [\"/bin/busybox\"]\n  cmd = [\"echo\", \"hi\"]\n  user = 65532\n  \
         skip_checks = { no_shell = \"busybox is the point\", required_labels = \"a test image\" }\n}\n",
    );
    let keygen = ws.dhib(&["keygen"]);
    assert!(keygen.status.success(), "{}", stderr(&keygen));
    ws
}

#[test]
fn two_builds_writing_one_out_directory_both_leave_it_whole_and_signed() {
    let ws = signed_image_workspace();
    let first = ws.dhib(&["build", "//..."]);
    assert!(first.status.success(), "{}", stderr(&first));
    let out = ws.path().join("shared-out");
    for round in 0..4 {
        let _ = std::fs::remove_dir_all(&out);
        let spawn = || {
            common::dhib()
                .arg("-C")
                .arg(ws.path())
                .args(["build", "//...", "--out"])
                .arg(&out)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (a, b) = (spawn(), spawn());
        for child in [a, b] {
            let o = child.wait_with_output().unwrap();
            assert!(o.status.success(), "round {round}: {}", stderr(&o));
        }
        let verify = ws.dhib(&["verify", "//images:box", "--out", out.to_str().unwrap()]);
        assert!(verify.status.success(), "round {round}: {}{}", common::stdout(&verify), stderr(&verify));
        let leftovers: Vec<_> = walkdir::WalkDir::new(&out)
            .into_iter()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .map(|e| e.path().display().to_string())
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}

#[test]
fn the_null_build_rewrites_what_was_removed_from_its_output_and_writes_a_new_out() {
    let ws = signed_image_workspace();
    let build = || ws.dhib(&["build", "//..."]);
    assert!(build().status.success());
    let up_to_date = |o: &std::process::Output| stderr(o).contains("up to date (no .dhi file changed");
    assert!(up_to_date(&build()), "the shortcut is taken when nothing changed");
    let layout = ws.path().join("dhib-out/images/box");
    let blob = walkdir::WalkDir::new(layout.join("blobs/sha256")).min_depth(1).into_iter().next().unwrap().unwrap().into_path();
    std::fs::remove_file(&blob).unwrap();
    let again = build();
    assert!(again.status.success() && !up_to_date(&again), "{}", stderr(&again));
    assert!(blob.is_file(), "the deleted blob is written again");
    std::fs::remove_dir_all(ws.path().join("dhib-out/images/box.attestations")).unwrap();
    assert!(!up_to_date(&build()));
    assert!(ws.path().join("dhib-out/images/box.attestations").is_dir());
    let other = ws.path().join("elsewhere");
    let o = ws.dhib(&["build", "//...", "--out", other.to_str().unwrap()]);
    assert!(o.status.success() && !up_to_date(&o), "{}", stderr(&o));
    assert!(other.join("images/box/index.json").is_file(), "a new --out is written");
}

#[test]
fn a_corrupt_layer_found_in_the_store_is_remade_by_the_next_build() {
    let ws = signed_image_workspace();
    assert!(ws.dhib(&["build", "//..."]).status.success());
    let layout = ws.path().join("dhib-out/images/box");
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let manifest = index["manifests"][0]["digest"].as_str().unwrap().trim_start_matches("sha256:").to_string();
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(layout.join("blobs/sha256").join(&manifest)).unwrap()).unwrap();
    let layer = manifest["layers"][0]["digest"].as_str().unwrap().trim_start_matches("sha256:").to_string();
    let blob = ws.path().join(".dhib/blobs").join(&layer[..2]).join(&layer);
    std::fs::set_permissions(&blob, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    std::fs::write(&blob, b"corrupted").unwrap();
    // An edit that changes no key: the build is not the null build, finds
    // the corrupt layer while writing the image out, and evicts it.
    let dhi = ws.path().join("images/BUILD.dhi");
    std::fs::write(&dhi, format!("# touched\n{}", std::fs::read_to_string(&dhi).unwrap())).unwrap();
    let found = ws.dhib(&["build", "//..."]);
    assert!(stderr(&found).contains("corrupt (its content hashes"), "{}", stderr(&found));
    assert!(!blob.exists(), "the corrupt blob is evicted");
    for round in 0..2 {
        let next = ws.dhib(&["build", "//...", "--output", "json"]);
        assert!(next.status.success(), "round {round}: {}{}", common::stdout(&next), stderr(&next));
        if round == 0 {
            assert!(common::built_nodes(&next).contains(&"//images:box".to_string()), "the image is remade: {}", common::stdout(&next));
        }
    }
    assert_eq!(common::sha256(&std::fs::read(&blob).unwrap()), layer, "the layer is made again, the same");
    let verify = ws.dhib(&["verify", "//images:box"]);
    assert!(verify.status.success(), "{}{}", common::stdout(&verify), stderr(&verify));
}

/// A workspace whose package `//pkgs:p` runs `steps` in a busybox
/// environment, with `extra` attributes, from a source of `archive`.
fn package_workspace(steps: &str, extra: &str, archive: &[u8]) -> Ws {
    let ws = common::busybox_workspace("", "\nenv \"busybox\" {\n  packages = [:busybox-static]\n}\n");
    ws.write_bytes("pkgs/src.tar.gz", archive);
    ws.write(
        "pkgs/BUILD.dhi",
        &format!(
            "source \"s\" {{\n  url = \"pkgs/src.tar.gz\"\n  sha256 = \"{}\"\n}}\n\n\
             package \"p\" {{\n  version = \"1\"\n  source = :s\n  env = //debian:busybox\n  build {{ steps = [{steps}] }}\n{extra}}}\n",
            common::sha256(archive)
        ),
    );
    ws
}

#[test]
fn a_build_step_is_bounded_in_time_processes_and_disk() {
    let small = common::tarball("p", &[("x", "x\n")]);
    let cases = [
        ("\"sleep 30\"", "  timeout = 2\n", "timed out after 2s (timeout)"),
        (
            "\"i=0; while [ $i -lt 200 ]; do sleep 5 & i=$((i+1)); done; wait\"",
            "  max_processes = 50\n",
            "ran into its limit of 50 processes",
        ),
        ("\"dd if=/dev/zero of=big bs=1M count=80 2>/dev/null\"", "  disk_budget_mb = 40\n", "wrote more than 40 MiB"),
        ("\"dd if=/dev/zero of=/tmp/big bs=1M count=80\"", "  disk_budget_mb = 40\n", "No space left on device"),
    ];
    for (steps, extra, want) in cases {
        let ws = package_workspace(steps, extra, &small);
        let start = Instant::now();
        let out = ws.dhib(&["build", "//pkgs:p"]);
        assert_eq!(out.status.code(), Some(1), "{extra}: {}", stderr(&out));
        assert!(stderr(&out).contains(want), "{extra}: {}", stderr(&out));
        assert!(start.elapsed() < Duration::from_secs(25), "{extra}: {:?}", start.elapsed());
        // A bound is no input: raising it rebuilds nothing that passed.
        let key = |ws: &Ws| common::stdout(&ws.dhib(&["key", "//pkgs:p"]));
        let before = key(&ws);
        let text = std::fs::read_to_string(ws.path().join("pkgs/BUILD.dhi")).unwrap();
        ws.write("pkgs/BUILD.dhi", &text.replace(extra, ""));
        assert_eq!(key(&ws), before, "{extra} is part of the key");
    }
}

#[test]
fn a_decompression_bomb_is_refused() {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let mut builder = tar::Builder::new(&mut gz);
    let size = 300u64 << 20;
    let mut h = tar::Header::new_gnu();
    h.set_size(size);
    h.set_mode(0o644);
    h.set_cksum();
    builder.append_data(&mut h, "p/zeros", std::io::repeat(0).take(size)).unwrap();
    builder.finish().unwrap();
    drop(builder);
    let bomb = gz.finish().unwrap();
    assert!(bomb.len() < 1 << 20, "{} bytes", bomb.len());
    let ws = package_workspace("\"true\"", "", &bomb);
    let out = ws.dhib(&["build", "//pkgs:p"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("decompression bomb"), "{}", stderr(&out));
}

/// `dhib verify` of the workspace's `//images:box`, as (ok, the names of
/// the failed checks).
fn verify_box(ws: &Ws) -> (bool, Vec<String>) {
    let out = ws.dhib(&["verify", "//images:box", "--output", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", stderr(&out)));
    let failed =
        report["checks"].as_array().unwrap().iter().filter(|c| c["ok"] == false).map(|c| c["name"].as_str().unwrap().to_string()).collect();
    (out.status.success(), failed)
}

#[test]
fn verify_checks_every_referenced_blob_every_promised_attestation_and_the_documents() {
    let ws = signed_image_workspace();
    // Built without a VEX statement first: a layout, signed, with no VEX.
    assert!(ws.dhib(&["build", "//...", "--out", "without-vex"]).status.success());
    let dhi = ws.path().join("images/BUILD.dhi");
    let text = std::fs::read_to_string(&dhi).unwrap();
    let vex = "  vex = { \"CVE-2099-0001\" = { status = \"not_affected\", justification = \"vulnerable_code_not_present\" } }\n}\n";
    std::fs::write(&dhi, text.trim_end().strip_suffix('}').unwrap().to_string() + vex).unwrap();
    let built = ws.dhib(&["build", "//..."]);
    assert!(built.status.success(), "{}", stderr(&built));
    assert_eq!(verify_box(&ws), (true, vec![]));
    let out = ws.path().join("dhib-out/images");
    let pristine = tempfile::tempdir().unwrap();
    common::copy_tree(&out, pristine.path());
    let restore = || {
        std::fs::remove_dir_all(&out).unwrap();
        common::copy_tree(pristine.path(), &out);
    };

    // A referrer's manifest deleted from the layout.
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("box/index.json")).unwrap()).unwrap();
    let referrer = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] != "latest")
        .unwrap_or_else(|| panic!("{index}"))["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    std::fs::remove_file(out.join("box/blobs/sha256").join(&referrer)).unwrap();
    let (ok, failed) = verify_box(&ws);
    assert!(!ok && failed.contains(&"references".to_string()), "{failed:?}");
    restore();

    // The image as signed before it had a VEX statement: no VEX attestation.
    std::fs::remove_dir_all(out.join("box")).unwrap();
    common::copy_tree(&ws.path().join("without-vex/images/box"), &out.join("box"));
    let (ok, failed) = verify_box(&ws);
    assert!(!ok && failed.contains(&"attestations".to_string()), "{failed:?}");
    restore();

    // A document edited beside the layout.
    let doc = out.join("box.attestations/sbom.spdx.json");
    let edited = std::fs::read_to_string(&doc).unwrap().replace("busybox", "busybux");
    std::fs::write(&doc, edited).unwrap();
    let (ok, failed) = verify_box(&ws);
    assert!(!ok && failed == ["documents"], "{failed:?}");
    restore();
    assert_eq!(verify_box(&ws), (true, vec![]));
}
