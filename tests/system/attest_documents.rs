//! The SBOM and VEX documents dhib writes, judged by third-party validators:
//! the SPDX tools, cyclonedx-python-lib's strict 1.6 schema, the OpenVEX
//! schema, and packageurl-python for every purl. Each validator is also shown
//! a broken document, so a validator that accepts anything fails the test.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use dhib::attest::sbom::{self, Contents, File, Origin, Os, Package, SbomPackage, Source, Subject};
use dhib::attest::vex::{self, Component, Declared, Status};
use serde_json::Value;
use sha1::Digest as _;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn venv(tool: &str) -> PathBuf {
    let path = root().join(".venv/bin").join(tool);
    assert!(path.exists(), "{} is missing: run scripts/test-deps.sh", path.display());
    path
}

fn run(cmd: &mut Command) -> (bool, String) {
    let Output { status, stdout, stderr } = cmd.current_dir(root()).output().unwrap();
    (status.success(), format!("{}{}", String::from_utf8_lossy(&stdout), String::from_utf8_lossy(&stderr)))
}

fn file(path: &str, content: &str) -> File {
    File {
        path: path.into(),
        sha256: hex(&sha2::Sha256::digest(content)),
        sha1: hex(&sha1::Sha1::digest(content)),
        size: content.len() as u64,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn deb(name: &str, version: &str, source: Option<&str>, license: Option<&str>, files: Vec<File>) -> Package {
    Package {
        label: format!("//examples/debian:{name}"),
        name: name.into(),
        version: version.into(),
        supplier: Some("Debian".into()),
        license: license.map(String::from),
        description: Some(format!("{name}, as Debian ships it")),
        homepage: Some("https://www.debian.org/".into()),
        cpe: None,
        origin: Origin::Deb {
            rebuilt: None,
            arch: "amd64".into(),
            source: source.map(|s| (s.to_string(), version.to_string())),
            distro: "debian-12".into(),
            download_url: format!("https://deb.debian.org/debian/pool/main/{name}_{version}_amd64.deb"),
            sha256: hex(&sha2::Sha256::digest(name)),
        },
        files,
    }
}

fn contents() -> Contents {
    let manifest = format!("sha256:{}", hex(&sha2::Sha256::digest("manifest")));
    Contents {
        subject: Subject {
            label: "//examples/images/lua:lua".into(),
            name: "lua".into(),
            manifest_digest: manifest,
            platforms: vec!["linux/amd64".into()],
            version: Some("5.4.6".into()),
            supplier: Some("dhib examples".into()),
        },
        os: Some(Os {
            id: "debian".into(),
            version: "12.13".into(),
            pretty_name: Some("Debian GNU/Linux 12 (bookworm)".into()),
            version_id: "12".into(),
        }),
        packages: vec![
            deb(
                "libc6",
                "2.36-9+deb12u4",
                Some("glibc"),
                // Not SPDX: becomes a LicenseRef with the text.
                Some("GPL-2+ and LGPL-2.1+ with GCC exception"),
                vec![file("/usr/lib/x86_64-linux-gnu/libc.so.6", "libc"), file("/usr/lib64/ld-linux-x86-64.so.2", "ld")],
            ),
            deb(
                "zlib1g",
                "1:1.2.13.dfsg-1",
                Some("zlib"),
                Some("Zlib AND LicenseRef-public-domain"),
                vec![file("/usr/lib/x86_64-linux-gnu/libz.so.1.2.13", "zlib")],
            ),
            deb("tzdata", "2024a-0+deb12u1", None, None, vec![]),
            Package {
                label: "//examples/pkgs/lua:lua".into(),
                name: "lua".into(),
                version: "5.4.6".into(),
                supplier: Some("dhib examples".into()),
                license: Some("MIT".into()),
                description: Some("Lua interpreter".into()),
                homepage: Some("https://www.lua.org/".into()),
                cpe: None,
                origin: Origin::Built {
                    source: Some(Source {
                        label: "//examples/sources:lua-src".into(),
                        url: "https://www.lua.org/ftp/lua-5.4.6.tar.gz".into(),
                        sha256: hex(&sha2::Sha256::digest("lua source")),
                        version: Some("5.4.6".into()),
                    }),
                },
                files: vec![file("/usr/bin/lua", "lua"), file("/usr/bin/luac", "luac")],
            },
            Package {
                label: "//examples/images/lua:lua".into(),
                name: "lua-image-files".into(),
                version: "5.4.6".into(),
                supplier: None,
                license: None,
                description: None,
                homepage: None,
                cpe: None,
                origin: Origin::Image,
                files: vec![file("/etc/passwd", "root:x:0:0::/root:/sbin/nologin\n"), file("/etc/ssl/certs/ca-certificates.crt", "certs")],
            },
            Package {
                label: "//examples/images:base".into(),
                name: "debian".into(),
                version: "12".into(),
                supplier: Some("Docker Official Images".into()),
                license: None,
                description: None,
                homepage: None,
                cpe: None,
                origin: Origin::Oci {
                    reference: "docker.io/library/debian:12".into(),
                    digest: format!("sha256:{}", hex(&sha2::Sha256::digest("debian:12"))),
                },
                files: vec![file("/etc/debian_version", "12.5\n")],
            },
        ],
        created: 1_717_171_717,
        tool: "dhib 0.1.0".into(),
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn edit(doc: &[u8], change: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut value: Value = serde_json::from_slice(doc).unwrap();
    change(&mut value);
    serde_json::to_vec_pretty(&value).unwrap()
}

fn pyspdxtools(path: &Path) -> (bool, String) {
    let (ok, out) = run(Command::new(venv("pyspdxtools")).arg("-i").arg(path));
    // The tool logs validation problems and exits non-zero; anything it says is a problem.
    (ok && !out.contains("invalid") && !out.contains("issues"), out)
}

fn expected_summary(c: &Contents) -> Vec<SbomPackage> {
    let mut out: Vec<SbomPackage> = c
        .packages
        .iter()
        .map(|p| SbomPackage {
            name: p.name.clone(),
            version: p.version.clone(),
            purl: Some(match p.origin {
                Origin::Image => sbom::image_purl(&c.subject),
                _ => sbom::purl(p),
            }),
            files: p.files.iter().map(|f| (f.path.clone(), f.sha256.clone())).collect(),
        })
        .collect();
    for p in &mut out {
        p.files.sort();
    }
    out.sort();
    out
}

#[test]
fn spdx_document_passes_the_spdx_tools() {
    let c = contents();
    let dir = tempfile::tempdir().unwrap();
    let doc = sbom::spdx(&c);
    let path = write(dir.path(), "sbom.spdx.json", &doc);
    let (ok, out) = pyspdxtools(&path);
    assert!(ok, "pyspdxtools rejects the SPDX document:\n{out}\n{}", String::from_utf8_lossy(&doc));

    // The verification codes, recomputed by the SPDX tools from the files each package has.
    let check = r#"
import sys
from spdx_tools.spdx.parser.parse_anything import parse_file
from spdx_tools.spdx.model import RelationshipType
from spdx_tools.spdx.spdx_element_utils import calculate_package_verification_code
doc = parse_file(sys.argv[1])
files = {f.spdx_id: f for f in doc.files}
checked = 0
for p in doc.packages:
    if not p.files_analyzed:
        continue
    mine = [files[r.related_spdx_element_id] for r in doc.relationships
            if r.spdx_element_id == p.spdx_id and r.relationship_type == RelationshipType.CONTAINS
            and r.related_spdx_element_id in files]
    want = calculate_package_verification_code(mine).value
    assert p.verification_code.value == want, (p.name, p.verification_code.value, want)
    checked += 1
print(checked)
"#;
    let (ok, out) = run(Command::new(venv("python")).args(["-c", check]).arg(&path));
    assert!(ok, "{out}");
    assert_eq!(out.trim(), "5", "every package with files has its code checked");

    assert_eq!(sbom::spdx_summary(&doc).unwrap(), expected_summary(&c));

    // The validator catches what dhib must not do: an undeclared license id,
    // a file without its SHA1, an absolute file name.
    for (what, broken) in [
        ("license", edit(&doc, |d| d["packages"][1]["licenseDeclared"] = "GPL-2+".into())),
        ("sha1", edit(&doc, |d| d["files"][0]["checksums"].as_array_mut().unwrap().retain(|c| c["algorithm"] != "SHA1"))),
        ("absolute path", edit(&doc, |d| d["files"][0]["fileName"] = "/etc/passwd".into())),
    ] {
        let path = write(dir.path(), "broken.spdx.json", &broken);
        let (ok, out) = pyspdxtools(&path);
        assert!(!ok, "pyspdxtools accepts a document with a broken {what}:\n{out}");
    }
}

#[test]
fn cyclonedx_document_passes_the_strict_schema() {
    let c = contents();
    let dir = tempfile::tempdir().unwrap();
    let doc = sbom::cyclonedx(&c);
    let path = write(dir.path(), "sbom.cdx.json", &doc);
    let validate = |path: &Path| run(Command::new(venv("python")).arg("tests/conformance/cdx_validate.py").arg(path));
    let (ok, out) = validate(&path);
    assert!(ok && out.contains("valid CycloneDX 1.6"), "{out}\n{}", String::from_utf8_lossy(&doc));
    assert_eq!(sbom::cyclonedx_summary(&doc).unwrap(), expected_summary(&c));

    // cyclonedx-python-lib reads it back too, with the image as the metadata component.
    let read = r#"
import sys
from cyclonedx.model.bom import Bom
bom = Bom.from_json(__import__("json").load(open(sys.argv[1])))
print(bom.metadata.component.name, len(bom.components), bom.serial_number.urn)
"#;
    let (ok, out) = run(Command::new(venv("python")).args(["-c", read]).arg(&path));
    assert!(ok, "{out}");
    let serial = serde_json::from_slice::<Value>(&doc).unwrap()["serialNumber"].as_str().unwrap().to_string();
    // The packages, and the operating system.
    assert_eq!(out.trim(), format!("lua {} {serial}", c.packages.len() + 1));

    let broken = edit(&doc, |d| {
        d["components"][0].as_object_mut().unwrap().remove("type");
    });
    let (ok, out) = validate(&write(dir.path(), "broken.cdx.json", &broken));
    assert!(!ok, "the CycloneDX validator accepts a component without a type:\n{out}");
}

#[test]
fn vex_document_passes_the_openvex_schema() {
    let c = contents();
    let image = sbom::image_purl(&c.subject);
    let libc = &c.packages[0];
    let declared = |vuln: &str, status: Status| Declared {
        vulnerability: vuln.into(),
        status,
        justification: None,
        impact_statement: None,
        action_statement: None,
    };
    let in_image = [Component {
        purl: sbom::purl(libc),
        label: libc.label.clone(),
        declared: vec![Declared {
            action_statement: Some("Rebuild with libc6 2.36-9+deb12u7".into()),
            ..declared("CVE-2024-2961", Status::Affected)
        }],
        where_used: "image //examples/images/lua:lua".into(),
    }];
    let not_in_image = [Component {
        purl: "pkg:deb/debian/gcc-12@12.2.0-14?arch=amd64&distro=debian-12".into(),
        label: "//examples/debian:gcc-12".into(),
        declared: vec![declared("CVE-2023-4039", Status::UnderInvestigation)],
        where_used: "build environment //toolchains:gcc".into(),
    }];
    let own =
        [Declared { justification: Some("vulnerable_code_not_in_execute_path".into()), ..declared("CVE-2024-0001", Status::NotAffected) }];
    let statements = vex::image_statements(&image, &own, &in_image, &not_in_image);
    assert_eq!(statements.len(), 3);
    for s in &statements {
        vex::validate(s).unwrap();
    }
    let digest_hex = c.subject.manifest_digest.trim_start_matches("sha256:");
    let doc = vex::document(&format!("https://dhib.dev/vex/lua-{digest_hex}"), "dhib", c.created, &statements);

    let dir = tempfile::tempdir().unwrap();
    let schema = "tests/conformance/schemas/openvex_json_schema.json";
    let check = |path: &Path| run(Command::new(venv("check-jsonschema")).args(["--schemafile", schema]).arg(path));
    let (ok, out) = check(&write(dir.path(), "vex.json", &doc));
    assert!(ok, "{out}\n{}", String::from_utf8_lossy(&doc));

    let value: Value = serde_json::from_slice(&doc).unwrap();
    let absent = value["statements"].as_array().unwrap().iter().find(|s| s["vulnerability"]["name"] == "CVE-2023-4039").unwrap();
    assert_eq!(absent["status"], "not_affected");
    assert_eq!(absent["justification"], "component_not_present");

    for (what, broken) in [
        (
            "a not_affected statement without a reason",
            edit(&doc, |d| {
                let s = d["statements"].as_array_mut().unwrap().iter_mut().find(|s| s["status"] == "not_affected").unwrap();
                let s = s.as_object_mut().unwrap();
                s.remove("justification");
                s.remove("impact_statement");
            }),
        ),
        ("an extra statement field", edit(&doc, |d| d["statements"][0]["component"] = "x".into())),
        (
            "no version",
            edit(&doc, |d| {
                d.as_object_mut().unwrap().remove("version");
            }),
        ),
    ] {
        let (ok, out) = check(&write(dir.path(), "broken-vex.json", &broken));
        assert!(!ok, "the OpenVEX schema accepts {what}:\n{out}");
    }
}

#[test]
fn purls_parse_with_packageurl_python() {
    let c = contents();
    // Every purl the SPDX document carries: the image, its packages, the source.
    let spdx: Value = serde_json::from_slice(&sbom::spdx(&c)).unwrap();
    let mut purls: Vec<String> = spdx["packages"]
        .as_array()
        .unwrap()
        .iter()
        // The operating system has none: scanners know it by its SPDXID.
        .filter_map(|p| p["externalRefs"][0]["referenceLocator"].as_str().map(str::to_string))
        .collect();
    assert_eq!(purls.len(), c.packages.len() + 2);
    let script = r#"
import json, sys
from packageurl import PackageURL
out = []
for p in json.loads(sys.argv[1]):
    try:
        out.append(PackageURL.from_string(p).to_dict())
    except ValueError as e:
        out.append({"error": str(e)})
print(json.dumps(out))
"#;
    purls.push("deb/debian/bash@1".into()); // no scheme: the parser must refuse it
    let (ok, out) = run(Command::new(venv("python")).args(["-c", script, &serde_json::to_string(&purls).unwrap()]));
    assert!(ok, "{out}");
    let parsed: Vec<Value> = serde_json::from_str(&out).unwrap();
    let by_name = |n: &str| parsed.iter().find(|p| p["name"] == n).unwrap_or_else(|| panic!("{n} in {out}"));

    let libc = by_name("libc6");
    assert_eq!((&libc["type"], &libc["namespace"], &libc["version"]), (&"deb".into(), &"debian".into(), &"2.36-9+deb12u4".into()));
    // Its source package, for advisories keyed by source.
    assert_eq!(libc["qualifiers"], serde_json::json!({"arch": "amd64", "distro": "debian-12", "upstream": "glibc"}));
    assert_eq!(by_name("zlib1g")["version"], "1:1.2.13.dfsg-1");
    assert_eq!(by_name("tzdata")["qualifiers"], serde_json::json!({"arch": "amd64", "distro": "debian-12"}));
    for name in ["lua-src", "lua"] {
        let generic = parsed.iter().find(|p| p["type"] == "generic" && p["name"] == name).unwrap();
        assert_eq!(generic["version"], "5.4.6");
        assert_eq!(generic["qualifiers"]["download_url"], "https://www.lua.org/ftp/lua-5.4.6.tar.gz");
        assert_eq!(generic["qualifiers"]["checksum"], format!("sha256:{}", hex(&sha2::Sha256::digest("lua source"))));
    }
    let debian = by_name("debian");
    assert_eq!(debian["version"], format!("sha256:{}", hex(&sha2::Sha256::digest("debian:12"))));
    assert_eq!(debian["qualifiers"], serde_json::json!({"repository_url": "docker.io/library/debian", "tag": "12"}));
    let image: Vec<&Value> = parsed.iter().filter(|p| p["type"] == "oci" && p["name"] == "lua").collect();
    assert_eq!(image.len(), 2, "the image and its own files share the image's purl");
    assert!(image.iter().all(|p| p["version"] == c.subject.manifest_digest.as_str()));
    assert!(parsed.last().unwrap()["error"].is_string(), "{out}");
}

#[test]
fn unaccounted_files_of_a_root_file_system() {
    let c = contents();
    let mut rootfs: Vec<(String, String)> = c.packages.iter().flat_map(|p| &p.files).map(|f| (f.path.clone(), f.sha256.clone())).collect();
    assert!(sbom::unaccounted(&c, &rootfs).is_empty());
    rootfs.push(("/usr/local/bin/stray".into(), hex(&sha2::Sha256::digest("stray"))));
    rootfs[0].1 = hex(&sha2::Sha256::digest("patched after install"));
    let changed = rootfs[0].0.clone();
    let mut want = vec![changed, "/usr/local/bin/stray".to_string()];
    want.sort();
    assert_eq!(sbom::unaccounted(&c, &rootfs), want);
}
