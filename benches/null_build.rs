//! The null build at catalog scale against ninja's: `cargo bench --bench null_build`.
//!
//! On the synthetic catalog (see support/catalog.rs), every node dhib can build gets a
//! cached result, and the same nodes and edges are written as a build.ninja
//! whose outputs all exist and are up to date. Both tools are then asked to
//! build everything, in this one process, alternately; both find nothing to
//! do. Also printed: the time from starting dhib after one leaf edit to the
//! first action it schedules, and dhib's peak RSS.

#[path = "support/catalog.rs"]
mod catalog;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use dhib::analysis::Analysis;
use dhib::graph::NodeKind;
use dhib::store::{ActionResult, Store};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn executable(k: Option<NodeKind>) -> bool {
    k.is_some()
}

fn main() {
    // `cargo test --all-targets` runs benches too, without `--bench`: they
    // take minutes at this scale, so only `cargo bench` runs them.
    if !std::env::args().any(|a| a == "--bench") {
        println!("skipped: run with `cargo bench --bench null_build`");
        return;
    }
    let target = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target");
    let root = target.join("bench-catalog");
    if !root.join("dhi.toml").exists() {
        catalog::generate(&root).expect("write the catalog");
    }
    let dhib = target.join("release/dhib");
    assert!(dhib.exists(), "build the binary first: cargo build --release");
    let store_dir = target.join("bench-null-store");
    let ninja_dir = target.join("bench-ninja");

    let mut analysis = Analysis::load(&root).expect("load");
    let analyzed = analysis.analyze().expect("the catalog is valid");
    let g = &analyzed.graph;
    let nodes: Vec<_> = g.sorted.iter().copied().filter(|n| executable(g.kind(*n))).collect();

    // Every buildable node has a cached result.
    let store = Store::open(&store_dir).unwrap();
    let manifest = store.put_manifest(&BTreeMap::new()).unwrap();
    let result = ActionResult { outputs: BTreeMap::from([("runtime".into(), manifest)]), ..Default::default() };
    let t = Instant::now();
    for n in &nodes {
        let key = analyzed.keys.get(g.node(*n)).unwrap();
        if store.ac_get(&key).is_none() {
            store.ac_put(&key, &result).unwrap();
        }
    }
    eprintln!("action cache ready for {} nodes in {}", nodes.len(), ms(t.elapsed()));

    // The same nodes and edges for ninja; outputs made once by ninja itself.
    if !ninja_dir.join(".ninja_log").exists() {
        std::fs::create_dir_all(ninja_dir.join("out")).unwrap();
        let name = |n| format!("out/n{}", n);
        let index: BTreeMap<_, _> = nodes.iter().enumerate().map(|(i, n)| (*n, i)).collect();
        let mut ninja = String::from("rule touch\n  command = touch $out\n\n");
        for (i, n) in nodes.iter().enumerate() {
            let deps: Vec<String> = g.dependencies(*n).filter_map(|d| index.get(&d)).map(|j| name(*j)).collect();
            let _ = writeln!(ninja, "build {}: touch {}", name(i), deps.join(" "));
        }
        std::fs::write(ninja_dir.join("build.ninja"), ninja).unwrap();
        eprintln!("first ninja build of {} edges (one-time setup)...", nodes.len());
        let st =
            Command::new("ninja").args(["-C", ninja_dir.to_str().unwrap(), "-j", "8"]).output().expect("ninja (ninja-build) is installed");
        assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    }

    let run = |cmd: &mut Command| {
        let t = Instant::now();
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        (t.elapsed(), String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout))
    };
    let (mut dhib_times, mut ninja_times) = (Vec::new(), Vec::new());
    let mut dhib_said = String::new();
    for _ in 0..5 {
        let (d, said) =
            run(Command::new(&dhib).args(["-C", root.to_str().unwrap(), "--store", store_dir.to_str().unwrap(), "build", "//..."]));
        dhib_times.push(d);
        dhib_said = said;
        let (n, said) = run(Command::new("ninja").args(["-C", ninja_dir.to_str().unwrap()]));
        assert!(said.contains("no work to do"), "{said}");
        ninja_times.push(n);
    }
    assert!(dhib_said.contains("targets up to date"), "{dhib_said}");
    let (d, n) = (median(dhib_times), median(ninja_times));
    println!(
        "null build, {} nodes: dhib {}   ninja {}   ratio {:.2}x (target <= 1.0x)",
        nodes.len(),
        ms(d),
        ms(n),
        d.as_secs_f64() / n.as_secs_f64()
    );

    // One leaf edit: time from start to the first action scheduled.
    let leaf = root.join(catalog::LEAF_FILE);
    let original = std::fs::read_to_string(&leaf).unwrap();
    std::fs::write(&leaf, original.replace("version = \"2.0\"", "version = \"2.0.9\"")).unwrap();
    let t = Instant::now();
    let mut child = Command::new(&dhib)
        .args(["-C", root.to_str().unwrap(), "--store", store_dir.to_str().unwrap(), "build", "//...", "--output", "json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let first = {
        use std::io::BufRead;
        let stdout = child.stdout.take().unwrap();
        let mut first = None;
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("\"event\":\"started\"") {
                first = Some(t.elapsed());
                break;
            }
        }
        first
    };
    let _ = child.kill();
    let _ = child.wait();
    std::fs::write(&leaf, original).unwrap();
    match first {
        Some(f) => println!("after editing one leaf file: first action scheduled {} after start", ms(f)),
        None => println!("after editing one leaf file: no action was scheduled"),
    }
    let rss = peak_rss_of(&dhib, &root, &store_dir);
    println!("dhib null build peak RSS: {rss}");
}

fn peak_rss_of(dhib: &Path, root: &Path, store: &Path) -> String {
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%M"])
        .arg(dhib)
        .args(["-C", root.to_str().unwrap(), "--store", store.to_str().unwrap(), "build", "//..."])
        .output();
    match out {
        Ok(o) => String::from_utf8_lossy(&o.stderr)
            .lines()
            .last()
            .and_then(|l| l.trim().parse::<u64>().ok())
            .map_or("unknown".into(), |kb| format!("{} MiB", kb / 1024)),
        Err(_) => "unknown (install `time`)".into(),
    }
}
