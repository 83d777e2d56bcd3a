//! `dhib scan` on SBOM files, against OSV records made from the facts of
//! real ones (tests/scan/osv/): Debian's advisories by source package and
//! release, NVD's by CPE, VEX applied, every output format, CI exit codes;
//! and Debian's version order against dpkg's own.

use std::path::PathBuf;
use std::process::Output;

use serde_json::Value;

use crate::common::{dhib, stderr, stdout};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scan")
}

fn scan(args: &[&str]) -> Output {
    dhib().arg("scan").args(args).current_dir(fixtures()).output().unwrap()
}

fn json(out: &Output) -> Value {
    serde_json::from_str(&stdout(out)).unwrap_or_else(|e| panic!("{e}: {}{}", stdout(out), stderr(out)))
}

/// (vulnerability, package, suppressed) of each finding.
fn findings(report: &Value) -> Vec<(String, String, bool)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["vulnerability"].as_str().unwrap().into(), f["package"].as_str().unwrap().into(), f.get("suppressed").is_some()))
        .collect()
}

fn finding<'a>(report: &'a Value, vulnerability: &str, package: &str) -> &'a Value {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["vulnerability"] == vulnerability && f["package"] == package)
        .unwrap_or_else(|| panic!("no {vulnerability} in {package}: {report:#}"))
}

#[test]
fn debian_advisories_match_by_source_package_and_release_and_nvd_by_cpe() {
    let out = scan(&["bookworm.cdx.json", "--db", "osv", "--output", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["os"], "debian 12.15");
    assert_eq!(report["packages"], 3);
    assert_eq!(
        findings(&report),
        [
            ("CVE-2023-45853".into(), "zlib".into(), false),
            ("CVE-2023-45853".into(), "zlib1g".into(), false),
            ("CVE-2023-4911".into(), "libc6".into(), false),
        ]
    );
    // Debian 12's record is open (no fix in bookworm): reported for the
    // binary zlib1g by its source zlib, at NVD's 9.8.
    let zlib1g = finding(&report, "CVE-2023-45853", "zlib1g");
    assert_eq!(zlib1g["records"], serde_json::json!(["DEBIAN-CVE-2023-45853"]));
    assert_eq!(zlib1g["severity"], "CRITICAL");
    assert_eq!(zlib1g["score"], 9.8);
    assert_eq!(zlib1g["matched_by"], "Debian:12 source zlib 1:1.2.13.dfsg-1");
    assert!(zlib1g.get("fixed_in").is_none(), "{zlib1g}");
    // From-source zlib 1.2.13 by its CPE: NVD's CVE-2023-45853 (fixed in
    // 1.3.1) applies; CVE-2022-37434 (fixed in 1.2.13) does not.
    let zlib = finding(&report, "CVE-2023-45853", "zlib");
    assert_eq!(zlib["records"], serde_json::json!(["CVE-2023-45853"]));
    assert_eq!(zlib["fixed_in"], "1.3.1");
    // glibc 2.36-9+deb12u2 is before DSA-5514-1's 2.36-9+deb12u3.
    let libc = finding(&report, "CVE-2023-4911", "libc6");
    assert_eq!(libc["fixed_in"], "2.36-9+deb12u3");
    assert_eq!(libc["records"], serde_json::json!(["DSA-5514-1"]));
    // The database: its digest, its newest record's time, its age.
    assert_eq!(report["database"]["records"], 5);
    assert_eq!(report["database"]["as_of"], "2026-08-27T23:04:23Z");
    assert!(report["database"]["digest"].as_str().unwrap().starts_with("sha256:"));
    assert!(report["database"]["age_days"].as_u64().is_some());
}

#[test]
fn a_record_of_another_release_does_not_apply() {
    let dir = tempfile::tempdir().unwrap();
    let sbom = std::fs::read_to_string(fixtures().join("bookworm.cdx.json")).unwrap();
    // The version Debian 13 fixed CVE-2023-45853 in: fixed in trixie, still
    // open in bookworm, where the same version is reported.
    let with = |os: &str| {
        sbom.replace("\"12.15\"", &format!("\"{os}\""))
            .replace("1:1.2.13.dfsg-1", "1:1.3.dfsg-2")
            .replace("\"1.2.13.dfsg\"", "\"1.3.dfsg\"")
            .replace("SrcRelease\", \"value\": \"1\"", "SrcRelease\", \"value\": \"2\"")
    };
    for (os, reported) in [("13.2", false), ("12.15", true)] {
        let path = dir.path().join(format!("debian-{os}.cdx.json"));
        std::fs::write(&path, with(os)).unwrap();
        let report = json(&scan(&[path.to_str().unwrap(), "--db", "osv", "--output", "json"]));
        let hit = findings(&report).iter().any(|(v, p, _)| v == "CVE-2023-45853" && p == "zlib1g");
        assert_eq!(hit, reported, "debian {os}: {report:#}");
    }
}

#[test]
fn vex_suppresses_and_fail_on_gates_ci() {
    let out = scan(&["bookworm.cdx.json", "--db", "osv", "--fail-on", "critical"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("CRITICAL 2  HIGH 0"), "{}", stdout(&out));
    assert!(stderr(&out).contains("--fail-on"), "{}", stderr(&out));

    let vexed = ["bookworm.cdx.json", "--db", "osv", "--vex", "zlib-minizip.openvex.json"];
    let out = scan(&[&vexed[..], &["--fail-on", "critical"]].concat());
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("CRITICAL 0") && text.contains("2 suppressed by VEX (--show-suppressed lists them)"), "{text}");
    assert!(!text.contains("CVE-2023-45853"), "{text}");
    // Unknown severity (the DSA has none) is below every threshold but its own.
    assert_eq!(scan(&[&vexed[..], &["--fail-on", "low"]].concat()).status.code(), Some(0));
    assert_eq!(scan(&[&vexed[..], &["--fail-on", "unknown"]].concat()).status.code(), Some(1));

    let shown = stdout(&scan(&[&vexed[..], &["--show-suppressed"]].concat()));
    let row = shown.lines().find(|l| l.contains("CVE-2023-45853") && l.contains("zlib1g")).unwrap_or_else(|| panic!("{shown}"));
    assert!(row.starts_with("(not_affected)") && row.ends_with("vulnerable_code_not_present"), "{row}");
    let report = json(&scan(&[&vexed[..], &["--output", "json"]].concat()));
    let s = &finding(&report, "CVE-2023-45853", "zlib1g")["suppressed"];
    assert_eq!(s["status"], "not_affected");
    assert_eq!(s["document"], "https://example.com/vex/zlib-minizip");
    assert_eq!(report["suppressed"], 2);
}

#[test]
fn an_osv_all_zip_reads_as_its_directory() {
    let dir = tempfile::tempdir().unwrap();
    let zip_path = dir.path().join("all.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
    let mut names: Vec<_> = std::fs::read_dir(fixtures().join("osv")).unwrap().map(|e| e.unwrap().path()).collect();
    names.sort();
    for path in &names {
        zip.start_file(path.file_name().unwrap().to_str().unwrap(), zip::write::SimpleFileOptions::default()).unwrap();
        std::io::Write::write_all(&mut zip, &std::fs::read(path).unwrap()).unwrap();
    }
    zip.finish().unwrap();
    let from_zip = json(&scan(&["bookworm.cdx.json", "--db", zip_path.to_str().unwrap(), "--output", "json"]));
    let from_dir = json(&scan(&["bookworm.cdx.json", "--db", "osv", "--output", "json"]));
    assert_eq!(from_zip["findings"], from_dir["findings"]);
    let sha = format!("sha256:{}", crate::common::sha256(&std::fs::read(&zip_path).unwrap()));
    assert_eq!(from_zip["database"]["digest"], sha.as_str(), "the zip's digest is the file's");
}

#[test]
fn sarif_is_what_code_scanning_takes() {
    let out = scan(&["bookworm.cdx.json", "--db", "osv", "--vex", "zlib-minizip.openvex.json", "--output", "sarif"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let sarif = json(&out);
    assert_eq!(sarif["version"], "2.1.0");
    let run = &sarif["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "dhib");
    let rules: Vec<&str> = run["tool"]["driver"]["rules"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(rules, ["CVE-2023-45853", "CVE-2023-4911"]);
    for rule in run["tool"]["driver"]["rules"].as_array().unwrap() {
        let score: f64 = rule["properties"]["security-severity"].as_str().unwrap().parse().unwrap();
        assert!((0.0..=10.0).contains(&score), "{rule}");
        assert!(
            rule["shortDescription"]["text"].is_string() && rule["fullDescription"]["text"].is_string() && rule["help"]["text"].is_string()
        );
    }
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    for r in results {
        assert!(rules.contains(&r["ruleId"].as_str().unwrap()), "{r}");
        assert!(["error", "warning", "note"].contains(&r["level"].as_str().unwrap()), "{r}");
        assert!(!r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].as_str().unwrap().is_empty(), "{r}");
    }
    let suppressed = results.iter().filter(|r| r.get("suppressions").is_some()).count();
    assert_eq!(suppressed, 2, "VEX-suppressed results carry SARIF suppressions");
}

#[test]
fn bad_inputs_are_named_with_their_codes() {
    let cases: [(&[&str], &str, &str); 4] = [
        (&["bookworm.cdx.json", "--db", "no-such.zip"], "E1001", "no-such.zip"),
        (&["zlib-minizip.openvex.json", "--db", "osv"], "E1002", "not a CycloneDX or SPDX"),
        (&["bookworm.cdx.json", "--db", "osv", "--vex", "bookworm.cdx.json"], "E1004", "not an OpenVEX document"),
        (&["bookworm.cdx.json", "--db", "osv/DSA-5514-1.json"], "E1001", "DSA-5514-1.json"),
    ];
    for (args, code, text) in cases {
        let out = scan(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = stderr(&out);
        assert!(err.contains(code) && err.contains(text), "{args:?}: {err}");
        assert!(stdout(&out).is_empty(), "{args:?}: nothing on stdout: {}", stdout(&out));
    }
    let out = scan(&["bookworm.cdx.json", "--db", "osv", "--fail-on", "severe"]);
    assert_eq!(out.status.code(), Some(2), "clap refuses an unknown severity");
    assert!(stderr(&out).contains("critical, high, medium, low or unknown"), "{}", stderr(&out));
    // verify checks images, and says so of a file.
    let out = dhib().args(["verify", "bookworm.cdx.json", "--key", "bookworm.cdx.json"]).current_dir(fixtures()).output().unwrap();
    assert!(stderr(&out).contains("E1005"), "{}", stderr(&out));
}

/// Pairs dpkg orders: epochs, `~` before everything (even the end),
/// letters before other characters, numeric runs by value, revisions, binNMUs.
const VERSIONS: &[&str] = &[
    "0",
    "1.0~rc1",
    "1.0~rc1-1",
    "1.0",
    "1.0-0.1",
    "1.0-1",
    "1.0-1+b1",
    "1.0-1+deb12u1",
    "1.0-1.1",
    "1.0-2~bpo11+1",
    "1.0-2",
    "1.0-10",
    "1.0a",
    "1.0+dfsg",
    "1.0.1",
    "1.2.11.dfsg-4.1",
    "1.2.13.dfsg-1",
    "1.3.dfsg-2",
    "2.36-9",
    "2.36-9+deb12u2",
    "2.36-9+deb12u3",
    "2.36-9+deb12u14",
    "1:0.9",
    "1:1.2.11.dfsg-2+deb11u2",
    "1:1.2.13.dfsg-1",
    "1:1.35.0-4+b3",
    "1:1.35.0-4+deb12u1+b1",
    "2:0",
    "10",
    "1~~",
    "1~~a",
    "1~",
    "1",
    "1+",
    "1a",
    "0001.2",
    "1.2",
];

#[test]
fn debian_version_order_is_dpkgs() {
    if std::process::Command::new("dpkg").arg("--version").output().is_err() {
        panic!("dpkg is needed: this test checks dhib's version order against it");
    }
    let dpkg =
        |a: &str, op: &str, b: &str| std::process::Command::new("dpkg").args(["--compare-versions", a, op, b]).status().unwrap().success();
    let mut disagreements = Vec::new();
    for a in VERSIONS {
        for b in VERSIONS {
            let ours = dhib::scan::version::compare(a, b);
            let theirs = if dpkg(a, "lt", b) {
                std::cmp::Ordering::Less
            } else if dpkg(a, "eq", b) {
                std::cmp::Ordering::Equal
            } else {
                std::cmp::Ordering::Greater
            };
            if ours != theirs {
                disagreements.push(format!("{a} vs {b}: dhib {ours:?}, dpkg {theirs:?}"));
            }
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}
