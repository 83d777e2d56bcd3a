//! Image assembly from cached package trees: `cargo bench --bench assembly`.
//!
//! Sixteen package trees of about 200 MB in all (generated files that
//! compress as real packages do) are put in a store. Then, in this one
//! process, on the same trees:
//! - dhib makes their layers as an image build does (`oci::cached_layer`:
//!   deterministic tar, gzip -6, one layer per package, in parallel) into an
//!   empty layer cache;
//! - `tar -c | gzip -6` compresses the whole tree as one stream;
//! - `umoci repack` makes a layer of the same tree in an unpacked bundle.
//!
//! Then one package changes and the image is assembled again: only that
//! package's layer is made, so the time follows the size of that layer, not
//! of the image.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use dhib::oci::{self, Compression};
use dhib::store::{Digest, Store};
use rayon::prelude::*;

const PACKAGES: usize = 16;
const FILES_PER_PACKAGE: usize = 50;
const FILE_SIZE: usize = 256 << 10;

/// Deterministic bytes that gzip -6 compresses about as well, and as fast,
/// as real package contents (about 2.5x): half the tokens from a small
/// vocabulary, half random hexadecimal numbers. (Text from a few words alone
/// compresses 10x and sends gzip down long match chains: unrealistically
/// slow.)
fn text(seed: u64, len: usize) -> Vec<u8> {
    const WORDS: [&str; 16] = [
        "static ",
        "return ",
        "buffer ",
        "0x7f3a ",
        "error\n",
        "if (x) ",
        "int n; ",
        "malloc ",
        "struct ",
        "{\n",
        "}\n",
        "len++; ",
        "void * ",
        "lua_State ",
        "sqlite3_ ",
        "inflate ",
    ];
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let mut out = Vec::with_capacity(len + 16);
    while out.len() < len {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        if s & 1 == 0 {
            out.extend_from_slice(WORDS[(s >> 60) as usize].as_bytes());
        } else {
            out.extend_from_slice(format!("{:06x} ", s >> 40).as_bytes());
        }
    }
    out.truncate(len);
    out
}

fn write_package(root: &Path, p: usize, version: u64) {
    let dir = root.join(format!("pkg{p:02}/usr/lib/pkg{p:02}"));
    std::fs::create_dir_all(&dir).unwrap();
    for f in 0..FILES_PER_PACKAGE {
        let seed = (p * 1000 + f) as u64 + version * 1_000_000;
        std::fs::write(dir.join(format!("file{f:03}.so")), text(seed, FILE_SIZE)).unwrap();
    }
}

fn mb_per_s(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / (1 << 20) as f64 / d.as_secs_f64()
}

fn run(cmd: &str) -> Duration {
    let t = Instant::now();
    let out = Command::new("sh").args(["-c", cmd]).output().expect("sh runs");
    assert!(out.status.success(), "{cmd}: {}", String::from_utf8_lossy(&out.stderr));
    t.elapsed()
}

/// Every package's layer, made (or found) as an image build makes them.
fn assemble(store: &Store, trees: &[Digest]) -> Duration {
    let t = Instant::now();
    let layers: Vec<oci::Layer> = trees
        .par_iter()
        .map(|d| oci::cached_layer(store, "tree", d, 0, Compression::Gzip, || store.get_tree(d)))
        .collect::<Result<_, _>>()
        .expect("layers");
    assert_eq!(layers.len(), trees.len());
    t.elapsed()
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("tree");
    for p in 0..PACKAGES {
        write_package(&root, p, 0);
    }
    let bytes = (PACKAGES * FILES_PER_PACKAGE * FILE_SIZE) as u64;
    let store = Store::open(&work.path().join("store")).unwrap();
    let put = |p: usize| store.put_tree(&root.join(format!("pkg{p:02}"))).unwrap();
    let trees: Vec<Digest> = (0..PACKAGES).map(put).collect();
    println!("image: {PACKAGES} packages, {} MiB, {} threads", bytes >> 20, rayon::current_num_threads());

    let dhib = assemble(&store, &trees);
    let gzip = run(&format!("tar -c -C {} . | gzip -6 > /dev/null", root.display()));
    let layout = work.path().join("layout");
    let bundle = work.path().join("bundle");
    run(&format!(
        "umoci init --layout {l} && umoci new --image {l}:t && umoci unpack --rootless --image {l}:t {b} && cp -a {r}/. {b}/rootfs/",
        l = layout.display(),
        b = bundle.display(),
        r = root.display()
    ));
    let umoci = run(&format!("umoci repack --image {}:t {}", layout.display(), bundle.display()));

    println!("dhib layers (parallel gzip -6)  {:>7.2} s  {:>6.1} MiB/s", dhib.as_secs_f64(), mb_per_s(bytes, dhib));
    println!("tar -c | gzip -6                {:>7.2} s  {:>6.1} MiB/s", gzip.as_secs_f64(), mb_per_s(bytes, gzip));
    println!("umoci repack                    {:>7.2} s  {:>6.1} MiB/s", umoci.as_secs_f64(), mb_per_s(bytes, umoci));
    println!(
        "dhib vs tar|gzip: {:.2}x   dhib vs umoci repack: {:.2}x (target: >= 1.5x tar|gzip)",
        gzip.as_secs_f64() / dhib.as_secs_f64(),
        umoci.as_secs_f64() / dhib.as_secs_f64()
    );

    // One package changes: its layer is the only one made again.
    write_package(&root, 7, 1);
    let mut changed = trees.clone();
    changed[7] = put(7);
    let again = assemble(&store, &changed);
    let one = (FILES_PER_PACKAGE * FILE_SIZE) as u64;
    println!(
        "after one package ({} MiB of {} MiB) changed: {:.2} s to re-assemble, vs {:.2} s for the whole image ({:.1}x faster)",
        one >> 20,
        bytes >> 20,
        again.as_secs_f64(),
        dhib.as_secs_f64(),
        dhib.as_secs_f64() / again.as_secs_f64()
    );
}
