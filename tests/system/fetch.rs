//! `dhib fetch`: pinned files by their exact path and sha256, never "the
//! newest version". A Debian-style repository that has moved on (its
//! indexes name newer versions whose files its pool lacks, as Debian's do
//! after a security update) still serves every pinned path; when a pinned
//! file is gone too, the error names it, its pin, every place asked and
//! what to do. Mirrors are asked first and trusted only for the pinned bytes.

use std::path::Path;
use std::process::Output;

use crate::common;
use common::{busybox_deb, serve, sha256, stderr, stdout, tarball, Ws};

const ORIG: &str = "pool/main/z/zlib/zlib_1.2.13.dfsg.orig.tar.gz";
const DSC: &str = "pool/main/z/zlib/zlib_1.2.13.dfsg-1.dsc";

/// A repository on disk whose indexes have moved past the pins (zlib
/// 1:1.2.13.dfsg-1+deb12u1, busybox-static 1:9.9-1) while its pool keeps
/// only the pinned files, and a workspace pinning those: two sources by
/// `mirror://debian/` path and a deb installed in an image.
struct Archive {
    repo: tempfile::TempDir,
    ws: Ws,
    orig: Vec<u8>,
    deb_path: String,
}

impl Archive {
    fn new() -> Archive {
        let repo = tempfile::tempdir().unwrap();
        let put = |rel: &str, bytes: &[u8]| {
            let p = repo.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, bytes).unwrap();
        };
        let orig = tarball("zlib-1.2.13.dfsg", &[("zlib.h", "#define ZLIB_VERSION \"1.2.13\"\n")]);
        let dsc = format!(
            "Format: 3.0 (quilt)\nSource: zlib\nVersion: 1:1.2.13.dfsg-1\nChecksums-Sha256:\n {} {} {}\n",
            sha256(&orig),
            orig.len(),
            ORIG.rsplit('/').next().unwrap()
        );
        put(ORIG, &orig);
        put(DSC, dsc.as_bytes());
        let (deb_dir, deb_file, deb_sha) = busybox_deb();
        let deb_path = format!("pool/main/b/busybox/{deb_file}");
        put(&deb_path, &std::fs::read(deb_dir.join(&deb_file)).unwrap());
        // The indexes name only the newer versions, whose files are not there.
        put(
            "dists/bookworm/main/source/Sources",
            b"Package: zlib\nVersion: 1:1.2.13.dfsg-1+deb12u1\nDirectory: pool/main/z/zlib\nChecksums-Sha256:\n \
              1111111111111111111111111111111111111111111111111111111111111111 2000 zlib_1.2.13.dfsg-1+deb12u1.dsc\n",
        );
        put(
            "dists/bookworm/main/binary-amd64/Packages",
            b"Package: busybox-static\nVersion: 1:9.9-1\nArchitecture: amd64\nFilename: pool/main/b/busybox/busybox-static_9.9-1_amd64.deb\n\
              SHA256: 2222222222222222222222222222222222222222222222222222222222222222\n",
        );

        let ws = Ws::empty();
        ws.write("dhi.toml", &format!("[workspace]\nname = \"t\"\n\n[debian]\nrepo = \"file://{}\"\n", repo.path().display()));
        ws.write(
            "debian/BUILD.dhi",
            &format!("deb \"busybox-static\" {{\n  version = \"1\"\n  arch = \"amd64\"\n  filename = \"{deb_path}\"\n  sha256 = \"{deb_sha}\"\n}}\n"),
        );
        ws.write(
            "pkgs/zlib/BUILD.dhi",
            &format!(
                "source \"zlib-src\" {{\n  version = \"1.2.13\"\n  url = \"mirror://debian/pool/main/z/zlib/zlib_{{version}}.dfsg.orig.tar.gz\"\n  \
                 sha256 = \"{}\"\n  strip_prefix = \"zlib-{{version}}.dfsg\"\n}}\n\n\
                 source \"zlib-dsc\" {{\n  url = \"mirror://debian/{DSC}\"\n  sha256 = \"{}\"\n}}\n",
                sha256(&orig),
                sha256(dsc.as_bytes())
            ),
        );
        ws.write(
            "images/BUILD.dhi",
            "image \"box\" {\n  packages = [//debian:busybox-static]\n  entrypoint = [\"/bin/busybox\"]\n  user = 65532\n}\n",
        );
        Archive { repo, ws, orig, deb_path }
    }

    /// dhib in the workspace with `store`, with no mirror or repository
    /// from the environment.
    fn dhib(&self, store: &Path, args: &[&str]) -> Output {
        common::dhib()
            .arg("-C")
            .arg(self.ws.path())
            .arg("--store")
            .arg(store)
            .args(args)
            .env_remove("DHIB_FETCH_MIRRORS")
            .env_remove("DHIB_DEBIAN_REPO")
            .output()
            .unwrap()
    }
}

/// The `fetched` and `failed` events of a `--output json` run, as (event, node).
fn events(out: &Output) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = stdout(out)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["event"] == "fetched" || e["event"] == "failed")
        .map(|e| (e["event"].as_str().unwrap().to_string(), e["node"].as_str().unwrap().to_string()))
        .collect();
    v.sort();
    v
}

fn blob(store: &Path, hex: &str) -> std::path::PathBuf {
    store.join("blobs").join(&hex[..2]).join(hex)
}

#[test]
fn pinned_paths_are_fetched_from_an_archive_that_has_moved_on() {
    let a = Archive::new();
    let store = tempfile::tempdir().unwrap();
    let out = a.dhib(store.path(), &["fetch", "//...", "--output", "json"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let fetched = |n: &str| ("fetched".to_string(), n.to_string());
    assert_eq!(events(&out), [fetched("//debian:busybox-static"), fetched("//pkgs/zlib:zlib-dsc"), fetched("//pkgs/zlib:zlib-src")]);
    assert!(blob(store.path(), &sha256(&a.orig)).is_file(), "the source is in the store under its pin");

    // Nothing more to download; the build needs no origin at all.
    let again = a.dhib(store.path(), &["fetch", "//..."]);
    assert!(stderr(&again).contains("3 pinned files, 3 already in the store"), "{}", stderr(&again));
    std::fs::remove_dir_all(a.repo.path().join("pool")).unwrap();
    let build = a.dhib(store.path(), &["build", "//pkgs/...", "//debian/..."]);
    assert!(build.status.success(), "{}", stderr(&build));

    // A pattern fetches what its closure needs, and only that.
    let other = tempfile::tempdir().unwrap();
    let image = a.dhib(other.path(), &["fetch", "//images/...", "--output", "json"]);
    assert_eq!(events(&image), [("failed".to_string(), "//debian:busybox-static".to_string())], "{}", stdout(&image));
}

#[test]
fn a_pinned_file_gone_from_every_origin_is_named_with_its_pin_the_places_tried_and_the_remedy() {
    let a = Archive::new();
    std::fs::remove_file(a.repo.path().join(ORIG)).unwrap();
    std::fs::remove_file(a.repo.path().join(&a.deb_path)).unwrap();
    let store = tempfile::tempdir().unwrap();
    let out = a.dhib(store.path(), &["fetch", "//..."]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    let pin = sha256(&a.orig);
    assert!(err.contains(&format!("FAILED //pkgs/zlib:zlib-src\n  no origin serves zlib_1.2.13.dfsg.orig.tar.gz (sha256 {pin}")), "{err}");
    assert!(err.contains(&format!("{}/{ORIG}: not there", a.repo.path().display())), "{err}");
    assert!(err.contains("`dhib lock` re-pins debs") && err.contains("`[fetch] mirrors`"), "{err}");
    assert!(err.contains(&format!("{}/{}: not there", a.repo.path().display(), a.deb_path)), "{err}");
    assert!(err.contains("2 of 3 files could not be fetched"), "{err}");
    // The file still served was fetched; nothing of the missing ones was.
    assert!(!blob(store.path(), &pin).exists());
    let dsc = a.dhib(store.path(), &["fetch", "//pkgs/zlib:zlib-dsc"]);
    assert!(stderr(&dsc).contains("1 pinned files, 1 already in the store"), "{}", stderr(&dsc));

    // A build says the same, at the node.
    let build = a.dhib(store.path(), &["build", "//pkgs/zlib:zlib-src"]);
    assert_eq!(build.status.code(), Some(1));
    assert!(
        stderr(&build).contains("no origin serves zlib_1.2.13.dfsg.orig.tar.gz") && stderr(&build).contains(&pin),
        "{}",
        stderr(&build)
    );
}

#[test]
fn mirrors_are_asked_first_and_trusted_only_for_the_pinned_bytes() {
    let a = Archive::new();
    let pin = sha256(&a.orig);
    // A directory of downloads holding a tampered file under the right name,
    // then a hashed mirror over HTTP with the right bytes.
    let distdir = tempfile::tempdir().unwrap();
    std::fs::write(distdir.path().join("zlib_1.2.13.dfsg.orig.tar.gz"), b"not the pinned bytes").unwrap();
    let hashed = tempfile::tempdir().unwrap();
    std::fs::create_dir(hashed.path().join("sha256")).unwrap();
    std::fs::write(hashed.path().join("sha256").join(&pin), &a.orig).unwrap();
    let port = serve(hashed.path().to_path_buf());
    std::fs::remove_dir_all(a.repo.path().join("pool")).unwrap();
    let toml = std::fs::read_to_string(a.ws.path().join("dhi.toml")).unwrap();
    a.ws.write("dhi.toml", &format!("{toml}\n[fetch]\nmirrors = [\"{}\", \"http://127.0.0.1:{port}/\"]\n", distdir.path().display()));

    let store = tempfile::tempdir().unwrap();
    let out = a.dhib(store.path(), &["fetch", "//pkgs/zlib:zlib-src", "--mirror-dir", "kept"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(blob(store.path(), &pin)).unwrap(), a.orig);
    assert_eq!(std::fs::read(a.ws.path().join("kept/sha256").join(&pin)).unwrap(), a.orig, "--mirror-dir is relative to -C");

    // Only the tampered copy: refused, and said so.
    a.ws.write("dhi.toml", &format!("{toml}\n[fetch]\nmirrors = [\"{}\"]\n", distdir.path().display()));
    let fresh = tempfile::tempdir().unwrap();
    let bad = a.dhib(fresh.path(), &["fetch", "//pkgs/zlib:zlib-src"]);
    assert_eq!(bad.status.code(), Some(1));
    let tampered = sha256(b"not the pinned bytes");
    assert!(stderr(&bad).contains(&format!("zlib_1.2.13.dfsg.orig.tar.gz: its sha256 is {tampered}")), "{}", stderr(&bad));
    assert!(std::fs::read_dir(fresh.path().join("blobs")).unwrap().next().is_none(), "nothing entered the store");

    // The kept mirror serves another machine, through the environment.
    let offline = common::dhib()
        .arg("-C")
        .arg(a.ws.path())
        .arg("--store")
        .arg(fresh.path())
        .args(["fetch", "//pkgs/zlib:zlib-src"])
        .env("DHIB_FETCH_MIRRORS", a.ws.path().join("kept"))
        .output()
        .unwrap();
    assert!(offline.status.success(), "{}", stderr(&offline));
}
