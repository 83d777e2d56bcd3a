//! The example catalog builds real zlib (twice: with its configure script and
//! with CMake), Lua and SQLite from their upstream sources with the pinned
//! Debian toolchains, in the sandbox; the results are reproducible and a
//! second build does nothing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::copy_tree;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn dhib(store: &Path, args: &[&str]) -> Output {
    common::dhib().arg("--store").arg(store).args(args).current_dir(repo()).output().unwrap()
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
    let store = tempfile::tempdir().unwrap();
    // Every pinned source and deb, by its exact path in the Debian archive,
    // into this empty store; also kept in target/ as a hashed mirror that
    // every later dhib of this run (and the next run) asks first.
    let mirror = repo().join("target/dhib-mirror");
    std::env::set_var("DHIB_FETCH_MIRRORS", &mirror);
    let fetched = dhib(store.path(), &["fetch", "//examples/...", "--mirror-dir", mirror.to_str().unwrap(), "--output", "json"]);
    assert!(fetched.status.success(), "{}{}", String::from_utf8_lossy(&fetched.stdout), String::from_utf8_lossy(&fetched.stderr));
    let summary: serde_json::Value = serde_json::from_str(String::from_utf8_lossy(&fetched.stdout).lines().last().unwrap()).unwrap();
    assert!(summary["summary"]["files"].as_u64().unwrap() > 100, "{summary}");
    assert_eq!(summary["summary"]["failed"], 0, "{summary}");
    // The key the workspace's dhi.toml names is the developer's; this test
    // signs with one of its own.
    let keys = tempfile::tempdir().unwrap();
    let keygen = dhib(store.path(), &["keygen", "--output", keys.path().join("cosign").to_str().unwrap()]);
    assert!(keygen.status.success(), "{}", String::from_utf8_lossy(&keygen.stderr));
    std::env::set_var("DHIB_SIGNING_KEY", keys.path().join("cosign.key"));
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

    // zlib again, configured by CMake and built by Ninja through the cmake
    // template, from the same source with its patch applied.
    let zlib_cmake = files(store.path(), "//examples/pkgs/zlib:zlib-cmake");
    let split: Vec<(&str, &str)> = zlib_cmake.iter().map(|r| (r[0].as_str(), r[1].as_str())).collect();
    for want in [
        ("runtime", "usr/lib/libz.so.1.2.13"),
        ("runtime", "usr/lib/libz.so.1"),
        ("runtime", "usr/bin/minigzip"),
        ("dev", "usr/include/zlib.h"),
        ("dev", "usr/lib/libz.so"),
        ("dev", "usr/lib/libz.a"),
        ("dev", "usr/share/pkgconfig/zlib.pc"),
        ("doc", "usr/share/man/man3/zlib.3"),
    ] {
        assert!(split.contains(&want), "{want:?} not in {split:?}");
    }
    assert!(split.iter().all(|(out, _)| *out != "other"), "a file no glob claims: {split:?}");
    let bin = tempfile::tempdir().unwrap();
    for (path, name) in [("usr/bin/minigzip", "minigzip"), ("usr/lib/libz.so.1.2.13", "libz.so.1")] {
        let row = zlib_cmake.iter().find(|r| r[1] == path).unwrap();
        std::fs::copy(blob(store.path(), &row[4]), bin.path().join(name)).unwrap();
    }
    // Hardened: a PIE, full RELRO (BIND_NOW), no executable stack, and no
    // RUNPATH into the build tree.
    let readelf = |args: &[&str], file: &str| {
        let out = Command::new("readelf").args(args).arg(bin.path().join(file)).output().expect("readelf (binutils) is installed");
        String::from_utf8(out.stdout).unwrap()
    };
    assert!(readelf(&["-h"], "minigzip").contains("DYN (Position-Independent Executable file)"));
    for file in ["minigzip", "libz.so.1"] {
        let dynamic = readelf(&["-d"], file);
        assert!(dynamic.contains("BIND_NOW"), "{file}: {dynamic}");
        assert!(!dynamic.contains("RUNPATH") && !dynamic.contains("RPATH"), "{file}: {dynamic}");
        let segments = readelf(&["-lW"], file);
        assert!(segments.contains("GNU_RELRO"), "{file}: {segments}");
        let stack: Vec<&str> = segments.lines().find(|l| l.contains("GNU_STACK")).unwrap().split_whitespace().collect();
        assert_eq!(stack[stack.len() - 2], "RW", "{file}: executable stack: {stack:?}");
    }
    std::fs::set_permissions(bin.path().join("minigzip"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let minigzip = bin.path().join("minigzip");
    let script = format!("echo cmake round trip | {0} | {0} -d", minigzip.display());
    let run = Command::new("sh").args(["-c", &script]).env("LD_LIBRARY_PATH", bin.path()).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&run.stdout), "cmake round trip\n", "{}", String::from_utf8_lossy(&run.stderr));

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

    // The images and the customization: valid OCI layouts that third-party
    // tools accept, whose entrypoints run.
    let out = tempfile::tempdir().unwrap();
    let built = dhib(
        store.path(),
        &["build", "//examples/bases/...", "//examples/images/...", "//examples/customizations/...", "--out", out.path().to_str().unwrap()],
    );
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(out.path().join("index.json")).unwrap()).unwrap();
    let images = index["images"].as_object().unwrap();
    assert_eq!(images.len(), 8, "{index}");
    for (label, entry) in images {
        let layout = out.path().join(entry["layout"].as_str().unwrap());
        // oci-image-tool knows image-spec 1.0 only and refuses the OCI 1.1
        // artifacts (signatures, attestations) next to the image: it checks
        // a copy holding the image alone (oci_schema_check.py, below, checks
        // everything against the 1.1 schemas).
        let image_only = out.path().join("image-only").join(label.replace(['/', ':'], "_"));
        copy_tree(&layout, &image_only);
        let mut index: serde_json::Value = serde_json::from_slice(&std::fs::read(image_only.join("index.json")).unwrap()).unwrap();
        index["manifests"].as_array_mut().unwrap().retain(|m| m["annotations"]["org.opencontainers.image.ref.name"] == "latest");
        std::fs::write(image_only.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
        let v = Command::new("oci-image-tool").args(["validate", "--type", "image"]).arg(&image_only).output().unwrap();
        assert!(v.status.success(), "{label}: {}", String::from_utf8_lossy(&v.stderr));
        let bundle = out.path().join("bundle").join(label.replace(['/', ':'], "_"));
        let u = Command::new("umoci")
            .args(["unpack", "--rootless", "--image"])
            .arg(format!("{}:latest", layout.display()))
            .arg(&bundle)
            .output()
            .unwrap();
        assert!(u.status.success(), "{label}: {}", String::from_utf8_lossy(&u.stderr));
    }
    let lua_root = out.path().join("bundle/__examples_images_lua_lua/rootfs");
    let run = run_in(&lua_root, &["/usr/bin/lua", "-e", "print('hello from the image')"]);
    assert_eq!(run, "hello from the image\n");
    let minigzip_root = out.path().join("bundle/__examples_images_minigzip_minigzip-dev/rootfs");
    let run = run_in(&minigzip_root, &["/bin/busybox", "sh", "-c", "echo round trip | minigzip | minigzip -d"]);
    assert_eq!(run, "round trip\n");
    // `dhib run` of the customization: Lua's entrypoint, ACME's variable and file.
    let acme = "//examples/customizations/acme:acme-lua";
    let script = "print(os.getenv('ACME_REGION'), io.open('/usr/local/share/ca-certificates/acme-ca.crt') ~= nil)";
    let run = dhib(store.path(), &["run", acme, "--", "-e", script]);
    assert_eq!(String::from_utf8_lossy(&run.stdout), "eu-west-1\ttrue\n", "{}", String::from_utf8_lossy(&run.stderr));
    // Dev variants carry a shell and Debian's package tool.
    let run = dhib(store.path(), &["run", "//examples/images/lua:lua-dev", "--", "-c", "/usr/bin/dpkg --version"]);
    assert!(String::from_utf8_lossy(&run.stdout).contains("package management program"), "{}", String::from_utf8_lossy(&run.stderr));
    // Every image is tested, attested and signed: dhib verify passes, and
    // the documents satisfy the formats' own tools.
    let public = keys.path().join("cosign.pub");
    for (label, entry) in images {
        let verified = dhib(store.path(), &["verify", label, "--out", out.path().to_str().unwrap(), "--key", public.to_str().unwrap()]);
        let said = String::from_utf8_lossy(&verified.stdout);
        assert!(verified.status.success(), "{label}: {said}{}", String::from_utf8_lossy(&verified.stderr));
        assert!(said.contains("pass  SBOM matches the layers") && said.contains("pass  provenance matches the graph"), "{label}: {said}");
        let docs = out.path().join(format!("{}.attestations", entry["layout"].as_str().unwrap()));
        assert!(docs.join("vex.openvex.json").is_file(), "{label}: every example image ships glibc, which has a VEX statement");
        common::conformance::check_image(label, &out.path().join(entry["layout"].as_str().unwrap()), &docs, &public);
    }
    // The VEX statement on zlib reaches the images that ship it.
    let vex: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("examples/images/sqlite/sqlite.attestations/vex.openvex.json")).unwrap())
            .unwrap();
    assert_eq!(vex["statements"][0]["vulnerability"]["name"], "CVE-2023-45853", "{vex}");
    // By its plain purl, which scanners' matching applies whatever qualifiers their inventory has.
    assert_eq!(vex["statements"][0]["products"][0]["subcomponents"][0]["@id"], "pkg:generic/zlib@1.2.13", "{vex}");
    // Scanners see the images: Trivy detects Debian 12 from base-files'
    // debian_version and lists every deb with its source package.
    let (os, debs) = common::conformance::trivy_inventory(&out.path().join("examples/images/lua/lua"));
    assert!(os.starts_with("debian 12."), "{os}");
    assert!(debs.contains(&("libc6".to_string(), "glibc".to_string())), "{debs:?}");
    assert!(debs.contains(&("libgcc-s1".to_string(), "gcc-12".to_string())), "{debs:?}");
    // `dhib scan` against records made from real ones: every image is
    // Debian 12's; the from-source zlib matches NVD's CVE-2023-45853 by its
    // CPE, which its VEX suppresses, and not CVE-2022-37434 (fixed in 1.2.13);
    // glibc is past DSA-5514-1's fix. The dev images also ship Debian's
    // zlib1g, for which Debian's record of the CVE is open in bookworm: CI's
    // `--fail-on` fails them until a VEX document says why it does not apply.
    let db = repo().join("tests/scan/osv");
    let triage = repo().join("tests/scan/debian-zlib-minizip.openvex.json");
    let key = public.to_str().unwrap();
    let scan = |label: &str, more: &[&str]| {
        let args = ["scan", label, "--db", db.to_str().unwrap(), "--out", out.path().to_str().unwrap(), "--key", key];
        dhib(store.path(), &[&args[..], more].concat())
    };
    for (label, _) in images {
        let json = scan(label, &["--output", "json"]);
        assert!(json.status.success(), "{label}: {}", String::from_utf8_lossy(&json.stderr));
        let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
        assert!(report["os"].as_str().unwrap().starts_with("debian 12."), "{label}: {report}");
        let findings: Vec<(&str, &str, bool)> = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["vulnerability"].as_str().unwrap(), f["package"].as_str().unwrap(), f["suppressed"]["status"] == "not_affected"))
            .collect();
        let mut expected = Vec::new();
        if label != "//examples/bases:debian-runtime" {
            expected.push(("CVE-2023-45853", "zlib", true));
        }
        let dev = label.ends_with("-dev");
        if dev {
            expected.push(("CVE-2023-45853", "zlib1g", false));
        }
        assert_eq!(findings, expected, "{label}: {report:#}");
        assert_eq!(scan(label, &["--fail-on", "low"]).status.code(), Some(if dev { 1 } else { 0 }), "{label}");
        let triaged = scan(label, &["--fail-on", "low", "--vex", triage.to_str().unwrap()]);
        assert!(triaged.status.success(), "{label}: {}", String::from_utf8_lossy(&triaged.stdout));
    }
    // What the Lua image adds to its base.
    let compare = dhib(
        store.path(),
        &[
            "compare",
            "//examples/images/lua:lua",
            "//examples/bases:debian-runtime",
            "--out",
            out.path().to_str().unwrap(),
            "--key",
            key,
            "--ignore-unchanged",
            "--output",
            "json",
        ],
    );
    assert!(compare.status.success(), "{}", String::from_utf8_lossy(&compare.stderr));
    let c: serde_json::Value = serde_json::from_slice(&compare.stdout).unwrap();
    let added: Vec<&str> =
        c["packages"].as_array().unwrap().iter().filter(|p| p["change"] == "added").map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(added, ["lua", "zlib"], "{c:#}");
    assert!(c["analyzed"]["size"].as_u64() > c["baseline"]["size"].as_u64(), "{c:#}");

    // libmd, rebuilt from Debian's source package with a patch and a bump:
    // the dev variants install it (dpkg links it), their SBOMs name its
    // source and patch, and the runtime images have no libmd at all.
    let rebuilt = files(store.path(), "//examples/debian/libmd");
    let libmd0 = rebuilt.iter().find(|r| r[0] == "libmd0").unwrap_or_else(|| panic!("no libmd0 among {rebuilt:?}"));
    assert_eq!(libmd0[1], "libmd0_1.0.4-2+dhib1_amd64.deb");
    let sbom = |image: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(out.path().join(format!("examples/images/{image}.attestations/sbom.spdx.json"))).unwrap())
            .unwrap()
    };
    let dev = sbom("lua/lua-dev");
    let entry = dev["packages"].as_array().unwrap().iter().find(|p| p["name"] == "libmd0").expect("lua-dev ships libmd0");
    assert_eq!(entry["versionInfo"], "1.0.4-2+dhib1", "{entry}");
    assert_eq!(entry["sourceInfo"], "built package from: libmd 1.0.4-2+dhib1", "{entry}");
    let info = entry["comment"].as_str().unwrap();
    assert!(info.contains("Debian source package libmd 1.0.4-2") && info.contains("explicit-bzero-contexts.patch"), "{info}");
    let os = dev["packages"].as_array().unwrap().iter().find(|p| p["primaryPackagePurpose"] == "OPERATING-SYSTEM").expect("an OS");
    assert_eq!(os["name"], "debian", "{os}");
    assert!(sbom("lua/lua")["packages"].as_array().unwrap().iter().all(|p| p["name"] != "libmd0"));
    let run = dhib(store.path(), &["run", "//examples/images/lua:lua-dev", "--", "-c", "cat /var/lib/dpkg/status.d/libmd0"]);
    assert!(String::from_utf8_lossy(&run.stdout).contains("Version: 1.0.4-2+dhib1\n"), "{}", String::from_utf8_lossy(&run.stderr));
    // Built with Debian's hardening flags (which an environment without
    // dpkg's vendor origin silently drops), and with the patch applied.
    let unpacked = tempfile::tempdir().unwrap();
    let x = Command::new("dpkg-deb").arg("-x").arg(blob(store.path(), &libmd0[4])).arg(unpacked.path()).status().unwrap();
    assert!(x.success());
    let so = unpacked.path().join("usr/lib/x86_64-linux-gnu/libmd.so.0.0.5");
    let readelf = |args: &[&str]| String::from_utf8(Command::new("readelf").args(args).arg(&so).output().unwrap().stdout).unwrap();
    let dynamic = readelf(&["-d"]);
    assert!(dynamic.contains("BIND_NOW") && dynamic.contains("Library soname: [libmd.so.0]"), "{dynamic}");
    assert!(readelf(&["-lW"]).contains("GNU_RELRO"));
    let imports = readelf(&["--dyn-syms", "-W"]);
    for symbol in ["__stack_chk_fail", "__read_chk", "__explicit_bzero_chk"] {
        assert!(imports.contains(symbol), "{symbol}: stack protector, _FORTIFY_SOURCE and the patch\n{imports}");
    }

    let lua_layers = layers(&out.path().join("examples/images/lua/lua"));
    let acme_layers = layers(&out.path().join("examples/customizations/acme/acme-lua"));
    assert_eq!(acme_layers[..lua_layers.len()], lua_layers[..], "the customization reuses Lua's layers");

    // Another checkout at another path, another umask and time zone, an
    // empty store: every image has the same digest.
    let checkout = tempfile::tempdir().unwrap();
    copy_tree(&repo().join("examples"), &checkout.path().join("examples"));
    std::fs::copy(repo().join("dhi.toml"), checkout.path().join("dhi.toml")).unwrap();
    let (other, out2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut cmd = common::dhib();
    cmd.arg("--store").arg(other.path()).args([
        "build",
        "//examples/bases/...",
        "//examples/images/...",
        "//examples/customizations/...",
        "--out",
    ]);
    cmd.arg(out2.path()).current_dir(checkout.path()).env("TZ", "Pacific/Chatham");
    // SAFETY: umask is async-signal-safe.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            libc::umask(0o077);
            Ok(())
        });
    }
    let again = cmd.output().unwrap();
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    let index2: serde_json::Value = serde_json::from_slice(&std::fs::read(out2.path().join("index.json")).unwrap()).unwrap();
    for (label, entry) in images {
        assert_eq!(index2["images"][label]["manifest"], entry["manifest"], "{label}: image digests differ between checkouts");
    }
    assert_eq!(files(other.path(), "//examples/pkgs/zlib:zlib"), zlib);
    // The Debian rebuild is bit-identical too (the image digests above
    // already say so; here by the .debs themselves).
    assert_eq!(files(other.path(), "//examples/debian/libmd"), rebuilt);
    debian_build_matches_debians(other.path(), checkout.path());

    an_upstream_release_cascades_through_the_catalog(store.path(), &public, &index);
}

/// libmd rebuilt without patch or bump, in the example's build environment,
/// against Debian's own libmd0 of the same version: the same files, control
/// fields and exported symbols (the bytes differ: Debian built it in 2022,
/// with an older gcc and a debhelper that kept the whole changelog).
fn debian_build_matches_debians(store: &Path, checkout: &Path) {
    let dir = checkout.join("examples/debian/libmd-debian");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("BUILD.dhi"),
        "debian_build \"libmd-debian\" {\n  source = //examples/debian:libmd-source\n  env = //examples/debian:libmd-build-env\n  \
         options = [\"nocheck\", \"nodoc\"]\n}\n",
    )
    .unwrap();
    let mut cmd = common::dhib();
    let built = cmd
        .arg("--store")
        .arg(store)
        .args(["build", "//examples/debian/libmd-debian", "//examples/debian:libmd0"])
        .current_dir(checkout)
        .output()
        .unwrap();
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    let in_checkout = |node: &str| -> Vec<Vec<String>> {
        let out = common::dhib().arg("--store").arg(store).args(["ls", node]).current_dir(checkout).output().unwrap();
        String::from_utf8_lossy(&out.stdout).lines().map(|l| l.split('\t').map(str::to_string).collect()).collect()
    };
    let ours = in_checkout("//examples/debian/libmd-debian");
    let ours = ours.iter().find(|r| r[0] == "libmd0").unwrap();
    let theirs = in_checkout("//examples/debian:libmd0");
    assert_eq!(ours[1], theirs[0][1], "same file name, so the same version");
    let (a, b) = (blob(store, &ours[4]), blob(store, &theirs[0][4]));
    let field =
        |deb: &Path, name: &str| String::from_utf8(Command::new("dpkg-deb").arg("-f").arg(deb).arg(name).output().unwrap().stdout).unwrap();
    for name in ["Package", "Version", "Architecture", "Depends", "Multi-Arch", "Source"] {
        assert_eq!(field(&a, name), field(&b, name), "{name}");
    }
    let listing = |deb: &Path| -> Vec<String> {
        let out = Command::new("dpkg-deb").arg("-c").arg(deb).output().unwrap();
        // Mode, owner and path; sizes and dates may differ.
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| {
                l.split_whitespace()
                    .enumerate()
                    .filter(|(i, _)| *i != 2 && *i != 3 && *i != 4)
                    .map(|(_, w)| w)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    };
    assert_eq!(listing(&a), listing(&b));
    let exports = |deb: &Path| -> Vec<String> {
        let root = tempfile::tempdir().unwrap();
        assert!(Command::new("dpkg-deb").arg("-x").arg(deb).arg(root.path()).status().unwrap().success());
        let so = root.path().join("usr/lib/x86_64-linux-gnu/libmd.so.0.0.5");
        let out = String::from_utf8(Command::new("readelf").args(["--dyn-syms", "-W"]).arg(&so).output().unwrap().stdout).unwrap();
        let mut names: Vec<String> =
            out.lines().filter(|l| !l.contains(" UND ")).filter_map(|l| l.split_whitespace().nth(7)).map(str::to_string).collect();
        names.sort();
        names
    };
    let (ours, theirs) = (exports(&a), exports(&b));
    assert!(ours.len() > 40, "{ours:?}");
    assert_eq!(ours, theirs);
}

/// A copy of the example workspace watching a local Lua upstream
/// (scripts/local-upstream.sh): the guardrail stops the malicious-looking
/// release and lets the benign one through, and the build then remakes
/// exactly what `upstream update` said would change, and nothing else.
fn an_upstream_release_cascades_through_the_catalog(store: &Path, public: &Path, index: &serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("catalog");
    let fixture = Command::new("bash")
        .arg(repo().join("scripts/local-upstream.sh"))
        .arg(&ws)
        .env("DHIB", env!("CARGO_BIN_EXE_dhib"))
        .env("DHIB_STORE", store)
        .output()
        .unwrap();
    assert!(fixture.status.success(), "{}", String::from_utf8_lossy(&fixture.stderr));
    let dhib = |args: &[&str]| -> Output { common::dhib().arg("--store").arg(store).args(args).current_dir(&ws).output().unwrap() };
    let text = |o: &Output| format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));

    let check = dhib(&["upstream", "check", "//examples/pkgs/lua/...", "--output", "json"]);
    assert!(check.status.success(), "{}", text(&check));
    let updates: serde_json::Value = serde_json::from_slice(&check.stdout).unwrap();
    assert_eq!((updates[0]["current"].as_str(), updates[0]["latest"].as_str()), (Some("5.4.4"), Some("5.4.4.2")), "{updates}");

    let pkg = std::fs::read_to_string(ws.join("examples/pkgs/lua/BUILD.dhi")).unwrap();
    let blocked = dhib(&["upstream", "update", "//examples/pkgs/lua:lua-src"]);
    assert_eq!(blocked.status.code(), Some(1), "{}", text(&blocked));
    for rule in ["supply.not-in-vcs src/host.mk", "sh.encoded-payload src/host.mk", "blob.used-by-build tests/files/bad-3-corrupt.lz"] {
        assert!(text(&blocked).contains(&format!("high/high {rule}")), "{rule}: {}", text(&blocked));
    }
    assert_eq!(std::fs::read_to_string(ws.join("examples/pkgs/lua/BUILD.dhi")).unwrap(), pkg, "nothing is rewritten");

    let update = dhib(&["upstream", "update", "//examples/pkgs/lua:lua-src", "--to", "5.4.4.1", "--output", "json"]);
    assert!(update.status.success(), "{}", text(&update));
    let outcome: serde_json::Value = serde_json::from_slice(&update.stdout).unwrap();
    assert!(ws.join("examples/pkgs/lua/lua-src.guard.json").is_file(), "the record beside the definition");
    let mut cascade: Vec<String> = outcome["cascade"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|v| v.as_array().unwrap().iter().map(|n| n.as_str().unwrap().to_string()))
        .collect();
    cascade.sort();
    assert_eq!(outcome["cascade"]["customizations"], serde_json::json!(["//examples/customizations/acme:acme-lua"]), "{outcome}");
    assert_eq!(
        outcome["cascade"]["images"],
        serde_json::json!(["//examples/images/lua:lua", "//examples/images/lua:lua-dev"]),
        "{outcome}"
    );

    // CI's view of the same change agrees, and the build remakes exactly it.
    let affected = dhib(&["affected", "--since", "HEAD"]);
    let mut named: Vec<String> = String::from_utf8_lossy(&affected.stdout).lines().map(str::to_string).collect();
    named.sort();
    assert_eq!(named, cascade, "{}", text(&affected));
    let out = tempfile::tempdir().unwrap();
    let built = dhib(&["build", "//examples/...", "--out", out.path().to_str().unwrap(), "--output", "json"]);
    assert!(built.status.success(), "{}", text(&built));
    let remade = common::built_nodes(&built);
    assert_eq!(remade, cascade);

    let after: serde_json::Value = serde_json::from_slice(&std::fs::read(out.path().join("index.json")).unwrap()).unwrap();
    for (label, entry) in index["images"].as_object().unwrap() {
        let moved = entry["manifest"] != after["images"][label]["manifest"];
        assert_eq!(moved, cascade.contains(label), "{label}: its digest changed: {moved}");
    }
    // Re-signed, and the provenance carries the guardrail's record.
    for label in ["//examples/images/lua:lua", "//examples/customizations/acme:acme-lua"] {
        let verified = dhib(&["verify", label, "--out", out.path().to_str().unwrap(), "--key", public.to_str().unwrap()]);
        assert!(verified.status.success(), "{label}: {}", text(&verified));
        assert!(text(&verified).contains("pass  guardrail"), "{label}: {}", text(&verified));
    }
    let dsse: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("examples/images/lua/lua.attestations/provenance.dsse.json")).unwrap())
            .unwrap();
    let payload = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, dsse["payload"].as_str().unwrap()).unwrap();
    let statement: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    let guardrail = &statement["predicate"]["buildDefinition"]["internalParameters"]["guardrail"][0];
    assert_eq!(guardrail["record"]["to"], "5.4.4.1", "{statement}");
    assert_eq!(guardrail["record"]["vcs"], "v5.4.4.1 of file://upstreams/lua");
    assert_eq!(guardrail["digest"]["sha256"], outcome["guard_records"]["//examples/pkgs/lua:lua-src"]);
    let run = dhib(&["run", "//examples/images/lua:lua", "--", "-v"]);
    assert!(String::from_utf8_lossy(&run.stdout).starts_with("Lua 5.4.4.1 "), "{}", text(&run));
}

/// The layer digests of the image in an OCI layout.
fn layers(layout: &Path) -> Vec<String> {
    let read = |p: PathBuf| -> serde_json::Value { serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap() };
    let index = read(layout.join("index.json"));
    let manifest = read(layout.join("blobs/sha256").join(index["manifests"][0]["digest"].as_str().unwrap().trim_start_matches("sha256:")));
    manifest["layers"].as_array().unwrap().iter().map(|l| l["digest"].as_str().unwrap().to_string()).collect()
}

/// Runs a command in an unpacked image root with bubblewrap, as uid 65532.
fn run_in(root: &Path, argv: &[&str]) -> String {
    let mut cmd = Command::new("bwrap");
    cmd.args(["--unshare-all", "--die-with-parent", "--tmpfs", "/"]);
    for e in std::fs::read_dir(root).unwrap().map(|e| e.unwrap()) {
        let name = format!("/{}", e.file_name().to_string_lossy());
        match std::fs::read_link(e.path()) {
            Ok(target) => cmd.arg("--symlink").arg(target).arg(&name),
            Err(_) => cmd.arg("--ro-bind").arg(e.path()).arg(&name),
        };
    }
    cmd.args(["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--remount-ro", "/", "--clearenv"]);
    cmd.args(["--setenv", "PATH", "/usr/bin:/bin", "--uid", "65532", "--"]).args(argv);
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{argv:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}
