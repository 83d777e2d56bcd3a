//! A patch to a Debian source package reaching the example catalog:
//! `cargo bench --bench debian_rebuild`.
//!
//! A copy of the example workspace, its store seeded from the workspace's
//! (`support::seeded_store`), is built once untimed. Then the patch of
//! //examples/debian/libmd changes, and the clock runs over `dhib affected
//! --files PATCH` (what the change reaches) and `dhib build //examples/...`:
//! dpkg-buildpackage of libmd in the sandbox, then every image and
//! customization that installs libmd0 assembled, tested, attested and
//! signed. The build must remake exactly what `affected` named. Printed:
//! both phases, the images per second, and how much of the build was
//! dpkg-buildpackage itself (what Debian's own build of the change costs).

#[path = "support/examples.rs"]
mod support;

use std::process::Command;

use support::{built, forget, repo, run, secs, seeded_store};

const PATCH: &str = "examples/debian/libmd/patches/explicit-bzero-contexts.patch";

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("skipped: run with `cargo bench --bench debian_rebuild`");
        return;
    }
    let dir = tempfile::tempdir_in(repo().join("target")).unwrap();
    let store = seeded_store(dir.path());
    let ws = dir.path().join("catalog");
    std::fs::create_dir_all(&ws).unwrap();
    let copied = Command::new("cp").arg("-r").arg(repo().join("examples")).arg(repo().join("dhi.toml")).arg(&ws).status().unwrap();
    assert!(copied.success());
    run(&ws, &store, &["keygen"]);
    std::env::set_var("DHIB_SIGNING_KEY", ws.join("cosign.key"));
    let (_, baseline) = run(&ws, &store, &["build", "//examples/..."]);
    println!("baseline build of the catalog (untimed below): {}", secs(baseline));

    // A new DEP-3 field: the patch's content, and so its key, changes.
    let patch = ws.join(PATCH);
    let text = std::fs::read_to_string(&patch).unwrap();
    std::fs::write(&patch, text.replacen("Forwarded: not-needed\n", "Forwarded: not-needed\nReviewed-By: dhib benchmark\n", 1)).unwrap();

    let (affected, t_affected) = run(&ws, &store, &["affected", "--files", PATCH]);
    let mut nodes: Vec<String> = String::from_utf8_lossy(&affected.stdout).lines().map(str::to_string).collect();
    nodes.sort();
    let query = "kind(image, rdeps(//..., //examples/debian/libmd)) + kind(customization, rdeps(//..., //examples/debian/libmd))";
    let images = String::from_utf8_lossy(&run(&ws, &store, &["query", query]).0.stdout).lines().count();
    // A run before this one may have left the patched results in the seed.
    forget(&ws, &store, &nodes);
    let (build, t_build) = run(&ws, &store, &["build", "//examples/...", "--output", "json"]);
    let mut made: Vec<(String, f64)> = built(&build);
    made.sort_by(|a, b| a.0.cmp(&b.0));
    let names: Vec<&String> = made.iter().map(|(n, _)| n).collect();
    assert_eq!(names, nodes.iter().collect::<Vec<_>>(), "the build remade other nodes than `dhib affected` named");
    let dpkg = made.iter().find(|(n, _)| n == "//examples/debian/libmd:libmd").map_or(0.0, |(_, s)| *s);
    let total = t_affected + t_build;
    println!("dhib affected --files {PATCH}: {} nodes in {:.0} ms", nodes.len(), t_affected.as_secs_f64() * 1000.0);
    println!(
        "build: {} nodes remade (libmd's dpkg-buildpackage {dpkg:.1} s; {images} images and customizations assembled, tested, attested and signed): {}",
        made.len(),
        secs(t_build)
    );
    println!(
        "patch to {images} rebuilt images: {} = {:.2} images/s; dpkg-buildpackage is {:.0}% of it",
        secs(total),
        images as f64 / total.as_secs_f64(),
        100.0 * dpkg / total.as_secs_f64()
    );
}
