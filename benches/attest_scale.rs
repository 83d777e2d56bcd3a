//! Attesting and signing at catalog scale: `cargo bench --bench attest_scale`.
//!
//! For every image and customization of the synthetic catalog (see
//! support/catalog.rs), from the graph alone (metadata only, no layers):
//! the SPDX and CycloneDX SBOMs of its package closure, its SLSA
//! provenance, its VEX document and a test report, each as an in-toto
//! statement signed into a DSSE envelope, plus the cosign signature of the
//! image. Prints attestations per second, on all cores and on one.

#[path = "support/catalog.rs"]
#[allow(dead_code)] // the other benches use the rest
mod catalog;

use std::path::PathBuf;
use std::time::Instant;

use dhib::analysis::Analysis;
use dhib::attest::{cosign, ctrf, dsse, keys, provenance, sbom, statement, vex};
use dhib::graph::query::{self, Targets};
use dhib::graph::NodeKind;
use dhib::lang::schema::Kind;
use dhib::lang::value::Value;
use rayon::prelude::*;

/// One image's facts: what the attestation nodes would hand to `attest`.
struct Image {
    label: String,
    name: String,
    digest: String,
    packages: Vec<sbom::Package>,
    dependencies: Vec<provenance::Dependency>,
}

fn attest_one(img: &Image, key: &keys::SigningKey) -> usize {
    let contents = sbom::Contents {
        subject: sbom::Subject {
            label: img.label.clone(),
            name: img.name.clone(),
            manifest_digest: format!("sha256:{}", img.digest),
            platforms: vec!["linux/amd64".into()],
            version: None,
            supplier: Some("dhib examples".into()),
        },
        os: None,
        packages: img.packages.clone(),
        created: 0,
        tool: "dhib bench".into(),
    };
    let image_purl = sbom::image_purl(&contents.subject);
    let spdx = sbom::spdx(&contents);
    let cdx = sbom::cyclonedx(&contents);
    let prov = provenance::predicate(&provenance::Provenance {
        target: img.label.clone(),
        definitions: Vec::new(),
        revision: None,
        dependencies: img.dependencies.clone(),
        invocation_id: "00000000-0000-4000-8000-000000000000".into(),
        started: 0,
        finished: 0,
        sandbox: "bwrap".into(),
        source_date_epoch: 0,
        dhib_version: "bench".into(),
        guardrail: Vec::new(),
    });
    let declared = vex::Declared {
        vulnerability: "CVE-2000-0001".into(),
        status: vex::Status::NotAffected,
        justification: Some("vulnerable_code_not_present".into()),
        impact_statement: None,
        action_statement: None,
    };
    let vex_doc = vex::document("https://dhib.dev/vex/bench", "dhib", 0, &vex::image_statements(&image_purl, &[declared], &[], &[]));
    let case = ctrf::TestCase { name: "smoke".into(), status: ctrf::Status::Passed, duration_ms: 1, message: None, suite: "tests".into() };
    let report = serde_json::to_vec(&ctrf::report("bench", &[case], 0, 1)).unwrap();
    let docs: [(&str, Vec<u8>); 5] = [
        (statement::SPDX, spdx),
        (statement::CYCLONEDX, cdx),
        (statement::SLSA_PROVENANCE, serde_json::to_vec(&prov).unwrap()),
        (statement::OPENVEX, vex_doc),
        (statement::CTRF, report),
    ];
    for (ty, doc) in &docs {
        let st = statement::statement(&img.label, &img.digest, ty, serde_json::from_slice(doc).unwrap());
        let env = dsse::Envelope::sign(dsse::IN_TOTO_PAYLOAD, &st, key);
        std::hint::black_box(env.to_json());
    }
    let payload = cosign::simple_signing_payload(&img.label, &format!("sha256:{}", img.digest));
    std::hint::black_box(key.sign(&payload));
    docs.len()
}

fn main() {
    // `cargo test --all-targets` runs benches too, without `--bench`: they
    // take minutes at this scale, so only `cargo bench` runs them.
    if !std::env::args().any(|a| a == "--bench") {
        println!("skipped: run with `cargo bench --bench attest_scale`");
        return;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-catalog");
    if !root.join("dhi.toml").exists() {
        catalog::generate(&root).expect("write the catalog");
    }
    let mut analysis = Analysis::load(&root).expect("load");
    let analyzed = analysis.analyze().expect("the catalog is valid");
    let g = &analyzed.graph;
    let t = Instant::now();
    let images: Vec<Image> = g
        .graph
        .node_indices()
        .filter(|n| matches!(g.kind(*n), Some(NodeKind::Target(Kind::Image | Kind::Customization))))
        .map(|n| {
            let id = g.node(n);
            let closure = query::reach(g, &query::NodeSet::from([n]), None, true);
            let mut packages = Vec::new();
            let mut dependencies = Vec::new();
            for d in closure.iter().filter(|d| **d != n) {
                let dep = g.node(*d);
                let Some(def) = analysis.target(&dep.label) else { continue };
                let key = analyzed.keys.get(dep).expect("every node has a key").to_string();
                dependencies.push(provenance::Dependency { name: dep.to_string(), uri: None, sha256: key.clone() });
                if def.kind != Kind::Package {
                    continue;
                }
                let text = |a: &str| def.attrs.get(a).and_then(Value::as_str).map(str::to_string);
                packages.push(sbom::Package {
                    label: dep.to_string(),
                    name: dep.label.name.clone(),
                    version: text("version").unwrap_or_else(|| "0".into()),
                    supplier: None,
                    license: text("license"),
                    description: None,
                    homepage: None,
                    cpe: None,
                    origin: sbom::Origin::Built { source: None },
                    files: Vec::new(),
                });
            }
            let digest = analyzed.keys.get(id).expect("every node has a key").to_string();
            Image { label: id.to_string(), name: id.label.name.clone(), digest, packages, dependencies }
        })
        .collect();
    let packages: usize = images.iter().map(|i| i.packages.len()).sum();
    eprintln!(
        "{} images and customizations, {:.0} packages each on average, facts gathered in {:.1} s",
        images.len(),
        packages as f64 / images.len() as f64,
        t.elapsed().as_secs_f64()
    );
    let key = keys::SigningKey::from_pem(&keys::generate(b"").unwrap().private_pem, b"").unwrap();

    let t = Instant::now();
    let count: usize = images.par_iter().map(|img| attest_one(img, &key)).sum();
    let all = t.elapsed().as_secs_f64();
    let sample = &images[..images.len().min(200)];
    let t = Instant::now();
    let one: usize = sample.iter().map(|img| attest_one(img, &key)).sum();
    let single = t.elapsed().as_secs_f64();
    println!(
        "attested and signed {count} attestations of {} images in {all:.2} s: {:.0} attestations/s on {} threads; {:.0} attestations/s on one",
        images.len(),
        count as f64 / all,
        rayon::current_num_threads(),
        one as f64 / single
    );
}
