//! `dhib publish` against Debian's real docker-registry on loopback, and
//! against a scripted registry for retries, Bearer tokens and bad targets.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};

mod common;
use common::{busybox_deb, sha256};

fn dhib(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dhib")).arg("-C").arg(dir).args(args).env("NO_COLOR", "1").output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn write(dir: &Path, rel: &str, bytes: &[u8]) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
}

/// docker-registry serving on a free loopback port, killed when dropped.
struct Registry {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Registry {
    fn start() -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("reg.yml");
        let storage = dir.path().join("storage");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nstorage: {{filesystem: {{rootdirectory: {}}}, delete: {{enabled: true}}}}\nhttp: {{addr: 127.0.0.1:0}}\n",
                storage.display()
            ),
        )
        .unwrap();
        let mut child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("docker-registry is installed (scripts/setup.sh)");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let port = loop {
            let Some(Ok(line)) = lines.next() else {
                let _ = child.kill();
                panic!("docker-registry exited before listening");
            };
            if let Some(rest) = line.split("listening on 127.0.0.1:").nth(1) {
                break rest.chars().take_while(char::is_ascii_digit).collect::<String>().parse().unwrap();
            }
        };
        // Keep draining its log so it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Registry { child, port, _dir: dir }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A workspace with two images from the real busybox .deb, in two
/// directories so they go to two repositories sharing a layer.
fn image_workspace() -> tempfile::TempDir {
    let (deb_dir, deb_file, deb_sha) = busybox_deb();
    let ws = tempfile::tempdir().unwrap();
    let w = |rel: &str, s: String| write(ws.path(), rel, s.as_bytes());
    w("dhi.toml", format!("[workspace]\nname = \"t\"\n\n[debian]\nrepo = \"file://{}\"\n", deb_dir.display()));
    w(
        "debian/BUILD.dhi",
        format!(
            "deb \"busybox-static\" {{\n  version = \"1\"\n  arch = \"amd64\"\n  filename = \"{deb_file}\"\n  sha256 = \"{deb_sha}\"\n}}\n"
        ),
    );
    w(
        "images/BUILD.dhi",
        "image \"bb\" {\n  base = scratch\n  packages = [//debian:busybox-static]\n  user = 65532\n  entrypoint = [\"/bin/busybox\"]\n}\n"
            .into(),
    );
    w("apps/BUILD.dhi", "image \"app\" {\n  base = //images:bb\n  env = { MODE = \"app\" }\n  cmd = [\"echo\", \"hi\"]\n}\n".into());
    ws
}

fn local_manifest(ws: &Path, node: &str) -> String {
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(ws.join("dhib-out/index.json")).unwrap()).unwrap();
    index["images"][node]["manifest"].as_str().unwrap().to_string()
}

fn summary(out: &Output) -> serde_json::Value {
    let stdout = text(&out.stdout);
    let line = stdout.lines().find(|l| l.contains("\"summary\"")).unwrap_or_else(|| panic!("no summary in {stdout}"));
    serde_json::from_str::<serde_json::Value>(line).unwrap()["summary"].clone()
}

#[test]
fn pushes_to_a_real_registry_pulls_back_and_skips_everything_the_second_time() {
    let ws = image_workspace();
    let built = dhib(ws.path(), &["build", "//..."]);
    assert!(built.status.success(), "{}", text(&built.stderr));
    let registry = Registry::start();
    let target = format!("127.0.0.1:{}/test", registry.port);

    let first = dhib(ws.path(), &["publish", "//...", "--registry", &target, "--insecure"]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let bb = local_manifest(ws.path(), "//images:bb");
    let app = local_manifest(ws.path(), "//apps:app");
    let stdout = text(&first.stdout);
    assert!(stdout.contains(&format!("pushed //images:bb as {target}/images:bb@{bb}")), "{stdout}");
    assert!(stdout.contains(&format!("pushed //apps:app as {target}/apps:app@{app}")), "{stdout}");
    // The image pushed second mounts the layers it shares from the first one's repository.
    let stderr = text(&first.stderr);
    assert!(stderr.contains("published 2 images") && !stderr.contains(" 0 mounted"), "{stderr}");

    let pulled = tempfile::tempdir().unwrap();
    let dest = format!("oci:{}:app", pulled.path().display());
    let copy =
        Command::new("skopeo").args(["copy", "--src-tls-verify=false", &format!("docker://{target}/apps:app"), &dest]).output().unwrap();
    assert!(copy.status.success(), "{}", text(&copy.stderr));
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(pulled.path().join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"][0]["digest"], app.as_str());

    let second = dhib(ws.path(), &["publish", "//...", "--registry", &target, "--insecure", "--output", "json"]);
    assert!(second.status.success(), "{}", text(&second.stderr));
    let s = summary(&second);
    assert_eq!((s["images"].as_u64(), s["uploaded"].as_u64(), s["mounted"].as_u64()), (Some(2), Some(0), Some(0)), "{s}");
    assert!(s["skipped"].as_u64().unwrap() > 0, "{s}");
}

/// A workspace whose dhib-out holds one hand-made image layout (a config
/// and one layer), as `dhib build` writes them.
fn layout_workspace() -> (tempfile::TempDir, String) {
    let ws = tempfile::tempdir().unwrap();
    write(ws.path(), "dhi.toml", b"[workspace]\nname = \"t\"\n");
    let out = ws.path().join("dhib-out");
    let blob = |bytes: &[u8]| {
        let d = sha256(bytes);
        write(&out, &format!("images/x/blobs/sha256/{d}"), bytes);
        (format!("sha256:{d}"), bytes.len())
    };
    let (layer, layer_size) = blob(b"not really a tar, the registry does not look");
    let (config, config_size) = blob(br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer, "size": layer_size}],
    });
    let (manifest, size) = blob(&serde_json::to_vec(&manifest).unwrap());
    let layout_index = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest, "size": size,
        "annotations": {"org.opencontainers.image.ref.name": "x"}}]});
    write(&out, "images/x/index.json", &serde_json::to_vec(&layout_index).unwrap());
    write(&out, "images/x/oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    let index = serde_json::json!({"images": {"//images:x": {"layout": "images/x", "manifest": manifest}}});
    write(&out, "index.json", &serde_json::to_vec(&index).unwrap());
    (ws, manifest)
}

/// A registry that fails its first `failures` requests with 503, then asks
/// for a Bearer token from its own `/token` (given for Basic `user:pw`), has
/// every blob already, and accepts manifests. Returns its port and the
/// request lines it saw.
fn scripted_registry(failures: usize) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for (n, conn) in listener.incoming().flatten().enumerate() {
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            let (mut authorization, mut length) = (String::new(), 0usize);
            let mut line = String::new();
            while reader.read_line(&mut line).map(|n| n > 2).unwrap_or(false) {
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("authorization: ") {
                    authorization = line[line.len() - v.len()..].trim().to_string();
                }
                if let Some(v) = lower.strip_prefix("content-length: ") {
                    length = v.trim().parse().unwrap_or(0);
                }
                line.clear();
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let mut parts = request.split_whitespace();
            let (method, path) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
            log.lock().unwrap().push(format!("{method} {path}"));
            let basic = format!("Basic {}", base64_user_pw());
            let (status, headers, reply) = if n < failures {
                ("503 Service Unavailable", String::new(), String::new())
            } else if path.starts_with("/token") {
                if authorization == basic {
                    ("200 OK", String::new(), r#"{"token":"tok"}"#.to_string())
                } else {
                    ("401 Unauthorized", String::new(), String::new())
                }
            } else if authorization != "Bearer tok" {
                let challenge = format!(
                    "WWW-Authenticate: Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"scripted\",scope=\"repository:ns/images:pull,push\"\r\n"
                );
                ("401 Unauthorized", challenge, String::new())
            } else if method == "PUT" {
                ("201 Created", format!("Docker-Content-Digest: sha256:{}\r\n", sha256(&body)), String::new())
            } else {
                ("200 OK", String::new(), String::new())
            };
            let mut conn = conn;
            let _ = write!(conn, "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{reply}", reply.len());
        }
    });
    (port, seen)
}

fn base64_user_pw() -> &'static str {
    "dXNlcjpwdw==" // user:pw
}

#[test]
fn retries_server_errors_and_answers_a_bearer_challenge_with_configured_credentials() {
    let (ws, manifest) = layout_workspace();
    let (port, seen) = scripted_registry(2);
    let docker = tempfile::tempdir().unwrap();
    let config = format!(r#"{{"auths":{{"127.0.0.1:{port}":{{"auth":"{}"}}}}}}"#, base64_user_pw());
    write(docker.path(), "config.json", config.as_bytes());
    let out = Command::new(env!("CARGO_BIN_EXE_dhib"))
        .arg("-C")
        .arg(ws.path())
        .args(["publish", "//images:x", "--registry", &format!("127.0.0.1:{port}/ns"), "--insecure", "--tag", "v1"])
        .env("DOCKER_CONFIG", docker.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}\n{:?}", text(&out.stderr), seen.lock().unwrap());
    assert!(text(&out.stdout).contains(&format!("as 127.0.0.1:{port}/ns/images:v1@{manifest}")), "{}", text(&out.stdout));
    assert!(text(&out.stderr).contains("0 blobs uploaded, 0 mounted, 2 skipped"), "{}", text(&out.stderr));
    let seen = seen.lock().unwrap();
    assert_eq!(seen[..3], ["GET /v2/", "GET /v2/", "GET /v2/"], "two 503s, then the challenge: {seen:?}");
    assert!(seen.iter().any(|r| r.starts_with("GET /token?service=scripted&scope=")), "{seen:?}");
    assert!(seen.contains(&format!("PUT /v2/ns/images/manifests/{manifest}")), "{seen:?}");
    assert!(seen.contains(&"PUT /v2/ns/images/manifests/v1".to_string()), "{seen:?}");
}

#[test]
fn a_wrong_registry_is_a_clean_error() {
    let (ws, _) = layout_workspace();
    let scheme = dhib(ws.path(), &["publish", "//images:x", "--registry", "https://127.0.0.1:5000/ns"]);
    assert_eq!(scheme.status.code(), Some(1));
    assert!(text(&scheme.stderr).contains("is not a registry: no scheme is written"), "{}", text(&scheme.stderr));

    // Nothing listens on port 1: a few quick retries, then a diagnostic.
    let closed = dhib(ws.path(), &["publish", "//images:x", "--registry", "127.0.0.1:1/ns", "--insecure"]);
    assert_eq!(closed.status.code(), Some(1));
    let err = text(&closed.stderr);
    assert!(err.contains("E0704") && err.contains("GET http://127.0.0.1:1/v2/") && err.contains("is 127.0.0.1:1 a registry"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    let nothing = dhib(ws.path(), &["publish", "//other/...", "--registry", "127.0.0.1:1/ns", "--insecure"]);
    assert!(text(&nothing.stderr).contains("no built image matches `//other/...`"), "{}", text(&nothing.stderr));
}

#[test]
fn a_multi_platform_image_is_pushed_as_its_index() {
    let ws = common::multi_platform_workspace();
    let built = ws.dhib(&["build", "//images:box"]);
    assert!(built.status.success(), "{}", text(&built.stderr));
    let registry = Registry::start();
    let target = format!("127.0.0.1:{}/test", registry.port);
    let out = ws.dhib(&["publish", "//images:box", "--registry", &target, "--insecure"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let index = local_manifest(ws.path(), "//images:box");
    let reference = format!("docker://{target}/images:box");
    let raw = Command::new("skopeo").args(["inspect", "--raw", "--tls-verify=false", &reference]).output().unwrap();
    assert!(raw.status.success(), "{}", text(&raw.stderr));
    assert_eq!(format!("sha256:{}", sha256(&raw.stdout)), index, "the registry serves dhib's index, byte for byte");
    let parsed: serde_json::Value = serde_json::from_slice(&raw.stdout).unwrap();
    assert_eq!(parsed["manifests"].as_array().unwrap().len(), 2);
    for arch in ["amd64", "arm64"] {
        let pulled = tempfile::tempdir().unwrap();
        let copy = Command::new("skopeo")
            .args(["--override-arch", arch, "copy", "--src-tls-verify=false", &reference])
            .arg(format!("oci:{}:box", pulled.path().display()))
            .output()
            .unwrap();
        assert!(copy.status.success(), "{arch}: {}", text(&copy.stderr));
    }
}

#[test]
fn a_customization_pulls_layers_pinned_by_digest_from_a_registry() {
    let registry = Registry::start();
    let host = format!("127.0.0.1:{}", registry.port);
    // A vendor's agent, made by umoci and pushed by skopeo.
    let tmp = tempfile::tempdir().unwrap();
    let script = format!(
        "umoci init --layout {t}/l; umoci new --image {t}/l:1; umoci unpack --rootless --image {t}/l:1 {t}/b; \
         mkdir -p {t}/b/rootfs/opt/agent; echo 'agent 3.0' > {t}/b/rootfs/opt/agent/VERSION; umoci repack --image {t}/l:1 {t}/b; \
         skopeo copy --dest-tls-verify=false oci:{t}/l:1 docker://{host}/vendor/agent:1",
        t = tmp.path().display()
    );
    let made = Command::new("sh").args(["-ec", &script]).output().unwrap();
    assert!(made.status.success(), "{}", text(&made.stderr));
    let raw = Command::new("skopeo").args(["inspect", "--raw", "--tls-verify=false", &format!("docker://{host}/vendor/agent:1")]).output().unwrap();
    let pinned = format!("{host}/vendor/agent@sha256:{}", sha256(&raw.stdout));

    let ws = image_workspace();
    write(
        ws.path(),
        "custom/BUILD.dhi",
        format!(
            "customization \"with-agent\" {{\n  base = //images:bb\n  layers_from = [\"{pinned}\"]\n  cmd = [\"cat\", \"/opt/agent/VERSION\"]\n}}\n"
        )
        .as_bytes(),
    );
    let run = |insecure: &str| {
        Command::new(env!("CARGO_BIN_EXE_dhib"))
            .arg("-C")
            .arg(ws.path())
            .args(["run", "//custom:with-agent"])
            .env("DHIB_INSECURE_REGISTRIES", insecure)
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    };
    // The registry speaks plain http: refused unless it is named insecure.
    let refused = run("");
    assert!(!refused.status.success());
    assert!(text(&refused.stderr).contains("name it in DHIB_INSECURE_REGISTRIES"), "{}", text(&refused.stderr));
    let out = run(&host);
    assert_eq!(text(&out.stdout), "agent 3.0\n", "{}", text(&out.stderr));
}
