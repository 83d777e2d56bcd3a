//! The documents checked field by field; the independent validators run in
//! the integration tests.

use super::spdx::*;
use super::*;
use dhib_core::hex;
use serde_json::json;
use sha1::Sha1;

fn file(path: &str, content: &str) -> File {
    File {
        path: path.into(),
        sha256: sha256_hex(content.as_bytes()),
        sha1: hex(&Sha1::digest(content.as_bytes())),
        size: content.len() as u64,
    }
}

fn deb(name: &str, version: &str, source: Option<&str>) -> Package {
    Package {
        label: format!("//examples/debian:{name}"),
        name: name.into(),
        version: version.into(),
        supplier: Some("Debian".into()),
        license: Some("GPL-2.0-or-later".into()),
        description: None,
        homepage: None,
        cpe: None,
        origin: Origin::Deb {
            rebuilt: None,
            arch: "amd64".into(),
            source: source.map(|s| (s.to_string(), version.to_string())),
            distro: "debian-12".into(),
            download_url: format!("https://deb.debian.org/debian/pool/main/{name}.deb"),
            sha256: "a".repeat(64),
        },
        files: vec![file(&format!("/usr/bin/{name}"), name)],
    }
}

fn contents() -> Contents {
    let mut lua = deb("lua", "5.4.6", None);
    lua.origin = Origin::Built {
        source: Some(Source {
            label: "//examples/sources:lua-src".into(),
            url: "https://www.lua.org/ftp/lua-5.4.6.tar.gz".into(),
            sha256: "b".repeat(64),
            version: Some("5.4.6".into()),
        }),
    };
    lua.label = "//examples/pkgs/lua:lua".into();
    lua.license = Some("MIT and some custom terms".into());
    Contents {
        subject: Subject {
            label: "//examples/images/lua:lua".into(),
            name: "lua".into(),
            manifest_digest: format!("sha256:{}", "c".repeat(64)),
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
        packages: vec![deb("bash", "5.2.15-2+b2", None), deb("libc6", "1:2.36-9", Some("glibc")), lua],
        created: 1_704_067_200,
        tool: "dhib 0.1.0".into(),
    }
}

#[test]
fn deb_purls_encode_plus_and_epoch_and_name_their_source() {
    let c = contents();
    assert_eq!(purl(&c.packages[0]), "pkg:deb/debian/bash@5.2.15-2%2Bb2?arch=amd64&distro=debian-12");
    assert_eq!(purl(&c.packages[1]), "pkg:deb/debian/libc6@1%3A2.36-9?arch=amd64&distro=debian-12&upstream=glibc");
    assert_eq!(plain_purl(&c.packages[1]), "pkg:deb/debian/libc6@1%3A2.36-9");
    let mut binnmu = deb("libx", "1.0-1+b1", Some("x"));
    binnmu.origin = match binnmu.origin {
        Origin::Deb { source: _, arch, distro, download_url, sha256, rebuilt } => {
            Origin::Deb { source: Some(("x".into(), "1.0-1".into())), arch, distro, download_url, sha256, rebuilt }
        }
        other => other,
    };
    assert_eq!(purl(&binnmu), "pkg:deb/debian/libx@1.0-1%2Bb1?arch=amd64&distro=debian-12&upstream=x%401.0-1");
    assert_eq!(purl(&deb("libstdc++6", "12", None)), "pkg:deb/debian/libstdc%2B%2B6@12?arch=amd64&distro=debian-12");
}

#[test]
fn other_purls() {
    let c = contents();
    assert_eq!(
        purl(&c.packages[2]),
        format!("pkg:generic/lua@5.4.6?checksum=sha256:{}&download_url=https://www.lua.org/ftp/lua-5.4.6.tar.gz", "b".repeat(64))
    );
    let mut p = c.packages[2].clone();
    p.origin = Origin::Built { source: None };
    assert_eq!(purl(&p), "pkg:generic/lua@5.4.6");
    p.origin = Origin::Oci { reference: "docker.io/library/Debian:12@sha256:ffff".into(), digest: format!("sha256:{}", "d".repeat(64)) };
    assert_eq!(purl(&p), format!("pkg:oci/debian@sha256%3A{}?repository_url=docker.io/library/Debian&tag=12", "d".repeat(64)));
    p.origin = Origin::Oci { reference: "localhost:5000/base".into(), digest: "sha256:1".into() };
    assert_eq!(purl(&p), "pkg:oci/base@sha256%3A1?repository_url=localhost:5000/base");
    assert_eq!(image_purl(&c.subject), format!("pkg:oci/lua@sha256%3A{}", "c".repeat(64)));
    // A query character inside a URL is data, not syntax.
    assert_eq!(query(&[("download_url", "https://x.org/a?b=c&d")]), "?download_url=https://x.org/a%3Fb%3Dc%26d");
}

#[test]
fn spdx_ids_hold_only_the_allowed_characters_and_stay_distinct() {
    let a = spdx_id("Package", "//examples/debian:libc6");
    assert!(a.starts_with("SPDXRef-Package-examples-debian-libc6-"), "{a}");
    let b = spdx_id("Package", "//examples/debian-libc6");
    assert_ne!(a, b, "labels that sanitize alike keep distinct ids");
    for id in [a, b, spdx_id("Package", "//x:a+b_c@ü"), spdx_file_id("//x:y", "/usr/lib/libc.so.6"), spdx_id("X", "//:")] {
        let rest = id.strip_prefix("SPDXRef-").unwrap();
        assert!(rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-'), "{id}");
        assert!(!rest.contains("--") && !rest.ends_with('-'), "{id}");
    }
    assert_eq!(sanitize("//a:b++c/"), "a-b-c");
}

#[test]
fn licenses_are_expressions_or_refs() {
    assert_eq!(classify_license("MIT OR Apache-2.0"), License::Expression("MIT OR Apache-2.0".into(), vec![]));
    assert_eq!(classify_license("GPL-2.0+"), License::Expression("GPL-2.0+".into(), vec![]));
    assert_eq!(
        classify_license("MIT AND LicenseRef-public-domain"),
        License::Expression("MIT AND LicenseRef-public-domain".into(), vec!["LicenseRef-public-domain".into()])
    );
    assert_eq!(classify_license("GPL-2+"), License::Text("GPL-2+".into()));
    assert_eq!(classify_license("MIT and some custom terms"), License::Text("MIT and some custom terms".into()));
    let r = license_ref_for_text("MIT and some custom terms");
    assert!(r.starts_with("LicenseRef-MIT-and-some-custom-terms-"), "{r}");
}

#[test]
fn documents_are_deterministic_and_change_with_the_content() {
    let c = contents();
    assert_eq!(spdx(&c), spdx(&c));
    assert_eq!(cyclonedx(&c), cyclonedx(&c));
    let mut shuffled = c.clone();
    shuffled.packages.reverse();
    shuffled.packages[0].files.reverse();
    assert_eq!(spdx(&c), spdx(&shuffled), "input order does not matter");
    assert_eq!(cyclonedx(&c), cyclonedx(&shuffled));
    let mut other = c.clone();
    other.packages[0].version = "5.2.15-3".into();
    let serial = |doc: &[u8]| serde_json::from_slice::<Value>(doc).unwrap()["serialNumber"].clone();
    let namespace = |doc: &[u8]| serde_json::from_slice::<Value>(doc).unwrap()["documentNamespace"].clone();
    assert_ne!(serial(&cyclonedx(&c)), serial(&cyclonedx(&other)));
    assert_ne!(namespace(&spdx(&c)), namespace(&spdx(&other)));
    let serial = serial(&cyclonedx(&c));
    let serial = serial.as_str().unwrap();
    let uuid = serial.strip_prefix("urn:uuid:").unwrap();
    assert_eq!(uuid.len(), 36);
    assert_eq!(&uuid[14..15], "5");
    assert!("89ab".contains(&uuid[19..20]));
}

#[test]
fn spdx_document_shape() {
    let doc: Value = serde_json::from_slice(&spdx(&contents())).unwrap();
    assert_eq!(doc["creationInfo"]["created"], "2024-01-01T00:00:00Z");
    assert_eq!(doc["creationInfo"]["creators"][0], "Tool: dhib-0.1.0");
    let packages = doc["packages"].as_array().unwrap();
    let by_name = |n: &str| packages.iter().find(|p| p["name"] == n).unwrap();
    assert_eq!(by_name("lua")["primaryPackagePurpose"], "CONTAINER");
    assert_eq!(by_name("lua-src")["primaryPackagePurpose"], "SOURCE");
    let bash = by_name("bash");
    assert_eq!(bash["supplier"], "Organization: Debian");
    assert_eq!(bash["filesAnalyzed"], true);
    let sha1 = hex(&Sha1::digest(b"bash"));
    assert_eq!(bash["packageVerificationCode"]["packageVerificationCodeValue"], hex(&Sha1::digest(sha1.as_bytes())));
    let built = packages.iter().find(|p| p["name"] == "lua" && p["primaryPackagePurpose"].is_null()).unwrap();
    let license = built["licenseDeclared"].as_str().unwrap();
    assert!(license.starts_with("LicenseRef-"));
    assert_eq!(doc["hasExtractedLicensingInfos"][0]["licenseId"], license);
    let rel = |from: &Value, kind: &str, to: &Value| {
        doc["relationships"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["spdxElementId"] == *from && r["relationshipType"] == kind && r["relatedSpdxElement"] == *to)
    };
    assert!(rel(&json!("SPDXRef-DOCUMENT"), "DESCRIBES", &by_name("lua")["SPDXID"]));
    assert!(rel(&by_name("lua")["SPDXID"], "CONTAINS", &bash["SPDXID"]));
    assert!(rel(&built["SPDXID"], "GENERATED_FROM", &by_name("lua-src")["SPDXID"]));
    assert_eq!(doc["files"].as_array().unwrap().len(), 3);
    assert!(doc["files"].as_array().unwrap().iter().all(|f| f["fileName"].as_str().unwrap().starts_with("./usr/bin/")));
}

#[test]
fn summaries_read_back_what_the_documents_say() {
    let c = contents();
    let mut expected: Vec<SbomPackage> = c
        .packages
        .iter()
        .map(|p| SbomPackage {
            name: p.name.clone(),
            version: p.version.clone(),
            purl: Some(purl(p)),
            files: p.files.iter().map(|f| (f.path.clone(), f.sha256.clone())).collect(),
        })
        .collect();
    expected.sort();
    assert_eq!(spdx_summary(&spdx(&c)).unwrap(), expected);
    assert_eq!(cyclonedx_summary(&cyclonedx(&c)).unwrap(), expected);
    assert!(spdx_summary(b"{}").unwrap_err().contains("SPDX"));
    assert!(cyclonedx_summary(b"not json").unwrap_err().contains("not a CycloneDX JSON document"));
    assert!(spdx_summary(&cyclonedx(&c)).is_err());
    assert!(cyclonedx_summary(&spdx(&c)).is_err());
}

#[test]
fn unaccounted_names_missing_and_changed_files() {
    let c = contents();
    let bash = &c.packages[0].files[0];
    let rootfs = vec![
        (bash.path.clone(), bash.sha256.clone()),
        ("/usr/bin/libc6".to_string(), sha256_hex(b"tampered")),
        ("/etc/extra".to_string(), sha256_hex(b"x")),
    ];
    assert_eq!(unaccounted(&c, &rootfs), vec!["/etc/extra".to_string(), "/usr/bin/libc6".to_string()]);
    assert!(unaccounted(&c, &rootfs[..1]).is_empty());
}

#[test]
fn only_public_urls_are_download_locations() {
    assert!(is_public_url("https://deb.debian.org/debian/pool/x.deb"));
    assert!(is_public_url("git+https://github.com/lua/lua.git"));
    assert!(!is_public_url("file:///home/me/src.tar.gz"));
    assert!(!is_public_url("http://localhost/x"));
    assert!(!is_public_url("vendor/src.tar.gz"));
}
