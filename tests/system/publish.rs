//! `dhib publish` against Debian's real docker-registry on loopback, and
//! against a scripted registry for retries, Bearer tokens and bad targets.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use crate::common;
use common::registry::{http_get, Registry};
use common::{busybox_workspace, sha256, Ws};

fn dhib(dir: &Path, args: &[&str]) -> Output {
    common::dhib().arg("-C").arg(dir).args(args).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn write(dir: &Path, rel: &str, bytes: &[u8]) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
}

/// A workspace with two images from the real busybox .deb, in two
/// directories so they go to two repositories sharing a layer.
fn image_workspace() -> Ws {
    let ws = busybox_workspace("", "");
    ws.add_fixture(
        r#"//- images/BUILD.dhi
image "bb" {
  base = scratch
  packages = [//debian:busybox-static]
  user = 65532
  entrypoint = ["/bin/busybox"]
  description = "busybox"
  skip_checks = { no_shell = "busybox is the point" }
}
//- apps/BUILD.dhi
image "app" {
  base = //images:bb
  env = { MODE = "app" }
  cmd = ["echo", "hi"]
  description = "app"
  skip_checks = { no_shell = "busybox is the point" }
}
"#,
    );
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
    let layout = out.join("images/x");
    let layer = blob(&layout, "application/vnd.oci.image.layer.v1.tar+gzip", b"not really a tar, the registry does not look");
    let config = blob(
        &layout,
        "application/vnd.oci.image.config.v1+json",
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#,
    );
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": config,
        "layers": [layer],
    });
    let mut manifest = json_blob(&layout, MANIFEST, &manifest);
    manifest["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": "x"});
    write(&layout, "index.json", &serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": [manifest]})).unwrap());
    write(&layout, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    let digest = manifest["digest"].as_str().unwrap().to_string();
    let index = serde_json::json!({"images": {"//images:x": {"layout": "images/x", "manifest": digest}}});
    write(&out, "index.json", &serde_json::to_vec(&index).unwrap());
    (ws, digest)
}

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// Writes `bytes` into the layout's blobs; returns their descriptor.
fn blob(layout: &Path, media_type: &str, bytes: &[u8]) -> serde_json::Value {
    let d = sha256(bytes);
    write(layout, &format!("blobs/sha256/{d}"), bytes);
    serde_json::json!({"mediaType": media_type, "digest": format!("sha256:{d}"), "size": bytes.len()})
}

fn json_blob(layout: &Path, media_type: &str, value: &serde_json::Value) -> serde_json::Value {
    blob(layout, media_type, &serde_json::to_vec(value).unwrap())
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
    let out = common::dhib()
        .arg("-C")
        .arg(ws.path())
        .args(["publish", "//images:x", "--registry", &format!("127.0.0.1:{port}/ns"), "--insecure", "--tag", "v1"])
        .env("DOCKER_CONFIG", docker.path())
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
    let raw = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false", &format!("docker://{host}/vendor/agent:1")])
        .output()
        .unwrap();
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
        common::dhib()
            .arg("-C")
            .arg(ws.path())
            .args(["run", "//custom:with-agent"])
            .env("DHIB_INSECURE_REGISTRIES", insecure)
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

/// Adds to the layout what signing its image leaves next to it: cosign's
/// signature tagged `sha256-<hex>.sig`, an OCI 1.1 artifact of
/// `artifact_type` whose subject is the image, and the referrers fallback
/// index tagged `sha256-<hex>` listing it. Returns the artifact's digest.
fn sign_layout(layout: &Path, artifact_type: &str) -> String {
    let index_path = layout.join("index.json");
    let mut index: serde_json::Value = serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    let mut image = index["manifests"][0].clone();
    image.as_object_mut().unwrap().remove("annotations");
    let fallback = image["digest"].as_str().unwrap().replace(':', "-");
    let tagged = |mut descriptor: serde_json::Value, tag: &str| {
        descriptor["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": tag});
        descriptor
    };

    let payload = serde_json::json!({"critical": {
        "identity": {"docker-reference": "127.0.0.1/ns/images"},
        "image": {"docker-manifest-digest": image["digest"]},
        "type": "cosign container image signature"}, "optional": null});
    let mut payload = json_blob(layout, "application/vnd.dev.cosign.simplesigning.v1+json", &payload);
    payload["annotations"] = serde_json::json!({"dev.cosignproject.cosign/signature": "bm90IGEgcmVhbCBzaWduYXR1cmU="});
    let config = serde_json::json!({"architecture": "", "os": "", "rootfs": {"type": "layers", "diff_ids": [payload["digest"]]}});
    let config = json_blob(layout, "application/vnd.oci.image.config.v1+json", &config);
    let signature = serde_json::json!({"schemaVersion": 2, "mediaType": MANIFEST, "config": config, "layers": [payload]});
    let signature = json_blob(layout, MANIFEST, &signature);

    let empty = blob(layout, "application/vnd.oci.empty.v1+json", b"{}");
    assert_eq!(empty["digest"], "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
    let envelope = serde_json::json!({"payload": "e30=", "payloadType": "application/vnd.in-toto+json", "signatures": []});
    let envelope = json_blob(layout, "application/vnd.dsse.envelope.v1+json", &envelope);
    let annotations = serde_json::json!({"org.opencontainers.image.created": "2024-01-01T00:00:00Z"});
    let artifact = serde_json::json!({"schemaVersion": 2, "mediaType": MANIFEST, "artifactType": artifact_type,
        "config": empty, "layers": [envelope], "subject": image, "annotations": annotations});
    let artifact = json_blob(layout, MANIFEST, &artifact);
    let mut listed = artifact.clone();
    listed["artifactType"] = artifact_type.into();
    listed["annotations"] = annotations;
    let referrers = json_blob(layout, INDEX, &serde_json::json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": [listed]}));

    let manifests = index["manifests"].as_array_mut().unwrap();
    manifests.push(tagged(signature, &format!("{fallback}.sig")));
    manifests.push(artifact.clone());
    manifests.push(tagged(referrers, &fallback));
    std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
    artifact["digest"].as_str().unwrap().to_string()
}

/// The `pushed` event of a `--output json` publish.
fn pushed_event(out: &Output) -> serde_json::Value {
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let line = stdout.lines().find(|l| l.contains("\"pushed\"")).unwrap_or_else(|| panic!("no pushed event in {stdout}"));
    serde_json::from_str(line).unwrap()
}

/// The digests an image index lists, and their artifact types.
fn listed(index: &[u8]) -> Vec<(String, String)> {
    let index: serde_json::Value = serde_json::from_slice(index).unwrap_or_else(|_| panic!("not JSON: {}", text(index)));
    assert_eq!(index["mediaType"], INDEX);
    let entries = index["manifests"].as_array().unwrap().iter();
    entries.map(|m| (m["digest"].as_str().unwrap().to_string(), m["artifactType"].as_str().unwrap_or("").to_string())).collect()
}

/// Pulls the image with its signature and referrers back, checks the layout
/// with the independent OCI schema checker (and, when it is pulled by `tag`,
/// the cosign and referrers structure checker), and returns its index.json.
fn pull_and_check(reference: &str, tag: Option<&str>, host: &str, image: &str) -> serde_json::Value {
    let pulled = tempfile::tempdir().unwrap();
    let digest = dhib::oci::registry::pull_signed_layout(reference, &[host.to_string()], pulled.path()).unwrap();
    assert_eq!(format!("sha256:{digest}"), image);
    let repo = env!("CARGO_MANIFEST_DIR");
    let schema = Command::new(format!("{repo}/.venv/bin/python"))
        .arg(format!("{repo}/tests/conformance/oci_schema_check.py"))
        .arg(format!("{repo}/tests/conformance/schemas/oci-image-spec-1.1"))
        .arg(pulled.path())
        .output()
        .unwrap();
    assert!(schema.status.success(), "{}{}", text(&schema.stdout), text(&schema.stderr));
    if let Some(tag) = tag {
        let envelopes = tempfile::tempdir().unwrap();
        let refs = Command::new(format!("{repo}/.venv/bin/python"))
            .arg(format!("{repo}/tests/conformance/layout_refs.py"))
            .arg(pulled.path())
            .arg(tag)
            .arg(envelopes.path())
            .output()
            .unwrap();
        assert!(refs.status.success(), "{}{}", text(&refs.stdout), text(&refs.stderr));
    }
    serde_json::from_slice(&std::fs::read(pulled.path().join("index.json")).unwrap()).unwrap()
}

/// What a layout's index.json lists: each digest with its tag ("" when untagged).
fn ref_names(index: &serde_json::Value) -> Vec<(String, String)> {
    let entries = index["manifests"].as_array().unwrap().iter();
    entries
        .map(|m| {
            let tag = m["annotations"]["org.opencontainers.image.ref.name"].as_str().unwrap_or("");
            (m["digest"].as_str().unwrap().to_string(), tag.to_string())
        })
        .collect()
}

#[test]
fn without_a_referrers_api_the_referrers_go_to_the_fallback_tag_and_merge() {
    let registry = Registry::start();
    let host = format!("127.0.0.1:{}", registry.port);
    let publish = |ws: &Path| dhib(ws, &["publish", "//images:x", "--registry", &format!("{host}/ns"), "--insecure", "--output", "json"]);
    let (ws, image) = layout_workspace();
    let sbom = sign_layout(&ws.path().join("dhib-out/images/x"), "application/spdx+json");
    let fallback = image.replace(':', "-");

    let event = pushed_event(&publish(ws.path()));
    assert_eq!((event["referrers"].as_u64(), event["referrers_via"].as_str()), (Some(1), Some("tag fallback")), "{event}");
    assert_eq!(event["tags"], serde_json::json!([format!("{fallback}.sig")]));
    let manifests = format!("http://{host}/v2/ns/images/manifests");
    let (status, index) = http_get(&format!("{manifests}/{fallback}"), INDEX);
    assert_eq!(status, 200, "{}", text(&index));
    assert_eq!(listed(&index), [(sbom.clone(), "application/spdx+json".to_string())]);
    assert_eq!(http_get(&format!("{manifests}/{fallback}.sig"), MANIFEST).0, 200);
    assert_eq!(http_get(&format!("http://{host}/v2/ns/images/referrers/{image}"), INDEX).0, 404, "docker-registry has no referrers API");

    // Another build of the same image, with another referrer: both are listed.
    let (ws2, image2) = layout_workspace();
    assert_eq!(image2, image);
    let vex = sign_layout(&ws2.path().join("dhib-out/images/x"), "application/openvex+json");
    let event = pushed_event(&publish(ws2.path()));
    assert_eq!(event["referrers_via"], "tag fallback");
    let (_, index) = http_get(&format!("{manifests}/{fallback}"), INDEX);
    let both = [(sbom.clone(), "application/spdx+json".to_string()), (vex.clone(), "application/openvex+json".to_string())];
    assert_eq!(listed(&index), both);
    // Publishing again adds nothing.
    pushed_event(&publish(ws2.path()));
    assert_eq!(listed(&http_get(&format!("{manifests}/{fallback}"), INDEX).1), both);

    let pulled = pull_and_check(&format!("{host}/ns/images:x"), Some("x"), &host, &image);
    let names = ref_names(&pulled);
    for want in [(image.clone(), "x".to_string()), (sbom, String::new()), (vex, String::new())] {
        assert!(names.contains(&want), "{want:?} in {names:?}");
    }
    assert!(names.iter().any(|(_, tag)| *tag == format!("{fallback}.sig")), "{names:?}");
    assert!(names.iter().any(|(_, tag)| *tag == fallback), "{names:?}");
}

#[test]
fn with_a_referrers_api_the_registry_lists_the_referrers_itself() {
    let registry = Registry::start_ferro();
    let host = format!("127.0.0.1:{}", registry.port);
    let (ws, image) = layout_workspace();
    let sbom = sign_layout(&ws.path().join("dhib-out/images/x"), "application/spdx+json");
    let fallback = image.replace(':', "-");

    let out = dhib(ws.path(), &["publish", "//images:x", "--registry", &format!("{host}/ns"), "--insecure"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let line = format!("pushed //images:x as {host}/ns/images:x@{image}, 1 referrers (referrers API), {fallback}.sig");
    assert!(stdout.contains(&line), "{stdout}");
    let (status, index) = http_get(&format!("http://{host}/v2/ns/images/referrers/{image}"), INDEX);
    assert_eq!(status, 200, "{}", text(&index));
    assert_eq!(listed(&index), [(sbom.clone(), "application/spdx+json".to_string())]);
    let manifests = format!("http://{host}/v2/ns/images/manifests");
    assert_eq!(http_get(&format!("{manifests}/{fallback}"), INDEX).0, 404, "no fallback tag next to the API");
    assert_eq!(http_get(&format!("{manifests}/{fallback}.sig"), MANIFEST).0, 200);

    let pulled = pull_and_check(&format!("{host}/ns/images@{image}"), None, &host, &image);
    let names = ref_names(&pulled);
    assert!(names.contains(&(sbom, String::new())), "{names:?}");
    assert!(names.iter().any(|(_, tag)| *tag == format!("{fallback}.sig")), "{names:?}");
}

/// A plain-HTTP relay to `registry` that restarts it just before the first
/// blob upload's PUT reaches it, as an operator might mid-push. One request
/// per connection (answers say `Connection: close`).
fn restarting_relay(registry: Arc<Mutex<Registry>>) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let restarted = Arc::new(std::sync::atomic::AtomicBool::new(false));
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let (registry, restarted) = (registry.clone(), restarted.clone());
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut head = Vec::new();
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 2 {
                    head.push(line.trim_end().to_string());
                    line.clear();
                }
                let Some(request) = head.first().cloned() else { return };
                let header = |name: &str| {
                    head.iter()
                        .skip(1)
                        .find_map(|h| h.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim().to_string()))
                };
                let mut body = Vec::new();
                if let Some(n) = header("content-length") {
                    body.resize(n.parse().unwrap(), 0);
                    reader.read_exact(&mut body).unwrap();
                } else if header("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
                    loop {
                        let mut size = String::new();
                        reader.read_line(&mut size).unwrap();
                        let n = usize::from_str_radix(size.trim(), 16).unwrap();
                        let mut chunk = vec![0; n + 2];
                        reader.read_exact(&mut chunk).unwrap();
                        if n == 0 {
                            break;
                        }
                        body.extend_from_slice(&chunk[..n]);
                    }
                }
                if request.starts_with("PUT ")
                    && request.contains("/blobs/uploads/")
                    && !restarted.swap(true, std::sync::atomic::Ordering::SeqCst)
                {
                    registry.lock().unwrap().restart();
                }
                let upstream_port = registry.lock().unwrap().port;
                let mut upstream = std::net::TcpStream::connect(("127.0.0.1", upstream_port)).unwrap();
                let mut out = format!("{request}\r\n");
                for h in head.iter().skip(1) {
                    let name = h.split(':').next().unwrap_or("").to_ascii_lowercase();
                    if !["content-length", "transfer-encoding", "connection"].contains(&name.as_str()) {
                        out += &format!("{h}\r\n");
                    }
                }
                out += &format!("content-length: {}\r\nconnection: close\r\n\r\n", body.len());
                upstream.write_all(out.as_bytes()).unwrap();
                upstream.write_all(&body).unwrap();
                let mut answer = Vec::new();
                let _ = upstream.read_to_end(&mut answer);
                let split = answer.windows(4).position(|w| w == b"\r\n\r\n").map_or(answer.len(), |i| i + 4);
                let (head, rest) = answer.split_at(split);
                let head: String = String::from_utf8_lossy(head)
                    .lines()
                    .filter(|l| !l.is_empty() && !l.to_ascii_lowercase().starts_with("connection:"))
                    .map(|l| format!("{l}\r\n"))
                    .collect();
                let mut conn = conn;
                let _ = conn.write_all(format!("{head}connection: close\r\n\r\n").as_bytes());
                let _ = conn.write_all(rest);
            });
        }
    });
    port
}

#[test]
fn a_registry_restarted_mid_push_gets_a_new_upload_session() {
    let ws = image_workspace();
    let built = dhib(ws.path(), &["build", "//images:bb"]);
    assert!(built.status.success(), "{}", text(&built.stderr));
    let registry = Arc::new(Mutex::new(Registry::start()));
    let relay = restarting_relay(registry.clone());
    let target = format!("127.0.0.1:{relay}/test");
    let out = dhib(ws.path(), &["publish", "//images:bb", "--registry", &target, "--insecure"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Everything reached the restarted registry: skopeo copies it whole.
    let port = registry.lock().unwrap().port;
    let pulled = tempfile::tempdir().unwrap();
    let copy = Command::new("skopeo")
        .args([
            "copy",
            "--src-tls-verify=false",
            &format!("docker://127.0.0.1:{port}/test/images:bb"),
            &format!("oci:{}:bb", pulled.path().display()),
        ])
        .output()
        .unwrap();
    assert!(copy.status.success(), "{}", text(&copy.stderr));
}

#[test]
fn a_server_that_accepts_and_never_answers_times_out() {
    let ws = image_workspace();
    let built = dhib(ws.path(), &["build", "//images:bb"]);
    assert!(built.status.success(), "{}", text(&built.stderr));
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let keygen = dhib(ws.path(), &["keygen", "--output", "k"]);
    assert!(keygen.status.success(), "{}", text(&keygen.stderr));
    for args in [
        vec!["publish".to_string(), "//images:bb".into(), "--registry".into(), format!("127.0.0.1:{port}/test"), "--insecure".into()],
        vec!["verify".to_string(), format!("127.0.0.1:{port}/test/images:bb"), "--insecure".into(), "--key".into(), "k.pub".into()],
    ] {
        let start = std::time::Instant::now();
        let out = common::dhib().args(&args).current_dir(ws.path()).env("DHIB_NET_TIMEOUT", "0.5").output().unwrap();
        assert!(start.elapsed() < std::time::Duration::from_secs(30), "{args:?} took {:?}", start.elapsed());
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out.stderr));
        assert!(
            text(&out.stderr).to_lowercase().contains("timeout") || text(&out.stderr).contains("timed out"),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    drop(silent);
}
