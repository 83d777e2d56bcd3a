//! An upstream release reaching the example catalog, end to end:
//! `cargo bench --bench upstream_examples`.
//!
//! A copy of the example workspace watches a local Lua upstream
//! (scripts/local-upstream.sh). After an untimed build of the catalog, the
//! clock runs from `dhib upstream update --to 5.4.4.1` (fetch, guardrail,
//! rewrite, cascade) through `dhib build //examples/...` (Lua compiled in the
//! sandbox; its images and the customization on it assembled, tested,
//! attested and signed) to `dhib verify` of every image the cascade names.
//! Printed: each phase, and the images and customizations per second.
//!
//! The store starts as a hard-linked copy of the workspace's (see
//! `support::seeded_store`), and every run still remakes the whole cascade:
//! the copy forgets the results of the cascade's keys before the timed build.

#[path = "support/examples.rs"]
mod support;

use std::process::Command;
use std::time::Duration;

use support::{built, forget, repo, run, secs, seeded_store};

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("skipped: run with `cargo bench --bench upstream_examples`");
        return;
    }
    let dir = tempfile::tempdir_in(repo().join("target")).unwrap();
    let store = seeded_store(dir.path());
    let ws = dir.path().join("catalog");
    let fixture = Command::new("bash")
        .arg(repo().join("scripts/local-upstream.sh"))
        .arg(&ws)
        .env("DHIB", env!("CARGO_BIN_EXE_dhib"))
        .env("DHIB_STORE", &store)
        .output()
        .unwrap();
    assert!(fixture.status.success(), "{}", String::from_utf8_lossy(&fixture.stderr));
    run(&ws, &store, &["keygen"]);
    std::env::set_var("DHIB_SIGNING_KEY", ws.join("cosign.key"));

    let (_, baseline) = run(&ws, &store, &["build", "//examples/..."]);
    println!("baseline build of the catalog (untimed below): {}", secs(baseline));

    let (update, t_update) =
        run(&ws, &store, &["upstream", "update", "//examples/pkgs/lua:lua-src", "--to", "5.4.4.1", "--output", "json"]);
    let outcome: serde_json::Value = serde_json::from_slice(&update.stdout).unwrap();
    let cascade = |kind: &str| -> Vec<String> {
        outcome["cascade"][kind].as_array().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_string)).collect()
    };
    let images: Vec<String> = cascade("images").into_iter().chain(cascade("customizations")).collect();
    // Whatever of the cascade an earlier run (or scripts/upstream-demo.sh)
    // left in the seed is forgotten by the copy: every run remakes it all.
    let nodes: Vec<String> = outcome["cascade"].as_object().unwrap().keys().flat_map(|k| cascade(k)).collect();
    forget(&ws, &store, &nodes);
    let (build, t_build) = run(&ws, &store, &["build", "//examples/...", "--output", "json"]);
    let built = built(&build);
    assert_eq!(built.len(), nodes.len(), "the build remade {} nodes, the cascade has {}", built.len(), nodes.len());
    let mut t_verify = Duration::ZERO;
    for image in &images {
        t_verify += run(&ws, &store, &["verify", image]).1;
    }
    let total = t_update + t_build + t_verify;
    println!("upstream update (fetch, guardrail against the tag's tree, rewrite, cascade): {}", secs(t_update));
    println!(
        "build: {} nodes remade (Lua compiled in the sandbox; images, tests, SBOMs, provenance, VEX, test reports, signatures): {}",
        built.len(),
        secs(t_build)
    );
    println!("verify of {} images and customizations: {}", images.len(), secs(t_verify));
    println!(
        "upstream release to {} images rebuilt, tested, attested, signed and verified: {} = {:.3} images/s",
        images.len(),
        secs(total),
        images.len() as f64 / total.as_secs_f64()
    );
}
