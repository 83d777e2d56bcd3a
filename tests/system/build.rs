//! `dhib build` end to end on small workspaces: a real Debian .deb as the
//! build environment, sources packed by the test, the real sandbox.

use std::process::{Command, Output};

use crate::common;
use common::{built_nodes, busybox_deb, serve, sha256, tarball};

/// The shared workspace helper, with this file's packages.
struct Ws(common::Ws);

impl std::ops::Deref for Ws {
    type Target = common::Ws;
    fn deref(&self) -> &common::Ws {
        &self.0
    }
}

impl Ws {
    /// A workspace with a busybox build environment and packages `hello`
    /// (from a source tarball) and `greet` (which depends on hello).
    fn new(hello_script: &str, hello_steps: &str) -> Ws {
        let ws = Ws(common::busybox_workspace(
            "",
            "\nenv \"busybox\" {\n  packages = [:busybox-static]\n  env = { GREETING = \"from the env\" }\n}\n",
        ));
        ws.set_hello(hello_script, hello_steps);
        ws.write(
            "pkgs/greet/BUILD.dhi",
            "package \"greet\" {\n  version = \"1\"\n  env = //debian:busybox\n  deps = [//pkgs/hello]\n  \
             build { steps = [\"mkdir -p $DESTDIR/usr/bin\", \"cp /opt/deps/usr/bin/hello $DESTDIR/usr/bin/greet\"] }\n}\n",
        );
        ws
    }

    fn set_hello(&self, script: &str, steps: &str) {
        let tgz = tarball("hello-1", &[("hello.sh", script)]);
        self.write_bytes("third_party/hello-1.tar.gz", &tgz);
        self.write(
            "pkgs/hello/BUILD.dhi",
            &format!(
                "source \"hello-src\" {{\n  url = \"file://third_party/hello-1.tar.gz\"\n  sha256 = \"{}\"\n  strip_prefix = \"hello-1\"\n}}\n\n\
                 package \"hello\" {{\n  version = \"1\"\n  source = :hello-src\n  env = //debian:busybox\n  build {{ steps = [{steps}] }}\n  \
                 outputs {{ runtime = [\"usr/bin/*\"] }}\n}}\n",
                sha256(&tgz)
            ),
        );
    }
}

const STEPS: &str = "\"mkdir -p $DESTDIR/usr/bin\", \"cp hello.sh $DESTDIR/usr/bin/hello\"";

use common::stderr;

#[test]
fn builds_in_the_sandbox_then_does_nothing_the_second_time() {
    let ws = Ws::new("#!/bin/sh\necho hello\n", STEPS);
    let first = ws.dhib(&["build", "//pkgs/..."]);
    assert!(first.status.success(), "{}", stderr(&first));
    let err = stderr(&first);
    assert!(err.contains("built //pkgs/hello:hello"), "{err}");
    assert!(err.contains("built //pkgs/greet:greet"), "{err}");
    let second = ws.dhib(&["build", "//pkgs/..."]);
    assert!(second.status.success());
    assert!(stderr(&second).contains("5 targets up to date"), "{}", stderr(&second));
    // The log of a built node is kept.
    let log = ws.dhib(&["log", "//pkgs/hello:hello"]);
    assert!(String::from_utf8_lossy(&log.stdout).contains("+ cp hello.sh"), "{}", stderr(&log));
}

#[test]
fn json_events_for_ci() {
    let ws = Ws::new("#!/bin/sh\necho hi\n", STEPS);
    let out = ws.dhib(&["build", "//pkgs/hello", "--output", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let events: Vec<serde_json::Value> = String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(events[0]["event"], "plan");
    assert!(events.iter().any(|e| e["event"] == "built" && e["node"] == "//pkgs/hello:hello"));
    assert_eq!(events.last().unwrap()["event"], "summary");
}

#[test]
fn a_changed_source_rebuilds_exactly_its_dependents() {
    let ws = Ws::new("#!/bin/sh\necho one\n", STEPS);
    assert!(ws.dhib(&["build", "//..."]).status.success());
    ws.set_hello("#!/bin/sh\necho two\n", STEPS);
    let out = ws.dhib(&["build", "//...", "--output", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let built = built_nodes(&out);
    let rdeps =
        ws.dhib(&["query", "kind(source, rdeps(//..., //pkgs/hello:hello-src)) + kind(package, rdeps(//..., //pkgs/hello:hello-src))"]);
    let want: Vec<String> = String::from_utf8(rdeps.stdout).unwrap().lines().map(str::to_string).collect();
    assert_eq!(built, want);
    assert_eq!(built, ["//pkgs/greet:greet", "//pkgs/hello:hello", "//pkgs/hello:hello-src"]);
}

#[test]
fn a_pin_mismatch_names_the_label_and_both_digests_and_stores_nothing() {
    let ws = Ws::new("#!/bin/sh\necho hello\n", STEPS);
    let good = std::fs::read(ws.path().join("third_party/hello-1.tar.gz")).unwrap();
    let tampered = tarball("hello-1", &[("hello.sh", "#!/bin/sh\necho pwned\n")]);
    ws.write_bytes("third_party/hello-1.tar.gz", &tampered);
    let out = ws.dhib(&["build", "//pkgs/hello"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("FAILED //pkgs/hello:hello-src"), "{err}");
    assert!(err.contains(&sha256(&good)) && err.contains(&sha256(&tampered)), "{err}");
    let blob = ws.path().join(".dhib/blobs").join(&sha256(&tampered)[..2]).join(sha256(&tampered));
    assert!(!blob.exists(), "the mismatching content entered the store");
}

#[test]
fn a_failing_step_shows_the_command_status_and_log_tail() {
    let ws = Ws::new("#!/bin/sh\n", "\"echo compiling\", \"echo broken >&2; exit 3\"");
    let out = ws.dhib(&["build", "//pkgs/..."]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("step 2 of 2 failed (exit status 3): echo broken >&2; exit 3"), "{err}");
    assert!(err.contains("broken"), "{err}");
    assert!(err.contains("not run: //pkgs/greet:greet"), "{err}");
    let log = ws.dhib(&["log", "//pkgs/hello:hello"]);
    let text = String::from_utf8_lossy(&log.stdout);
    assert!(text.contains("compiling") && text.contains("broken"), "{text}");
}

#[test]
fn a_build_step_cannot_reach_the_network() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let ws = Ws::new("#!/bin/sh\n", &format!("\"busybox wget -q -T 2 -O /tmp/x http://127.0.0.1:{port}/\""));
    let out = ws.dhib(&["build", "//pkgs/hello"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(listener.accept().is_err(), "the build step reached the host");
}

#[test]
fn a_corrupted_blob_is_detected_evicted_and_rebuilt() {
    let ws = Ws::new("#!/bin/sh\necho hello\n", STEPS);
    assert!(ws.dhib(&["build", "//pkgs/hello"]).status.success());
    // Flip a byte of every stored copy of hello.sh.
    let content = b"#!/bin/sh\necho hello\n";
    let blob = ws.path().join(".dhib/blobs").join(&sha256(content)[..2]).join(sha256(content));
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[0] ^= 1;
    let mut perms = std::fs::metadata(&blob).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&blob, perms).unwrap();
    std::fs::write(&blob, bytes).unwrap();
    // greet uses hello's output: the corruption is found, hello rebuilt.
    let out = ws.dhib(&["build", "//pkgs/greet"]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("is corrupt"), "{err}");
    assert_eq!(std::fs::read(&blob).unwrap(), content);
}

#[test]
fn two_builds_on_one_store_at_once_both_succeed() {
    let ws = Ws::new("#!/bin/sh\necho hello\n", STEPS);
    let spawn = || {
        common::dhib()
            .arg("-C")
            .arg(ws.path())
            .args(["build", "//...", "--output", "json"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success(), "{}", stderr(&a));
    assert!(b.status.success(), "{}", stderr(&b));
    let built = |o: &Output| String::from_utf8_lossy(&o.stdout).matches("\"event\":\"built\"").count();
    assert_eq!(built(&a) + built(&b), 5, "each node was built exactly once across both processes");
}

#[test]
fn without_a_sandbox_dhib_refuses_unless_told() {
    let ws = Ws::new("#!/bin/sh\n", STEPS);
    let out = common::dhib().arg("-C").arg(ws.path()).args(["build", "//pkgs/hello"]).env("PATH", "/nonexistent").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("does not build outside a sandbox"), "{}", stderr(&out));
}

#[test]
fn sources_and_debian_packages_come_over_http() {
    let ws = Ws::new("#!/bin/sh\necho over http\n", STEPS);
    let (deb_dir, _, _) = busybox_deb();
    let debs = serve(deb_dir);
    // Only the server has the source tarball.
    let served = tempfile::tempdir().unwrap();
    std::fs::rename(ws.path().join("third_party/hello-1.tar.gz"), served.path().join("hello-1.tar.gz")).unwrap();
    let files = serve(served.path().to_path_buf());
    let toml = std::fs::read_to_string(ws.path().join("dhi.toml")).unwrap();
    let toml: Vec<String> =
        toml.lines().map(|l| if l.starts_with("repo") { format!("repo = \"http://127.0.0.1:{debs}\"") } else { l.to_string() }).collect();
    ws.write("dhi.toml", &toml.join("\n"));
    let build = std::fs::read_to_string(ws.path().join("pkgs/hello/BUILD.dhi")).unwrap();
    ws.write("pkgs/hello/BUILD.dhi", &build.replace("file://third_party/", &format!("http://127.0.0.1:{files}/")));
    let out = ws.dhib(&["build", "//pkgs/hello"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("built //pkgs/hello:hello"));
}

#[test]
fn lock_pins_packages_and_their_dependencies_from_an_index() {
    // A real index: this machine's apt metadata for two packages and a
    // dependency of one of them.
    let show = Command::new("apt-cache")
        .args(["show", "--no-all-versions", "busybox-static", "zlib1g", "libc6", "libgcc-s1", "gcc-12-base"])
        .output()
        .unwrap();
    assert!(show.status.success());
    let ws = Ws::new("#!/bin/sh\n", STEPS);
    ws.write_bytes("Packages", &show.stdout);
    let toml = std::fs::read_to_string(ws.path().join("dhi.toml")).unwrap();
    ws.write("dhi.toml", &format!("{toml}lock = \"locked/BUILD.dhi\"\npackages = [\"zlib1g\", \"busybox-static\"]\n"));
    let index = ws.path().join("Packages");
    let out = ws.dhib(&["lock", "--index", index.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("locked 5 packages"), "{}", stderr(&out));
    let locked = std::fs::read_to_string(ws.path().join("locked/BUILD.dhi")).unwrap();
    let (_, _, busybox_sha) = busybox_deb();
    assert!(locked.contains(&format!("sha256 = \"{busybox_sha}\"")), "{locked}");
    assert!(locked.contains("deb \"zlib1g\" {") && locked.contains("depends = [:libc6]"), "{locked}");
    // The generated file is canonical and part of the graph.
    let generated = ws.path().join("locked/BUILD.dhi");
    assert!(ws.dhib(&["fmt", "--check", generated.to_str().unwrap()]).status.success());
    let q = ws.dhib(&["query", "//locked/..."]);
    assert_eq!(String::from_utf8_lossy(&q.stdout).lines().count(), 5, "{}", stderr(&q));
    // An unknown package is a clear error.
    ws.write("dhi.toml", &format!("{toml}lock = \"locked/BUILD.dhi\"\npackages = [\"zlib1\"]\n"));
    let bad = ws.dhib(&["lock", "--index", index.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("cannot resolve zlib1: not in the index"), "{}", stderr(&bad));
}

#[test]
fn steps_see_their_environments_variables() {
    let ws = Ws::new("#!/bin/sh\n", "\"echo greeting=$GREETING\"");
    let out = ws.dhib(&["build", "//pkgs/hello"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let log = ws.dhib(&["log", "//pkgs/hello:hello"]);
    assert!(String::from_utf8_lossy(&log.stdout).contains("greeting=from the env"), "{}", String::from_utf8_lossy(&log.stdout));
}

#[test]
fn keep_going_builds_what_does_not_depend_on_the_failure() {
    let ws = Ws::new("#!/bin/sh\n", "\"exit 1\"");
    ws.write(
        "pkgs/other/BUILD.dhi",
        "package \"other\" {\n  version = \"1\"\n  env = //debian:busybox\n  build { steps = [\"mkdir -p $DESTDIR/etc\", \"echo ok > $DESTDIR/etc/other\"] }\n}\n",
    );
    let out = ws.dhib(&["build", "//pkgs/...", "--keep-going", "-j", "1"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("built //pkgs/other:other"), "{err}");
    assert!(err.contains("FAILED //pkgs/hello:hello") && err.contains("not run: //pkgs/greet:greet"), "{err}");
}

#[test]
fn unsandboxed_builds_are_never_cached() {
    let ws = Ws::new("#!/bin/sh\n", "\"true\"");
    let out = ws.dhib(&["build", "//pkgs/hello:hello-src", "--sandbox", "none"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let again = ws.dhib(&["build", "//pkgs/hello:hello-src", "--sandbox", "none"]);
    assert!(stderr(&again).contains("built //pkgs/hello:hello-src"), "{}", stderr(&again));
    let sandboxed = ws.dhib(&["build", "//pkgs/hello:hello-src"]);
    assert!(stderr(&sandboxed).contains("built //pkgs/hello:hello-src"), "an unsandboxed result was reused");
}

#[test]
fn git_sources_are_pinned_by_the_archive_of_a_revision() {
    let ws = Ws::new("#!/bin/sh\n", STEPS);
    let repo = ws.path().join("upstream");
    std::fs::create_dir_all(&repo).unwrap();
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(args)
            .current_dir(&repo)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.org")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.org")
            .env("GIT_AUTHOR_DATE", "2024-01-01T00:00:00Z")
            .env("GIT_COMMITTER_DATE", "2024-01-01T00:00:00Z")
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    };
    git(&["init", "-q"]);
    std::fs::write(repo.join("hello.sh"), "#!/bin/sh\necho from git\n").unwrap();
    git(&["add", "hello.sh"]);
    git(&["commit", "-q", "-m", "one"]);
    git(&["tag", "v1"]);
    let pin = sha256(&git(&["archive", "--format=tar", "v1^{commit}"]));
    let def = |pin: &str| {
        format!(
            "source \"hello-src\" {{\n  url = \"git+file://upstream\"\n  rev = \"v1\"\n  sha256 = \"{pin}\"\n}}\n\n\
             package \"hello\" {{\n  version = \"1\"\n  source = :hello-src\n  env = //debian:busybox\n  build {{ steps = [{STEPS}] }}\n}}\n"
        )
    };
    ws.write("pkgs/hello/BUILD.dhi", &def(&pin));
    let out = ws.dhib(&["build", "//pkgs/hello"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let ls = String::from_utf8(ws.dhib(&["ls", "//pkgs/hello:hello"]).stdout).unwrap();
    assert!(ls.contains("usr/bin/hello"), "{ls}");
    // Another pin for the same revision is refused.
    ws.write("pkgs/hello/BUILD.dhi", &def(&"0".repeat(64)));
    let bad = ws.dhib(&["build", "//pkgs/hello"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("sha256 mismatch") && stderr(&bad).contains(&pin), "{}", stderr(&bad));
    // A git source without a revision is caught by analysis.
    ws.write("pkgs/hello/BUILD.dhi", &def(&pin).replace("  rev = \"v1\"\n", ""));
    let norev = ws.dhib(&["check"]);
    assert!(stderr(&norev).contains("names no revision"), "{}", stderr(&norev));
}

#[test]
fn debian_packages_in_deps_are_installed_for_the_build() {
    let ws = Ws::new("#!/bin/sh\n", "\"test -x /opt/deps/usr/bin/busybox\", \"mkdir -p $DESTDIR/etc\", \"echo ok > $DESTDIR/etc/ok\"");
    let def = std::fs::read_to_string(ws.path().join("pkgs/hello/BUILD.dhi")).unwrap();
    ws.write(
        "pkgs/hello/BUILD.dhi",
        &def.replace("  env = //debian:busybox\n", "  env = //debian:busybox\n  deps = [//debian:busybox-static]\n"),
    );
    let out = ws.dhib(&["build", "//pkgs/hello"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// Gives hello's source the patch `text` as `pkgs/hello/fix.patch`.
fn patch_hello(ws: &Ws, text: &str) {
    ws.write("pkgs/hello/fix.patch", text);
    let def = std::fs::read_to_string(ws.path().join("pkgs/hello/BUILD.dhi")).unwrap();
    if !def.contains("patches") {
        let def = def.replace("  strip_prefix = \"hello-1\"\n", "  strip_prefix = \"hello-1\"\n  patches = [file(\"fix.patch\")]\n");
        ws.write("pkgs/hello/BUILD.dhi", &def);
    }
}

/// The digest `dhib ls` shows for `path` in `output` of `node`.
fn listed_digest(ws: &Ws, node: &str, output: &str, path: &str) -> Option<String> {
    let ls = ws.dhib(&["ls", node]);
    String::from_utf8(ls.stdout).unwrap().lines().find_map(|l| {
        let f: Vec<&str> = l.split('\t').collect();
        (f[0] == output && f[1] == path).then(|| f[4].trim_start_matches("sha256:").to_string())
    })
}

const HELLO_PATCH: &str = "diff -u hello-1.orig/hello.sh hello-1/hello.sh\n--- hello-1.orig/hello.sh\n+++ hello-1/hello.sh\n\
                           @@ -1,2 +1,3 @@\n #!/bin/sh\n-echo hello\n+echo patched\n+echo twice\n\
                           diff -u hello-1.orig/NOTES hello-1/NOTES\n--- /dev/null\n+++ hello-1/NOTES\n@@ -0,0 +1 @@\n+patched upstream\n";

#[test]
fn patches_are_applied_to_the_source_and_builds_see_them() {
    let ws = Ws::new("#!/bin/sh\necho hello\n", STEPS);
    patch_hello(&ws, HELLO_PATCH);
    let out = ws.dhib(&["build", "//pkgs/..."]);
    assert!(out.status.success(), "{}", stderr(&out));
    let patched = sha256(b"#!/bin/sh\necho patched\necho twice\n");
    assert_eq!(listed_digest(&ws, "//pkgs/hello:hello-src", "tree", "hello.sh"), Some(patched.clone()));
    assert_eq!(listed_digest(&ws, "//pkgs/hello:hello-src", "tree", "NOTES"), Some(sha256(b"patched upstream\n")));
    assert_eq!(listed_digest(&ws, "//pkgs/hello:hello", "runtime", "usr/bin/hello"), Some(patched.clone()));
    assert_eq!(listed_digest(&ws, "//pkgs/greet:greet", "runtime", "usr/bin/greet"), Some(patched));
}

#[test]
fn editing_a_patch_rebuilds_the_source_and_what_is_built_from_it() {
    let ws = Ws::new("#!/bin/sh\necho hello\n", STEPS);
    patch_hello(&ws, HELLO_PATCH);
    assert!(ws.dhib(&["build", "//..."]).status.success());
    patch_hello(&ws, &HELLO_PATCH.replace("+echo twice\n", "+echo thrice\n"));
    let out = ws.dhib(&["build", "//...", "--output", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let built = built_nodes(&out);
    assert_eq!(built, ["//pkgs/greet:greet", "//pkgs/hello:hello", "//pkgs/hello:hello-src"]);
    let now = sha256(b"#!/bin/sh\necho patched\necho thrice\n");
    assert_eq!(listed_digest(&ws, "//pkgs/greet:greet", "runtime", "usr/bin/greet"), Some(now));
}

#[test]
fn a_patch_that_does_not_apply_names_the_source_patch_file_and_hunk_and_stores_nothing() {
    let ws = Ws::new("#!/bin/sh\necho hello\n", STEPS);
    patch_hello(&ws, "--- a/hello.sh\n+++ b/hello.sh\n@@ -1,2 +1,2 @@\n #!/bin/sh\n-echo goodbye\n+echo patched\n");
    let out = ws.dhib(&["build", "//pkgs/..."]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("FAILED //pkgs/hello:hello-src"), "{err}");
    assert!(err.contains("patch `pkgs/hello/fix.patch` of //pkgs/hello:hello-src does not apply"), "{err}");
    assert!(err.contains("hunk #1 (@@ -1,2 +1,2 @@) of `hello.sh` does not match the source"), "{err}");
    assert!(err.contains("not run: //pkgs/hello:hello"), "{err}");
    let ls = ws.dhib(&["ls", "//pkgs/hello:hello-src"]);
    assert!(stderr(&ls).contains("is not built"), "{}", stderr(&ls));
}

#[test]
fn a_patch_reaching_outside_the_source_is_refused() {
    let ws = Ws::new("#!/bin/sh\necho hello\n", STEPS);
    patch_hello(&ws, "--- /dev/null\n+++ b/../../escaped\n@@ -0,0 +1 @@\n+outside\n");
    let out = ws.dhib(&["build", "//pkgs/hello"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("it names `../../escaped`, which leaves the source tree"), "{err}");
    let escaped = walkdir::WalkDir::new(ws.path()).into_iter().flatten().find(|e| e.file_name() == "escaped");
    assert!(escaped.is_none(), "a file was written outside the tree: {escaped:?}");
}
