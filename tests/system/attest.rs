//! Tests, attestations and signatures end to end, on small images of the
//! real busybox .deb: `dhib test` and its CTRF reports, the signed layout
//! judged by independent checkers, `dhib verify` passing and naming every
//! tamper, and signed images published to registries with and without the
//! OCI 1.1 referrers API, verified from there (also by the sigstore crate,
//! as `cosign verify --key` would).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::common;
use common::registry::Registry;
use common::{copy_tree, stderr, stdout, Ws};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A signing workspace: two busybox images (`bb` with a VEX statement, a
/// command test and a file test; `other`, another image), signed with a key
/// made by `dhib keygen`.
fn signed_workspace() -> Ws {
    let ws = common::busybox_workspace("\n[sign]\nkey = \"keys/cosign.key\"\n", "");
    ws.write(
        "images/BUILD.dhi",
        r#"image "bb" {
  base = scratch
  packages = [//debian:busybox-static]
  user = 65532
  entrypoint = ["/bin/busybox"]
  description = "busybox"
  # Who supplies the image, as its SBOM's supplier (NTIA's minimum elements).
  labels = { "org.opencontainers.image.vendor" = "dhib tests" }
  skip_checks = { no_shell = "busybox is the shell this image is for" }
  vex = {
    "CVE-2022-48174" = {
      status = "not_affected",
      justification = "vulnerable_code_not_in_execute_path",
      impact = "no shell script runs in this image",
    },
  }
}

image "other" {
  base = :bb
  env = { OTHER = "1" }
  description = "another image"
  skip_checks = { no_shell = "busybox is the shell this image is for" }
}

test "bb-echo" {
  image = :bb
  run = ["/bin/busybox", "echo", "hi"]
  expect { stdout = "hi\n" }
}

test "bb-files" {
  image = :bb
  files = {
    "/bin/busybox" = { executable = true, owner = "0:0" },
    "/etc/passwd" = { exists = true },
    "/usr/bin/apt" = { exists = false },
  }
}
"#,
    );
    std::fs::create_dir_all(ws.path().join("keys")).unwrap();
    let keygen = ws.dhib(&["keygen", "--output", "keys/cosign"]);
    assert!(keygen.status.success(), "{}", stderr(&keygen));
    ws
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

fn verify(ws: &Ws, what: &str) -> (bool, String) {
    let out = ws.dhib(&["verify", what, "--key", "keys/cosign.pub"]);
    (out.status.success(), stdout(&out) + &stderr(&out))
}

fn layout(ws: &Ws, name: &str) -> PathBuf {
    ws.path().join("dhib-out/images").join(name)
}

/// Writes `bytes` as a blob of `layout` and returns its descriptor digest.
fn put_blob(layout: &Path, bytes: &[u8]) -> String {
    let hex = common::sha256(bytes);
    std::fs::write(layout.join("blobs/sha256").join(&hex), bytes).unwrap();
    format!("sha256:{hex}")
}

fn blob_path(layout: &Path, digest: &str) -> PathBuf {
    layout.join("blobs/sha256").join(digest.trim_start_matches("sha256:"))
}

/// The index.json entry tagged `tag`.
fn tagged(layout: &Path, suffix: &str) -> (Value, usize) {
    let index = read_json(&layout.join("index.json"));
    let i = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .position(|m| m["annotations"]["org.opencontainers.image.ref.name"].as_str().is_some_and(|t| t.ends_with(suffix)))
        .unwrap_or_else(|| panic!("no entry tagged *{suffix}"));
    (index, i)
}

/// Replaces layer `n` of the `.att` manifest with `envelope`, keeping every
/// blob consistent with its digest (as a forger would).
fn replace_attestation(layout: &Path, n: usize, envelope: &[u8]) {
    let (mut index, i) = tagged(layout, ".att");
    let mut manifest = read_json(&blob_path(layout, index["manifests"][i]["digest"].as_str().unwrap()));
    manifest["layers"][n]["digest"] = Value::from(put_blob(layout, envelope));
    manifest["layers"][n]["size"] = Value::from(envelope.len());
    let bytes = serde_json::to_vec(&manifest).unwrap();
    index["manifests"][i]["digest"] = Value::from(put_blob(layout, &bytes));
    index["manifests"][i]["size"] = Value::from(bytes.len());
    std::fs::write(layout.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}

/// The `.att` layers: (predicate type, envelope).
fn attestations(layout: &Path) -> Vec<(String, Value)> {
    let (index, i) = tagged(layout, ".att");
    let manifest = read_json(&blob_path(layout, index["manifests"][i]["digest"].as_str().unwrap()));
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (l["annotations"]["predicateType"].as_str().unwrap().to_string(), read_json(&blob_path(layout, l["digest"].as_str().unwrap())))
        })
        .collect()
}

#[test]
fn signed_images_pass_independent_checkers_and_verify_names_every_tamper() {
    let ws = signed_workspace();
    let built = ws.dhib(&["build", "//..."]);
    assert!(built.status.success(), "{}", stderr(&built));
    assert!(stderr(&built).contains("2 images in") && stderr(&built).contains("(signed)"), "{}", stderr(&built));

    let bb = layout(&ws, "bb");
    let docs = ws.path().join("dhib-out/images/bb.attestations");
    // The documents, by the formats' own tools.
    let envelopes = common::conformance::check_image("bb", &bb, &docs, &ws.path().join("keys/cosign.pub"));
    assert_eq!(envelopes, 5, "SPDX, CycloneDX, provenance, VEX and test report, each signed");
    let provenance = read_json(&docs.join("provenance.intoto.json"));
    let deps = provenance["predicate"]["buildDefinition"]["resolvedDependencies"].as_array().unwrap();
    assert!(deps.iter().any(|d| d["name"] == "//debian:busybox-static" && d["uri"].as_str().unwrap().ends_with(".deb")), "{provenance}");
    let vex = read_json(&docs.join("vex.openvex.json"));
    assert_eq!(vex["statements"][0]["vulnerability"]["name"], "CVE-2022-48174");

    // dhib verify passes on the image as built, by label and by layout.
    let (ok, said) = verify(&ws, "//images:bb");
    assert!(ok && said.contains("provenance matches the graph") && said.contains("SBOM matches the layers"), "{said}");
    let (ok, said) = verify(&ws, bb.to_str().unwrap());
    assert!(ok, "{said}");

    let tampered = |name: &str, change: &dyn Fn(&Path), expect: &str| {
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join(name);
        copy_tree(&bb, &copy);
        change(&copy);
        let (ok, said) = verify(&ws, copy.to_str().unwrap());
        assert!(!ok, "{name}: verify passed:\n{said}");
        assert!(said.contains(expect), "{name}: expected `{expect}` in:\n{said}");
    };
    // A byte of a layer flipped.
    tampered(
        "flipped",
        &|l| {
            let index = read_json(&l.join("index.json"));
            let manifest = read_json(&blob_path(l, index["manifests"][0]["digest"].as_str().unwrap()));
            let layer = blob_path(l, manifest["layers"][0]["digest"].as_str().unwrap());
            let mut bytes = std::fs::read(&layer).unwrap();
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0x01;
            std::fs::write(&layer, bytes).unwrap();
        },
        "does not match its digest",
    );
    // An attestation edited: the provenance claims another builder.
    tampered(
        "edited",
        &|l| {
            let atts = attestations(l);
            let n = atts.iter().position(|(t, _)| t == "https://slsa.dev/provenance/v1").unwrap();
            let mut env = atts[n].1.clone();
            use base64::Engine;
            let b64 = base64::engine::general_purpose::STANDARD;
            let mut statement: Value = serde_json::from_slice(&b64.decode(env["payload"].as_str().unwrap()).unwrap()).unwrap();
            statement["predicate"]["runDetails"]["builder"]["id"] = Value::from("https://evil.example/builder");
            env["payload"] = Value::from(b64.encode(serde_json::to_vec(&statement).unwrap()));
            replace_attestation(l, n, &serde_json::to_vec(&env).unwrap());
        },
        "the DSSE signature does not verify",
    );
    // The signature of another image swapped in.
    tampered(
        "swapped",
        &|l| {
            let other = layout(&ws, "other");
            copy_tree(&other.join("blobs"), &l.join("blobs"));
            let (theirs, j) = tagged(&other, ".sig");
            let (mut ours, i) = tagged(l, ".sig");
            let name = ours["manifests"][i]["annotations"].clone();
            ours["manifests"][i] = theirs["manifests"][j].clone();
            ours["manifests"][i]["annotations"] = name;
            std::fs::write(l.join("index.json"), serde_json::to_vec(&ours).unwrap()).unwrap();
        },
        "the signature is for another image",
    );
    // A package removed from the SBOM, and the SBOM signed again with the
    // right key: the signature holds, the content check does not.
    tampered(
        "sbom",
        &|l| {
            let atts = attestations(l);
            let n = atts.iter().position(|(t, _)| t == "https://spdx.dev/Document/v2.3").unwrap();
            use base64::Engine;
            let b64 = base64::engine::general_purpose::STANDARD;
            let mut statement: Value = serde_json::from_slice(&b64.decode(atts[n].1["payload"].as_str().unwrap()).unwrap()).unwrap();
            let packages = statement["predicate"]["packages"].as_array_mut().unwrap();
            let busybox = packages.iter().position(|p| p["name"] == "busybox-static").expect("busybox is in the SBOM");
            packages.remove(busybox);
            let pem = std::fs::read_to_string(ws.path().join("keys/cosign.key")).unwrap();
            let key = dhib::attest::keys::SigningKey::from_pem(&pem, b"").unwrap();
            let env =
                dhib::attest::dsse::Envelope::sign(dhib::attest::dsse::IN_TOTO_PAYLOAD, &serde_json::to_vec(&statement).unwrap(), &key);
            replace_attestation(l, n, &env.to_json());
        },
        "busybox-static",
    );
    // Without the signature at all.
    tampered(
        "unsigned",
        &|l| {
            let (mut index, i) = tagged(l, ".sig");
            index["manifests"].as_array_mut().unwrap().remove(i);
            std::fs::write(l.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
        },
        "no signature",
    );
    // Another key does not verify it.
    let other_key = ws.dhib(&["keygen", "--output", "keys/other"]);
    assert!(other_key.status.success(), "{}", stderr(&other_key));
    let out = ws.dhib(&["verify", "//images:bb", "--key", "keys/other.pub"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("FAIL  signature: the signature does not verify with the key"), "{}", stdout(&out));
}

#[test]
fn dhib_test_reports_in_ctrf_fails_on_a_failure_and_caches_what_passed() {
    let ws = signed_workspace();
    ws.write(
        "images/more.dhi",
        r#"test "bb-wrong" {
  image = :bb
  run = ["/bin/busybox", "sh", "-c", "echo out; echo err >&2; exit 3"]
  expect {
    stdout_regex = "^out"
    stderr = "different\n"
  }
}

image "rooted" {
  base = :bb
  user = 0
  allow_root = true
  description = "runs as root on purpose"
}
"#,
    );
    let reports = ws.path().join("reports");
    let out = ws.dhib(&["test", "//images/...", "--out", reports.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}{}", stdout(&out), stderr(&out));
    let table = stdout(&out);
    assert!(
        table.contains("failed   //images:bb-wrong: exit code 3, expected 0; stderr was \"err\\n\", expected \"different\\n\""),
        "{table}"
    );
    assert!(table.contains("passed   //images:bb-echo") && table.contains("passed   //images:bb-files"), "{table}");
    assert!(table.contains("skipped  no_shell (linux/amd64): busybox is the shell this image is for"), "{table}");
    assert!(table.contains("failed   non_root (linux/amd64): runs as root"), "{table}");
    let report = reports.join("images/bb.ctrf.json");
    let schema = Command::new(repo().join(".venv/bin/check-jsonschema"))
        .arg("--schemafile")
        .arg(repo().join("tests/conformance/schemas/ctrf.schema.json"))
        .arg(&report)
        .output()
        .unwrap();
    assert!(schema.status.success(), "{}{}", String::from_utf8_lossy(&schema.stdout), String::from_utf8_lossy(&schema.stderr));
    let ctrf = read_json(&report);
    assert_eq!(ctrf["results"]["summary"]["failed"], 1, "{ctrf}");

    // Passing tests are cached; the failing one runs again.
    let again = ws.dhib(&["test", "//images:bb", "--output", "json"]);
    let events = stdout(&again);
    assert!(events.contains("\"event\":\"cached\",\"node\":\"//images:bb-echo\""), "{events}");
    assert!(events.contains("\"event\":\"built\",\"node\":\"//images:bb-wrong\""), "{events}");
    assert!(events.contains("\"image\":\"//images:bb\"") && events.contains("\"failed\":1"), "{events}");

    // dhib build fails too, naming the test.
    let build = ws.dhib(&["build", "//images:all"]);
    assert_eq!(build.status.code(), Some(1));
    assert!(stderr(&build).contains("FAILED //images:bb-wrong"), "{}", stderr(&build));

    // Naming something that has no tests is a clear error.
    let none = ws.dhib(&["test", "//debian/..."]);
    assert_eq!(none.status.code(), Some(1));
    assert!(stderr(&none).contains("names no image, customization or test"), "{}", stderr(&none));
}

#[test]
fn signed_images_publish_with_their_referrers_and_verify_from_the_registry() {
    let ws = signed_workspace();
    let built = ws.dhib(&["build", "//images/..."]);
    assert!(built.status.success(), "{}", stderr(&built));
    let pubkey = ws.path().join("keys/cosign.pub");
    for (registry, via) in [(Registry::start(), "tag fallback"), (Registry::start_ferro(), "referrers API")] {
        let target = format!("127.0.0.1:{}/t", registry.port);
        let out = ws.dhib(&["publish", "//images:bb", "--registry", &target, "--insecure"]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(stdout(&out).contains(&format!("6 referrers ({via})")), "{}", stdout(&out));
        let reference = format!("{target}/images:bb");
        let out = ws.dhib(&["verify", &reference, "--insecure", "--key", pubkey.to_str().unwrap()]);
        assert!(out.status.success(), "{via}: {}{}", stdout(&out), stderr(&out));
        assert!(stdout(&out).contains("SBOM matches the layers"), "{}", stdout(&out));
        // Scanned from the registry: the pulled SBOM and VEX, verified.
        let db = write_busybox_record(&ws);
        let out = ws.dhib(&["scan", &reference, "--insecure", "--key", pubkey.to_str().unwrap(), "--db", &db, "--output", "json"]);
        assert!(out.status.success(), "{via}: {}", stderr(&out));
        let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
        // This `bb` has no base-files: its one deb names no Debian release.
        assert_eq!((report["packages"].as_u64(), report["unmatched"].as_u64()), (Some(1), Some(1)), "{report:#}");
        assert!(report["image"].as_str().is_some_and(|d| d.starts_with("sha256:")), "{report:#}");
        // What cosign verify --key checks, by the sigstore crate.
        let cosign = Command::new(repo().join("target/conformance/release/cosign-key-verify"))
            .arg(&pubkey)
            .arg(&reference)
            .arg("--http")
            .output()
            .expect("cosign-key-verify is built (scripts/test-deps.sh)");
        assert!(cosign.status.success(), "{via}: {}{}", String::from_utf8_lossy(&cosign.stdout), String::from_utf8_lossy(&cosign.stderr));
    }
}

/// A database of one record in the shape osv.dev gives Debian's
/// advisories, naming the CVE the `bb` image's VEX statement is about;
/// returns its directory, relative to the workspace.
fn write_busybox_record(ws: &Ws) -> String {
    ws.write(
        "osv/DEBIAN-CVE-2022-48174.json",
        r#"{"schema_version":"1.9.0","id":"DEBIAN-CVE-2022-48174","modified":"2026-05-01T00:00:00Z","upstream":["CVE-2022-48174"],
"details":"There is a stack overflow vulnerability in ash.c:6030 in busybox before 1.35.","references":[{"type":"ADVISORY","url":"https://security-tracker.debian.org/tracker/CVE-2022-48174"}],
"affected":[{"package":{"name":"busybox","ecosystem":"Debian:12"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"}]}],"ecosystem_specific":{"urgency":"unimportant"}}],
"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]}"#,
    );
    "osv".into()
}

#[test]
fn scans_read_the_signed_sbom_and_vex_attach_to_the_build_and_compare_shows_the_change() {
    let ws = signed_workspace();
    let db = write_busybox_record(&ws);
    // Without base-files no release is known, and no advisory can apply.
    let built = ws.dhib(&["build", "//images/..."]);
    assert!(built.status.success(), "{}", stderr(&built));
    let out = ws.dhib(&["scan", "//images:bb", "--db", &db]);
    let text = stdout(&out);
    assert!(text.contains("no operating system") && text.contains("warning: 1 Debian packages were not matched"), "{text}{}", stderr(&out));
    // With Debian's base-files, the image is Debian 12's.
    let (_, file, sha) = common::debian_deb("base-files");
    let debian = std::fs::read_to_string(ws.path().join("debian/BUILD.dhi")).unwrap();
    ws.write(
        "debian/BUILD.dhi",
        &format!(
            "{debian}\ndeb \"base-files\" {{\n  version = \"1\"\n  arch = \"amd64\"\n  filename = \"{file}\"\n  sha256 = \"{sha}\"\n}}\n"
        ),
    );
    let images = std::fs::read_to_string(ws.path().join("images/BUILD.dhi")).unwrap();
    ws.write("images/BUILD.dhi", &images.replacen("[//debian:busybox-static]", "[//debian:busybox-static, //debian:base-files]", 1));
    let built = ws.dhib(&["build", "//images/...", "--scan-db", &db]);
    assert!(built.status.success(), "{}", stderr(&built));

    // The build's scan: a signed attestation of its own, as of the database.
    let docs = ws.path().join("dhib-out/images/bb.attestations");
    let scan = read_json(&docs.join("scan.intoto.json"));
    assert_eq!(scan["predicateType"], dhib::scan::report::PREDICATE_TYPE);
    assert_eq!(scan["predicate"]["metadata"]["scanStartedOn"], "2026-05-01T00:00:00Z");
    assert_eq!(scan["predicate"]["scanner"]["db"]["uri"], "osv");
    let result = &scan["predicate"]["scanner"]["result"];
    assert_eq!(result["findings"][0]["vulnerability"], "CVE-2022-48174");
    assert_eq!(result["findings"][0]["suppressed"]["status"], "not_affected");
    assert!(attestations(&layout(&ws, "bb")).iter().any(|(ty, _)| ty == dhib::scan::report::PREDICATE_TYPE));
    let (ok, text) = verify(&ws, "//images:bb");
    assert!(ok, "the scan is among the documents, each as signed: {text}");

    // `dhib scan` of the label, the layout, with and without the image's VEX.
    let pubkey = ws.path().join("keys/cosign.pub");
    let bb = layout(&ws, "bb");
    for target in ["//images:bb", bb.to_str().unwrap()] {
        let out = ws.dhib(&["scan", target, "--db", &db, "--key", pubkey.to_str().unwrap()]);
        assert!(out.status.success(), "{target}: {}", stderr(&out));
        let text = stdout(&out);
        assert!(text.contains("debian 12") && text.contains("CRITICAL 0") && text.contains("1 suppressed by VEX"), "{target}: {text}");
        let shown = stdout(&ws.dhib(&["scan", target, "--db", &db, "--show-suppressed", "--key", pubkey.to_str().unwrap()]));
        let row = shown.lines().find(|l| l.contains("CVE-2022-48174")).unwrap_or_else(|| panic!("{shown}"));
        assert!(row.contains("busybox-static") && row.contains("vulnerable_code_not_in_execute_path"), "{row}");
    }
    // Another key: nothing is read that its signer does not vouch for.
    std::fs::create_dir_all(ws.path().join("other-keys")).unwrap();
    assert!(ws.dhib(&["keygen", "--output", "other-keys/cosign"]).status.success());
    let out = ws.dhib(&["scan", "//images:bb", "--db", &db, "--key", "other-keys/cosign.pub"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("E1003") && stdout(&out).is_empty(), "{}", stderr(&out));

    // `other` is `bb` with one more variable: the same packages, the env added.
    let out = ws.dhib(&["compare", "//images:other", "//images:bb", "--db", &db, "--output", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let c: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let out_index = read_json(&ws.path().join("dhib-out/index.json"));
    assert_eq!(c["analyzed"]["digest"], out_index["images"]["//images:other"]["manifest"]);
    assert_eq!(c["baseline"]["digest"], out_index["images"]["//images:bb"]["manifest"]);
    assert_eq!(c["analyzed"]["platforms"], serde_json::json!(["linux/amd64"]));
    assert_eq!(c["analyzed"]["source"], "//images:other");
    assert_eq!(c["analyzed"]["packages"], c["baseline"]["packages"]);
    let env: Vec<(&str, &str)> =
        c["env"].as_array().unwrap().iter().map(|e| (e["key"].as_str().unwrap(), e["change"].as_str().unwrap())).collect();
    assert!(env.contains(&("OTHER", "added")), "{c:#}");
    let text = stdout(&ws.dhib(&["compare", "//images:other", "//images:bb", "--ignore-unchanged"]));
    assert!(text.contains("+ OTHER=1") && text.contains("## Packages and vulnerabilities\n\n  no change"), "{text}");
}
