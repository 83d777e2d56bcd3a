//! Analysis at catalog scale: `cargo bench --bench analysis`.
//!
//! Generates the synthetic catalog (see support/catalog.rs) once under
//! target/bench-catalog, then prints: cold analysis time (discover, parse,
//! lower, graph, keys), peak RSS, `rdeps` of a package every image uses, and
//! the time to re-key after editing one leaf file.

#[path = "support/catalog.rs"]
mod catalog;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use dhib::analysis::Analysis;
use dhib::graph::query;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    // `cargo test --all-targets` runs benches too, without `--bench`: they
    // take minutes at this scale, so only `cargo bench` runs them.
    if !std::env::args().any(|a| a == "--bench") {
        println!("skipped: run with `cargo bench --bench analysis`");
        return;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-catalog");
    if !root.join("dhi.toml").exists() {
        let t = Instant::now();
        let files = catalog::generate(&root).expect("write the catalog");
        eprintln!("generated {files} files under {} in {}", root.display(), ms(t.elapsed()));
    }

    let mut cold = Vec::new();
    let mut last = None;
    for _ in 0..3 {
        drop(last.take()); // one workspace in memory at a time, for an honest peak RSS
        let t = Instant::now();
        let mut a = Analysis::load(&root).expect("load");
        let r = a.analyze().unwrap_or_else(|d| panic!("{} diagnostics, first: {:?}", d.len(), d.first()));
        cold.push(t.elapsed());
        last = Some((a, r));
    }
    let (mut analysis, mut analyzed) = last.expect("three runs");
    let graph = analyzed.graph.clone();
    let g = &*graph;
    let kinds = |k: &str| g.graph.node_indices().filter(|i| g.kind(*i).map(|x| x.name()) == Some(k)).count();
    println!(
        "catalog: {} nodes ({} packages, {} sources, {} images, {} customizations, {} tests, {} attestations), {} edges",
        g.graph.node_count(),
        kinds("package"),
        kinds("source"),
        kinds("image"),
        kinds("customization"),
        kinds("test"),
        kinds("attestation"),
        g.graph.edge_count()
    );
    let cold = median(cold);
    println!("cold analysis (discover+parse+lower+graph+keys): {}   target <= 2000 ms", ms(cold));

    let q = query::parse(&format!("rdeps(//..., {})", catalog::EVERYONE_USES)).unwrap();
    let mut times = Vec::new();
    let mut hits = 0;
    for _ in 0..10 {
        let t = Instant::now();
        hits = query::eval(&q, g, &analysis).unwrap().len();
        times.push(t.elapsed());
    }
    let images =
        query::eval(&query::parse(&format!("kind(image, rdeps(//..., {}))", catalog::EVERYONE_USES)).unwrap(), g, &analysis).unwrap().len();
    println!("rdeps(//..., {}): {} ({hits} nodes, {images} images)   target <= 50 ms", catalog::EVERYONE_USES, ms(median(times)));

    let leaf = root.join(catalog::LEAF_FILE);
    let original = std::fs::read_to_string(&leaf).unwrap();
    let mut times = Vec::new();
    let mut changed = 0;
    for round in 0..5 {
        let edited = original.replace("version = \"2.0\"", &format!("version = \"2.0.{}\"", round + 1));
        let t = Instant::now();
        analysis.set_file(catalog::LEAF_FILE, edited);
        let (after, diff) = analysis.rekey(&analyzed).expect("re-key");
        times.push(t.elapsed());
        changed = diff.len();
        analyzed = after;
    }
    println!("re-key after editing one leaf file: {} ({changed} keys changed)   target <= 50 ms", ms(median(times)));

    // A security fix lands in the package every image uses: the cascade.
    let base = "pkgs/base0/BUILD.dhi";
    let fixed = std::fs::read_to_string(root.join(base)).unwrap().replace("version = \"1.0\"", "version = \"1.0.1\"");
    let t = Instant::now();
    analysis.set_file(base, fixed);
    let (after, cascade) = analysis.rekey(&analyzed).expect("re-key");
    let took = t.elapsed();
    let images = cascade
        .iter()
        .filter(|id| {
            id.facet.is_none()
                && after
                    .graph
                    .index
                    .get(*id)
                    .and_then(|n| after.graph.kind(*n))
                    .is_some_and(|k| matches!(k.name(), "image" | "customization"))
        })
        .count();
    println!(
        "cascade of a fix in {} (every image uses it): {} for {} nodes, {images} images and customizations: {:.0} images/s",
        catalog::EVERYONE_USES,
        ms(took),
        cascade.len(),
        images as f64 / took.as_secs_f64()
    );
    println!("peak RSS: {:.0} MiB   target <= 1024 MiB", peak_rss_mib());
}
