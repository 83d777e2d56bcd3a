//! `dhib upstream check` and `dhib upstream update`: monitors polled for real
//! (local git repositories, a GitHub API replayed on 127.0.0.1, a Debian
//! index on disk) and sources rewritten in place.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use crate::common;
use common::{sha256, stderr, stdout, tarball, Ws};

const SHA: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn git(dir: &std::path::Path, args: &[&str]) {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.email=t@example.com", "-c", "user.name=t", "-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A git repository at `repo/` of the workspace with one commit per tag.
fn tagged_repo(ws: &Ws, tags: &[&str]) {
    let dir = ws.path().join("repo");
    if !dir.exists() {
        std::fs::create_dir_all(&dir).unwrap();
        git(&dir, &["init", "-q"]);
    }
    for tag in tags {
        std::fs::write(dir.join("VERSION"), tag).unwrap();
        git(&dir, &["add", "."]);
        git(&dir, &["commit", "-qm", tag]);
        git(&dir, &["tag", tag]);
    }
}

/// The real binary in the workspace, without a GitHub token or proxies.
fn dhib(ws: &Ws, args: &[&str], token: Option<&str>) -> Output {
    let mut cmd = common::dhib();
    cmd.arg("-C").arg(ws.path()).args(args).env_remove("GITHUB_TOKEN");
    for proxy in ["http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"] {
        cmd.env_remove(proxy);
    }
    if let Some(t) = token {
        cmd.env("GITHUB_TOKEN", t);
    }
    cmd.output().unwrap()
}

fn updates(out: &Output) -> Vec<serde_json::Value> {
    serde_json::from_str::<Vec<serde_json::Value>>(&stdout(out)).unwrap_or_else(|e| panic!("{e}: {}{}", stdout(out), stderr(out)))
}

fn source_ws(monitor: &str) -> Ws {
    let ws = Ws::empty();
    ws.write("dhi.toml", "[workspace]\nname = \"t\"\n");
    ws.write(
        "pkgs/a/BUILD.dhi",
        &format!("source \"a-src\" {{\n  version = \"1.0.0\"\n  url = \"file://a-{{version}}.tar.gz\"\n  sha256 = \"{SHA}\"\n  upstream = {monitor}\n}}\n"),
    );
    ws
}

#[test]
fn git_tags_finds_the_newest_release_in_numeric_order_and_rcs_only_when_asked() {
    let ws = source_ws("git_tags(\"file://repo\", pattern = \"v{version}\")");
    tagged_repo(&ws, &["v1.0.0", "v1.1.0", "v1.2.0-rc1", "other-9.0"]);
    let out = dhib(&ws, &["upstream", "check"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "//pkgs/a:a-src  1.0.0 \u{2192} 1.1.0  (minor, git tags of file://repo)\n");

    let json = updates(&dhib(&ws, &["upstream", "check", "//pkgs/...", "--output", "json"], None));
    assert_eq!(json.len(), 1);
    assert_eq!(json[0]["latest"], "1.1.0");
    assert_eq!(json[0]["tag"], "v1.1.0");
    assert_eq!(json[0]["kind"], "minor");
    assert_eq!(json[0]["url"], "file://a-1.1.0.tar.gz");

    // v1.10.0 is newer than v1.9.0, though it sorts before it as text.
    tagged_repo(&ws, &["v1.10.0", "v1.9.0"]);
    assert_eq!(updates(&dhib(&ws, &["upstream", "check", "--output", "json"], None))[0]["latest"], "1.10.0");

    let ws = source_ws("git_tags(\"file://repo\", pattern = \"v{version}\", prereleases = true)");
    tagged_repo(&ws, &["v1.0.0", "v1.1.0", "v1.2.0-rc1"]);
    let json = updates(&dhib(&ws, &["upstream", "check", "--output", "json"], None));
    assert_eq!(json[0]["latest"], "1.2.0-rc1");

    // `[upstream] mirrors` sends the monitor to a mirror: the longest
    // matching prefix of the URL the .dhi file names is replaced.
    let ws = source_ws("git_tags(\"https://git.example.org/a/a.git\", pattern = \"v{version}\")");
    ws.write(
        "dhi.toml",
        "[workspace]\nname = \"t\"\n[upstream.mirrors]\n\"https://git.example.org/\" = \"file://nowhere/\"\n\"https://git.example.org/a/a.git\" = \"file://repo\"\n",
    );
    tagged_repo(&ws, &["v1.0.0", "v1.3.0"]);
    let out = dhib(&ws, &["upstream", "check"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "//pkgs/a:a-src  1.0.0 \u{2192} 1.3.0  (minor, git tags of file://repo)\n");

    // At the newest version: nothing to list.
    let ws = source_ws("git_tags(\"file://repo\", pattern = \"v{version}\")");
    tagged_repo(&ws, &["v0.9.0", "v1.0.0"]);
    let out = dhib(&ws, &["upstream", "check", "--output", "json"], None);
    assert!(out.status.success());
    assert!(updates(&out).is_empty());
}

#[test]
fn a_failing_monitor_is_reported_per_target_and_fails_the_run() {
    let ws = source_ws("git_tags(\"file://no-such-repo\", pattern = \"v{version}\")");
    ws.write(
        "pkgs/b/BUILD.dhi",
        &format!("source \"b-src\" {{\n  version = \"1.0.0\"\n  url = \"file://b.tar.gz\"\n  sha256 = \"{SHA}\"\n  upstream = git_tags(\"file://repo\")\n}}\n"),
    );
    tagged_repo(&ws, &["2.0.0"]);
    let out = dhib(&ws, &["upstream", "check"], None);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("//pkgs/a:a-src") && stderr(&out).contains("git ls-remote"), "{}", stderr(&out));
    assert!(stdout(&out).contains("//pkgs/b:b-src  1.0.0 \u{2192} 2.0.0  (major"), "{}", stdout(&out));
}

/// Answers GitHub API requests by path, recording each request's head.
fn github_server(seen: Arc<Mutex<Vec<String>>>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            let path = head.split_whitespace().nth(1).unwrap_or_default().to_string();
            seen.lock().unwrap().push(head);
            let release =
                |tag: &str, draft: bool, pre: bool| serde_json::json!({"tag_name": tag, "draft": draft, "prerelease": pre, "name": tag});
            let (status, extra, body) = match path.as_str() {
                "/repos/acme/tool/releases?per_page=100" => (
                    "200 OK",
                    format!("Link: <http://127.0.0.1:{port}/repos/acme/tool/releases?per_page=100&page=2>; rel=\"next\", <http://127.0.0.1:{port}/repos/acme/tool/releases?per_page=100&page=2>; rel=\"last\"\r\n"),
                    serde_json::json!([release("tool-2.0.0", true, false), release("tool-1.5.0", false, false), release("tool-1.9.0-beta", false, true)]),
                ),
                "/repos/acme/tool/releases?per_page=100&page=2" => (
                    "200 OK",
                    String::new(),
                    serde_json::json!([release("tool-1.6.0", false, false), release("tool-3.0.0", false, true), release("unrelated-9.0", false, false)]),
                ),
                "/repos/acme/limited/releases?per_page=100" => (
                    "403 Forbidden",
                    "x-ratelimit-limit: 60\r\nx-ratelimit-remaining: 0\r\nx-ratelimit-reset: 1700000000\r\n".to_string(),
                    serde_json::json!({"message": "API rate limit exceeded", "documentation_url": "https://docs.github.com/rest"}),
                ),
                _ => ("404 Not Found", String::new(), serde_json::json!({"message": "Not Found"})),
            };
            let body = body.to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n{body}",
                body.len()
            );
        }
    });
    port
}

#[test]
fn github_releases_follow_pages_skip_drafts_and_prereleases_and_honour_rate_limits() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let port = github_server(seen.clone());
    let api = format!("http://127.0.0.1:{port}");
    let ws = source_ws(&format!("github_releases(\"acme/tool\", pattern = \"tool-{{version}}\", api = \"{api}\")"));
    let out = dhib(&ws, &["upstream", "check", "--output", "json"], Some("s3cret-token"));
    assert!(out.status.success(), "{}", stderr(&out));
    let json = updates(&out);
    assert_eq!(json[0]["latest"], "1.6.0", "the draft 2.0.0 and the pre-release 3.0.0 do not count");
    assert_eq!(json[0]["tag"], "tool-1.6.0");
    assert_eq!(json[0]["signal"], "GitHub releases of acme/tool");
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2, "two pages: {seen:?}");
        assert!(seen.iter().all(|h| h.to_ascii_lowercase().contains("authorization: bearer s3cret-token")), "{seen:?}");
    }

    // Without a token no Authorization header; pre-releases when asked.
    seen.lock().unwrap().clear();
    let ws = source_ws(&format!("github_releases(\"acme/tool\", pattern = \"tool-{{version}}\", api = \"{api}/\", prereleases = true)"));
    let json = updates(&dhib(&ws, &["upstream", "check", "--output", "json"], None));
    assert_eq!(json[0]["latest"], "3.0.0");
    assert!(seen.lock().unwrap().iter().all(|h| !h.to_ascii_lowercase().contains("authorization")));

    let ws = source_ws(&format!("github_releases(\"acme/limited\", api = \"{api}\")"));
    let out = dhib(&ws, &["upstream", "check"], None);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("rate limit") && err.contains("retry after 2023-11-14 22:13:20 UTC") && err.contains("GITHUB_TOKEN"), "{err}");
}

#[test]
fn debian_index_orders_by_debian_versions_with_epochs() {
    let ws = Ws::empty();
    ws.write("dhi.toml", "[workspace]\nname = \"t\"\n");
    let packages = "Package: zlib1g\nVersion: 1.2-1\nArchitecture: amd64\n\n\
                    Package: zlib1g\nVersion: 1.10-1\nArchitecture: amd64\n\n\
                    Package: zlib1g\nVersion: 1.9-3\nArchitecture: amd64\n\n\
                    Package: libfoo\nVersion: 2.0-1\nArchitecture: amd64\n\n\
                    Package: libfoo\nVersion: 1:1.1-1\nArchitecture: amd64\n\n\
                    Package: other\nVersion: 99\nArchitecture: amd64\n";
    ws.write("mirror/dists/bookworm/main/binary-amd64/Packages", packages);
    let deb = |name: &str, version: &str, package: &str| {
        format!(
            "deb \"{name}\" {{\n  version = \"{version}\"\n  arch = \"amd64\"\n  sha256 = \"{SHA}\"\n  filename = \"pool/{name}.deb\"\n  repo = \"file://mirror\"\n  \
             upstream = debian_index(\"file://mirror\", package = \"{package}\", suite = \"bookworm\")\n}}\n"
        )
    };
    ws.write("debian/BUILD.dhi", &format!("{}\n{}", deb("zlib1g", "1.2-1", "zlib1g"), deb("foo", "1:1.0-1", "libfoo")));
    let out = dhib(&ws, &["upstream", "check", "--output", "json"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let json = updates(&out);
    let latest: Vec<(&str, &str)> = json.iter().map(|u| (u["label"].as_str().unwrap(), u["latest"].as_str().unwrap())).collect();
    assert_eq!(latest, [("//debian:foo", "1:1.1-1"), ("//debian:zlib1g", "1.10-1")]);
    assert!(json[1]["signal"].as_str().unwrap().starts_with("Debian index file://mirror bookworm/main/binary-amd64"), "{json:?}");

    // update does not rewrite a pinned deb: it says to re-lock.
    let before = std::fs::read_to_string(ws.path().join("debian/BUILD.dhi")).unwrap();
    let out = dhib(&ws, &["upstream", "update"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("deb //debian:zlib1g  1.2-1 \u{2192} 1.10-1") && stdout(&out).contains("dhib lock"), "{}", stdout(&out));
    assert_eq!(std::fs::read_to_string(ws.path().join("debian/BUILD.dhi")).unwrap(), before);
}

/// The package file, with comments and odd formatting around the block.
fn pkg_file(version: &str, sha: &str, fixed_sha: &str) -> String {
    format!(
        "# The a library.\n\
         source \"a-src\" {{\n\
         \x20 # pinned by hand\n\
         \x20 version    =   \"{version}\"   # keep in sync\n\
         \x20 url = \"file://dist/a-{{version}}.tar.gz\"\n\
         \x20 sha256 =\n\
         \x20     \"{sha}\" # the tarball\n\
         \x20 upstream = git_tags(\"file://repo\", pattern = \"v{{version}}\")\n\
         }}\n\n\
         source \"fixed-src\" {{ version = \"1.0\"\n\
         \x20 url = \"file://dist/fixed.tar.gz\"\n\
         \x20 sha256 = \"{fixed_sha}\"\n\
         \x20 upstream = git_tags(\"file://repo\", pattern = \"v{{version}}\")\n\
         }}\n\n\
         package \"a\" {{\n  version = \"1\"\n  source = :a-src\n  env = //toolchains:cc\n  build = {{ steps = [\"make\"] }}\n}}\n\n\
         package \"fixed\" {{\n  version = \"1\"\n  source = :fixed-src\n  env = //toolchains:cc\n  build = {{ steps = [\"make\"] }}\n}}\n"
    )
}

#[test]
fn update_rewrites_only_version_and_sha256_and_lists_the_cascade() {
    let ws = Ws::empty();
    ws.write("dhi.toml", "[workspace]\nname = \"t\"\n");
    ws.write("toolchains/BUILD.dhi", "env \"cc\" {\n  packages = []\n}\n");
    let old = tarball("a-1.0", &[("README", "one")]);
    let new = tarball("a-1.1", &[("README", "two")]);
    let fixed = tarball("fixed", &[("README", "fixed")]);
    ws.write_bytes("dist/a-1.0.tar.gz", &old);
    ws.write_bytes("dist/a-1.1.tar.gz", &new);
    ws.write_bytes("dist/fixed.tar.gz", &fixed);
    let original = pkg_file("1.0", &sha256(&old), &sha256(&fixed));
    ws.write("pkgs/a/BUILD.dhi", &original);
    for name in ["a", "fixed"] {
        ws.write(
            &format!("images/{name}/BUILD.dhi"),
            &format!("image \"{name}\" {{\n  packages = [//pkgs/a:{name}]\n  user = 65532\n}}\n"),
        );
    }
    tagged_repo(&ws, &["v1.0", "v1.1"]);
    let check = ws.dhib(&["check"]);
    assert!(check.status.success(), "{}", stderr(&check));

    let dry = dhib(&ws, &["upstream", "update", "//pkgs/a:a-src", "--dry-run", "--output", "json"], None);
    assert!(dry.status.success(), "{}", stderr(&dry));
    let plan: serde_json::Value = serde_json::from_str(&stdout(&dry)).unwrap();
    assert_eq!(plan["written"], false);
    assert_eq!(plan["updated"][0]["sha256"], sha256(&new));
    assert_eq!(std::fs::read_to_string(ws.path().join("pkgs/a/BUILD.dhi")).unwrap(), original, "--dry-run writes nothing");

    let out = dhib(&ws, &["upstream", "update", "--output", "json"], None);
    assert_eq!(out.status.code(), Some(1), "fixed-src cannot be updated: {}", stderr(&out));
    let done: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let expected = pkg_file("1.1", &sha256(&new), &sha256(&fixed));
    assert_eq!(std::fs::read_to_string(ws.path().join("pkgs/a/BUILD.dhi")).unwrap(), expected);
    assert_eq!(done["written"], true);
    assert_eq!(done["updated"][0]["label"], "//pkgs/a:a-src");
    assert_eq!((done["updated"][0]["from"].as_str(), done["updated"][0]["to"].as_str()), (Some("1.0"), Some("1.1")));
    assert_eq!(done["updated"][0]["url"], "file://dist/a-1.1.tar.gz");
    assert_eq!(done["cascade"], plan["cascade"], "the dry run predicted it");
    let not = &done["not_updated"][0];
    assert_eq!(not["label"], "//pkgs/a:fixed-src");
    assert!(not["reason"].as_str().unwrap().contains("does not use {version}"), "{not}");

    let cascade = &done["cascade"];
    let list = |kind: &str| -> Vec<String> {
        cascade[kind].as_array().map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect()).unwrap_or_default()
    };
    assert_eq!(list("sources"), ["//pkgs/a:a-src"]);
    assert_eq!(list("packages"), ["//pkgs/a:a"]);
    assert_eq!(list("images"), ["//images/a:a"]);
    for facet in ["provenance", "sbom", "test-report", "vex"] {
        assert!(list("attestations").contains(&format!("//images/a:a#{facet}")), "{cascade}");
    }
    let everything = cascade.to_string();
    assert!(!everything.contains("fixed"), "an unrelated image does not change: {cascade}");

    // The analysis agrees with the file: the workspace checks, and is current.
    assert!(ws.dhib(&["check"]).status.success());
    let again = dhib(&ws, &["upstream", "update", "//pkgs/a:a-src"], None);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(!stdout(&again).contains("updated"), "{}", stdout(&again));

    // Text output names the update and the kinds.
    ws.write("pkgs/a/BUILD.dhi", &original);
    let text = dhib(&ws, &["upstream", "update", "//pkgs/a:a-src", "--dry-run"], None);
    let shown = stdout(&text);
    assert!(shown.contains("would update //pkgs/a:a-src  1.0 \u{2192} 1.1"), "{shown}");
    assert!(shown.contains("  packages (1):\n    //pkgs/a:a\n") && shown.contains("  images (1):\n    //images/a:a\n"), "{shown}");
}

/// A git repository at `repo/` of the workspace whose tags hold the
/// given trees, one commit each.
fn release_repo(ws: &Ws, releases: &[(&str, &[(&str, &str)])]) {
    let dir = ws.path().join("repo");
    std::fs::create_dir_all(&dir).unwrap();
    git(&dir, &["init", "-q"]);
    for (tag, files) in releases {
        for (path, text) in *files {
            ws.write(&format!("repo/{path}"), text);
        }
        git(&dir, &["add", "-A"]);
        git(&dir, &["commit", "-qm", tag, "--allow-empty"]);
        git(&dir, &["tag", tag]);
    }
}

/// The guardrail's record of an archive, as the store keeps it.
fn guard_record(ws: &Ws, archive_sha: &str) -> serde_json::Value {
    let store = ws.path().join(".dhib");
    let digest = std::fs::read_to_string(store.join("guard").join(archive_sha)).expect("a record of the archive");
    let blob = store.join("blobs").join(&digest[..2]).join(&digest);
    serde_json::from_slice(&std::fs::read(blob).unwrap()).unwrap()
}

#[test]
fn the_guardrail_blocks_a_malicious_looking_update_until_approved_and_passes_a_benign_one() {
    let ws = Ws::empty();
    ws.write("dhi.toml", "[workspace]\nname = \"t\"\n");
    ws.write("toolchains/BUILD.dhi", "env \"cc\" {\n  packages = []\n}\n");
    let configure = "#!/bin/sh\necho configuring\n";
    let payload = "#!/bin/sh\necho configuring\necho ZWNobyBwd25lZAo= | base64 -d | sh\n";
    let v10: &[(&str, &str)] = &[("configure", configure), ("src/a.c", "int main(void) { return 0; }\n")];
    // 1.1 decodes a payload at build time and runs it, in the release
    // archive and in its tag alike.
    let v11: &[(&str, &str)] = &[("configure", payload), ("src/a.c", "int main(void) { return 0; }\n")];
    // 1.2 only changes code, harmlessly.
    let v12: &[(&str, &str)] = &[("configure", configure), ("src/a.c", "int main(void) { return 1 - 1; }\n")];
    let old = tarball("a-1.0", v10);
    let evil = tarball("a-1.1", v11);
    let benign = tarball("a-1.2", v12);
    // 1.3's archive has a build script its tag does not: only the archive
    // was tampered with.
    let tampered = tarball(
        "a-1.3",
        &[("configure", configure), ("src/a.c", "int main(void) { return 1 - 1; }\n"), ("build-aux/prep.sh", "#!/bin/sh\nexit 0\n")],
    );
    for (v, bytes) in [("1.0", &old), ("1.1", &evil), ("1.2", &benign), ("1.3", &tampered)] {
        ws.write_bytes(&format!("dist/a-{v}.tar.gz"), bytes);
    }
    let original = pkg_file("1.0", &sha256(&old), &sha256(&old));
    ws.write("pkgs/a/BUILD.dhi", &original);
    release_repo(&ws, &[("v1.0", v10), ("v1.1", v11)]);

    let blocked = dhib(&ws, &["upstream", "update", "//pkgs/a:a-src"], None);
    assert_eq!(blocked.status.code(), Some(1), "{}", stdout(&blocked));
    let said = stdout(&blocked);
    assert!(said.contains("guardrail //pkgs/a:a-src: high/high sh.encoded-payload configure"), "{said}");
    assert!(
        said.contains("the upstream-diff guardrail blocks 1.0 → 1.1") && said.contains("--approve sh.encoded-payload@configure"),
        "{said}"
    );
    assert!(stderr(&blocked).is_empty(), "the tag's tree was compared: {}", stderr(&blocked));
    assert_eq!(std::fs::read_to_string(ws.path().join("pkgs/a/BUILD.dhi")).unwrap(), original, "nothing is rewritten");
    assert!(!ws.path().join("pkgs/a/a-src.guard.json").exists(), "nor is a record written beside it");
    // The report is kept, with the decision: still blocked.
    let record = guard_record(&ws, &sha256(&evil));
    assert_eq!(record["blocking"], serde_json::json!(["sh.encoded-payload@configure"]), "{record}");
    assert_eq!(record["vcs"], "v1.1 of file://repo");
    assert_eq!(record["report"]["files_not_in_vcs"], 0);

    let approved =
        dhib(&ws, &["upstream", "update", "//pkgs/a:a-src", "--approve", "sh.encoded-payload@configure", "--output", "json"], None);
    let done: serde_json::Value = serde_json::from_str(&stdout(&approved)).unwrap();
    assert_eq!(done["updated"][0]["to"], "1.1", "{done}");
    let findings = done["guard"]["//pkgs/a:a-src"]["findings"].as_array().unwrap();
    assert!(findings.iter().any(|f| f["rule"] == "sh.encoded-payload" && f["lines"][0] == 3), "{done}");
    // The approval replaces the record; the archive is in the store.
    let record = guard_record(&ws, &sha256(&evil));
    assert_eq!(record["approved"], serde_json::json!(["sh.encoded-payload@configure"]), "{record}");
    assert_eq!(record["blocking"], serde_json::json!([]));
    assert_eq!(done["guard_records"]["//pkgs/a:a-src"].as_str().map(str::len), Some(64));
    // The same record beside the definition, to be committed with it.
    let beside = std::fs::read(ws.path().join("pkgs/a/a-src.guard.json")).unwrap();
    assert_eq!(sha256(&beside), done["guard_records"]["//pkgs/a:a-src"].as_str().unwrap());
    let evil_sha = sha256(&evil);
    assert!(ws.path().join(".dhib/blobs").join(&evil_sha[..2]).join(&evil_sha).is_file());

    // A benign change passes without approval.
    release_repo(&ws, &[("v1.2", v12)]);
    ws.write("pkgs/a/BUILD.dhi", &original);
    let benign_run = dhib(&ws, &["upstream", "update", "//pkgs/a:a-src", "--to", "1.2"], None);
    assert!(benign_run.status.success(), "{}{}", stdout(&benign_run), stderr(&benign_run));
    assert!(stdout(&benign_run).contains("updated //pkgs/a:a-src  1.0 \u{2192} 1.2"), "{}", stdout(&benign_run));
    assert!(stderr(&benign_run).is_empty(), "{}", stderr(&benign_run));

    // A build script only in the release archive blocks; without a tag to
    // compare with, the update says so.
    ws.write("pkgs/a/BUILD.dhi", &original);
    release_repo(&ws, &[("v1.3", v12)]);
    let out = dhib(&ws, &["upstream", "update", "//pkgs/a:a-src", "--to", "1.3"], None);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("high/high supply.not-in-vcs build-aux/prep.sh"), "{}", stdout(&out));
    ws.write_bytes("dist/a-1.4.tar.gz", &tampered);
    let untagged = dhib(&ws, &["upstream", "update", "//pkgs/a:a-src", "--to", "1.4"], None);
    assert!(untagged.status.success(), "{}", stdout(&untagged));
    assert!(stderr(&untagged).contains("//pkgs/a:a-src: compared without the tree of its tag: git clone"), "{}", stderr(&untagged));
}

#[test]
fn the_packages_and_images_that_carry_a_sources_version_follow_it() {
    let ws = Ws::empty();
    ws.write("dhi.toml", "[workspace]\nname = \"t\"\n");
    ws.write("toolchains/BUILD.dhi", "env \"cc\" {\n  packages = []\n}\n");
    let files: &[(&str, &str)] = &[("src/a.c", "int main(void) { return 0; }\n")];
    let (old, new) = (tarball("a-1.0", files), tarball("a-1.1", files));
    ws.write_bytes("dist/a-1.0.tar.gz", &old);
    ws.write_bytes("dist/a-1.1.tar.gz", &new);
    release_repo(&ws, &[("v1.0", files), ("v1.1", files)]);
    let text = format!(
        "source \"a-src\" {{\n  version = \"1.0\"\n  url = \"file://dist/a-{{version}}.tar.gz\"\n  sha256 = \"{}\"\n  upstream = git_tags(\"file://repo\", pattern = \"v{{version}}\")\n}}\n\n\
         package \"a\" {{\n  version = \"1.0\"  # as upstream's\n  source = :a-src\n  env = //toolchains:cc\n  build = {{ steps = [\"make\"] }}\n}}\n\n\
         package \"b\" {{\n  version = \"1.0\"\n  env = //toolchains:cc\n  build = {{ steps = [\"true\"] }}\n}}\n\n\
         image \"a-img\" {{\n  base = scratch\n  user = 1\n  packages = [:a]\n  version = \"1.0\"\n}}\n\n\
         image \"b-img\" {{\n  base = scratch\n  user = 1\n  packages = [:b]\n  version = \"1.0\"\n}}\n",
        sha256(&old)
    );
    ws.write("pkgs/a/BUILD.dhi", &text);
    let out = dhib(&ws, &["upstream", "update"], None);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("updated the version of //pkgs/a:a with it"), "{}", stdout(&out));
    let after = std::fs::read_to_string(ws.path().join("pkgs/a/BUILD.dhi")).unwrap();
    let expected = text
        .replacen("version = \"1.0\"\n  url", "version = \"1.1\"\n  url", 1)
        .replace(&sha256(&old), &sha256(&new))
        .replace("version = \"1.0\"  # as upstream's", "version = \"1.1\"  # as upstream's")
        .replace("packages = [:a]\n  version = \"1.0\"", "packages = [:a]\n  version = \"1.1\"");
    assert_eq!(after, expected, "package b and image b keep theirs");
}

#[test]
fn a_github_release_is_compared_with_the_tree_of_its_tag_cloned_from_github_or_its_mirror() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let port = github_server(seen);
    let ws = Ws::empty();
    // Both the API and the repository are asked of mirrors.
    ws.write(
        "dhi.toml",
        &format!(
            "[workspace]\nname = \"t\"\n[upstream.mirrors]\n\"https://api.github.com\" = \"http://127.0.0.1:{port}\"\n\"https://github.com/acme/\" = \"file://\"\n"
        ),
    );
    ws.write("toolchains/BUILD.dhi", "env \"cc\" {\n  packages = []\n}\n");
    let tree: &[(&str, &str)] = &[("configure", "#!/bin/sh\necho configuring\n"), ("src/a.c", "int main(void) { return 0; }\n")];
    let old = tarball("tool-1.0.0", tree);
    // The release archive carries a build script its tag does not.
    let new = tarball("tool-1.6.0", &[tree[0], tree[1], ("build-aux/prep.sh", "#!/bin/sh\nexit 0\n")]);
    ws.write_bytes("dist/tool-1.0.0.tar.gz", &old);
    ws.write_bytes("dist/tool-1.6.0.tar.gz", &new);
    ws.write(
        "pkgs/a/BUILD.dhi",
        &format!(
            "source \"a-src\" {{\n  version = \"1.0.0\"\n  url = \"file://dist/tool-{{version}}.tar.gz\"\n  sha256 = \"{}\"\n  upstream = github_releases(\"acme/tool\", pattern = \"tool-{{version}}\")\n}}\n",
            sha256(&old)
        ),
    );
    // https://github.com/acme/tool.git, mirrored to the workspace's tool.git.
    std::fs::create_dir_all(ws.path().join("tool.git")).unwrap();
    let dir = ws.path().join("tool.git");
    git(&dir, &["init", "-q"]);
    for (path, text) in tree {
        ws.write(&format!("tool.git/{path}"), text);
    }
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-qm", "1.6.0"]);
    git(&dir, &["tag", "tool-1.6.0"]);

    let out = dhib(&ws, &["upstream", "update", "--output", "json"], None);
    assert_eq!(out.status.code(), Some(1), "{}{}", stdout(&out), stderr(&out));
    let done: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let findings = done["guard"]["//pkgs/a:a-src"]["findings"].as_array().unwrap();
    assert!(findings.iter().any(|f| f["rule"] == "supply.not-in-vcs" && f["file"] == "build-aux/prep.sh"), "{done}");
    assert_eq!(done["warnings"], serde_json::json!([]), "{done}");
}

#[test]
fn the_record_committed_beside_the_source_reaches_the_provenance_of_a_build_with_an_empty_store() {
    let ws = common::busybox_workspace("", "\nenv \"bb\" {\n  packages = [:busybox-static]\n}\n");
    let v10: &[(&str, &str)] = &[("greeting", "hello\n")];
    let v11: &[(&str, &str)] = &[("greeting", "hello again\n")];
    let old = tarball("a-1.0", v10);
    ws.write_bytes("dist/a-1.0.tar.gz", &old);
    ws.write_bytes("dist/a-1.1.tar.gz", &tarball("a-1.1", v11));
    release_repo(&ws, &[("v1.0", v10), ("v1.1", v11)]);
    ws.write(
        "pkgs/a/BUILD.dhi",
        &format!(
            "source \"a-src\" {{\n  version = \"1.0\"\n  url = \"file://dist/a-{{version}}.tar.gz\"\n  sha256 = \"{}\"\n  strip_prefix = \"a-{{version}}\"\n  \
             upstream = git_tags(\"file://repo\", pattern = \"v{{version}}\")\n}}\n\n\
             package \"a\" {{\n  version = \"1.0\"\n  source = :a-src\n  env = //debian:bb\n  \
             build = {{ steps = [\"mkdir -p $DESTDIR/etc\", \"cp greeting $DESTDIR/etc/greeting\"] }}\n  \
             outputs {{\n    runtime = [\"etc/**\"]\n  }}\n}}\n\n\
             image \"img\" {{\n  packages = [:a, //debian:busybox-static]\n  user = 65532\n  description = \"greets\"\n  \
             skip_checks = {{ no_shell = \"busybox is the point\" }}\n}}\n",
            sha256(&old)
        ),
    );
    let update = dhib(&ws, &["upstream", "update", "//pkgs/a:a-src"], None);
    assert!(update.status.success(), "{}{}", stdout(&update), stderr(&update));
    let record = std::fs::read(ws.path().join("pkgs/a/a-src.guard.json")).unwrap();

    // Another machine: the workspace as committed, a store that never saw the update.
    std::fs::remove_dir_all(ws.path().join(".dhib")).unwrap();
    let built = dhib(&ws, &["build", "//..."], None);
    assert!(built.status.success(), "{}", stderr(&built));
    let statement: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ws.path().join("dhib-out/pkgs/a/img.attestations/provenance.intoto.json")).unwrap()).unwrap();
    let guardrail = &statement["predicate"]["buildDefinition"]["internalParameters"]["guardrail"];
    assert_eq!(guardrail[0]["record"]["to"], "1.1", "{statement}");
    assert_eq!(guardrail[0]["record"]["vcs"], "v1.1 of file://repo");
    assert_eq!(guardrail[0]["digest"]["sha256"], sha256(&record));

    // A pin moved by hand past the record: the record is not claimed for it.
    let text = std::fs::read_to_string(ws.path().join("pkgs/a/BUILD.dhi")).unwrap();
    ws.write("pkgs/a/BUILD.dhi", &text.replace("\"1.1\"", "\"1.0\"").replace(&sha256(&tarball("a-1.1", v11)), &sha256(&old)));
    let built = dhib(&ws, &["build", "//..."], None);
    assert!(built.status.success(), "{}", stderr(&built));
    let statement: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ws.path().join("dhib-out/pkgs/a/img.attestations/provenance.intoto.json")).unwrap()).unwrap();
    assert!(statement["predicate"]["buildDefinition"]["internalParameters"]["guardrail"].is_null(), "{statement}");
}
