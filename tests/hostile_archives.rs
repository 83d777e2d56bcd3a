//! Crafted hostile archives are refused, naming the entry, and leave nothing
//! behind; well-formed ones of every format extract faithfully.

use std::io::Write;
use std::path::Path;

use dhib::exec::archive::{extract, ArchiveError, ExtractOptions};

/// A raw tar header, so the test can write names the tar crate refuses.
fn header(name: &str, kind: u8, mode: u32, size: usize, link: &str) -> [u8; 512] {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    h[100..107].copy_from_slice(format!("{mode:07o}").as_bytes());
    h[108..115].copy_from_slice(b"0000000");
    h[116..123].copy_from_slice(b"0000000");
    h[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
    h[136..147].copy_from_slice(b"00000000000");
    h[156] = kind;
    h[157..157 + link.len()].copy_from_slice(link.as_bytes());
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|b| *b as u32).sum();
    h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    h
}

enum E<'a> {
    File(&'a str, &'a str, u32),
    Dir(&'a str, u32),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
    Special(&'a str, u8),
}

fn tar(entries: &[E<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        match e {
            E::File(name, content, mode) => {
                out.extend(header(name, b'0', *mode, content.len(), ""));
                out.extend(content.as_bytes());
                out.resize(out.len().next_multiple_of(512), 0);
            }
            E::Dir(name, mode) => out.extend(header(name, b'5', *mode, 0, "")),
            E::Symlink(name, target) => out.extend(header(name, b'2', 0o777, 0, target)),
            E::Hardlink(name, target) => out.extend(header(name, b'1', 0o644, 0, target)),
            E::Special(name, kind) => out.extend(header(name, *kind, 0o644, 0, "")),
        }
    }
    out.extend([0u8; 1024]);
    out
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// Extracts and expects a refusal naming `entry`; `dest` must not exist after.
fn refuses(archive: Vec<u8>, entry: &str, why: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.tar.gz");
    std::fs::write(&path, archive).unwrap();
    let dest = dir.path().join("out");
    let err = extract(&path, &dest, &ExtractOptions::default()).expect_err("a hostile archive must be refused");
    let msg = err.to_string();
    assert!(matches!(err, ArchiveError::Refused { .. }), "{msg}");
    assert!(msg.contains(&format!("`{entry}`")) && msg.contains(why), "{msg}");
    assert!(!dest.exists(), "a refused archive left {}", dest.display());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().filter_map(|e| e.ok()).map(|e| e.file_name()).collect();
    assert_eq!(leftovers.len(), 1, "temp files left behind: {leftovers:?}");
}

#[test]
fn parent_components_are_refused() {
    refuses(gz(&tar(&[E::File("ok.txt", "x", 0o644), E::File("a/../../evil", "x", 0o644)])), "a/../../evil", "leaves");
}

#[test]
fn absolute_paths_are_refused() {
    refuses(gz(&tar(&[E::File("/etc/evil", "x", 0o644)])), "/etc/evil", "absolute");
}

#[test]
fn links_out_of_the_tree_are_refused() {
    refuses(gz(&tar(&[E::Symlink("etc", "/etc")])), "etc", "outside the tree");
    refuses(gz(&tar(&[E::Dir("a", 0o755), E::Symlink("a/up", "../../..")])), "a/up", "outside the tree");
    refuses(gz(&tar(&[E::Hardlink("passwd", "/etc/passwd")])), "passwd", "outside the tree");
    refuses(gz(&tar(&[E::Hardlink("x", "missing")])), "x", "not an extracted file");
}

#[test]
fn writing_through_a_link_is_refused() {
    // An in-tree link to a directory, then an entry below it.
    refuses(gz(&tar(&[E::Dir("real", 0o755), E::Symlink("alias", "real"), E::File("alias/x", "x", 0o644)])), "alias/x", "through a link");
}

#[test]
fn devices_fifos_and_setuid_are_refused() {
    refuses(gz(&tar(&[E::Special("dev/null", b'3')])), "dev/null", "device");
    refuses(gz(&tar(&[E::Special("dev/sda", b'4')])), "dev/sda", "device");
    refuses(gz(&tar(&[E::Special("pipe", b'6')])), "pipe", "fifo");
    refuses(gz(&tar(&[E::File("su", "x", 0o4755)])), "su", "setuid");
    refuses(gz(&tar(&[E::Dir("shared", 0o2775)])), "shared", "setgid");
}

#[test]
fn zip_entries_get_the_same_checks() {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let opts: zip::write::SimpleFileOptions = zip::write::SimpleFileOptions::default();
        z.start_file("../evil", opts).unwrap();
        z.write_all(b"x").unwrap();
        z.finish().unwrap();
    }
    refuses(buf.into_inner(), "../evil", "leaves");
}

#[test]
fn an_archive_larger_than_the_limit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.tar.gz");
    std::fs::write(&path, gz(&tar(&[E::File("big", &"x".repeat(10_000), 0o644)]))).unwrap();
    let opts = ExtractOptions { max_bytes: 1000, ..ExtractOptions::default() };
    assert!(matches!(extract(&path, &dir.path().join("out"), &opts), Err(ArchiveError::TooLarge(1000))));
    assert!(!dir.path().join("out").exists());
}

fn check_tree(dest: &Path) {
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::read_to_string(dest.join("src/main.c")).unwrap(), "int main(){}");
    assert_eq!(std::fs::metadata(dest.join("configure")).unwrap().permissions().mode() & 0o777, 0o755);
    assert_eq!(std::fs::metadata(dest.join("src/main.c")).unwrap().permissions().mode() & 0o777, 0o644);
    assert_eq!(std::fs::read_link(dest.join("link")).unwrap(), Path::new("src/main.c"));
    let long = format!("deep/{}/file", "d".repeat(120));
    assert_eq!(std::fs::read_to_string(dest.join(long)).unwrap(), "long");
}

#[test]
fn every_format_round_trips_with_strip_prefix() {
    // Built with the tar crate: long names use GNU extensions, as upstream tarballs do.
    let mut b = tar::Builder::new(Vec::new());
    let add = |b: &mut tar::Builder<Vec<u8>>, path: &str, content: &str, mode: u32| {
        let mut h = tar::Header::new_gnu();
        h.set_size(content.len() as u64);
        h.set_mode(mode);
        h.set_cksum();
        b.append_data(&mut h, path, content.as_bytes()).unwrap();
    };
    add(&mut b, "pkg-1.0/src/main.c", "int main(){}", 0o600);
    add(&mut b, "pkg-1.0/configure", "#!/bin/sh", 0o700);
    add(&mut b, &format!("pkg-1.0/deep/{}/file", "d".repeat(120)), "long", 0o644);
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    b.append_link(&mut h, "pkg-1.0/link", "src/main.c").unwrap();
    let plain = b.into_inner().unwrap();

    let compressors: Vec<(&str, Vec<u8>)> = vec![
        ("tar", plain.clone()),
        ("tar.gz", gz(&plain)),
        ("tar.xz", {
            let mut e = xz2::write::XzEncoder::new(Vec::new(), 1);
            e.write_all(&plain).unwrap();
            e.finish().unwrap()
        }),
        ("tar.zst", zstd::encode_all(&plain[..], 1).unwrap()),
        ("tar.bz2", {
            let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
            e.write_all(&plain).unwrap();
            e.finish().unwrap()
        }),
    ];
    for (ext, bytes) in compressors {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("a.{ext}"));
        std::fs::write(&path, bytes).unwrap();
        let dest = dir.path().join("out");
        let opts = ExtractOptions { strip_prefix: Some("pkg-1.0".into()), ..ExtractOptions::default() };
        let stats = extract(&path, &dest, &opts).unwrap_or_else(|e| panic!("{ext}: {e}"));
        assert_eq!((stats.files, stats.symlinks), (3, 1), "{ext}");
        check_tree(&dest);
    }
    // An entry outside the stripped prefix is refused.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.tar");
    std::fs::write(&path, tar(&[E::File("other/x", "x", 0o644)])).unwrap();
    let opts = ExtractOptions { strip_prefix: Some("pkg-1.0".into()), ..ExtractOptions::default() };
    let err = extract(&path, &dir.path().join("out"), &opts).unwrap_err();
    assert!(err.to_string().contains("outside the directory `pkg-1.0`"), "{err}");
}

#[test]
fn the_real_upstream_tarballs_extract() {
    let tp = Path::new(env!("CARGO_MANIFEST_DIR")).join("third_party");
    let cases = [
        ("zlib_1.2.13.dfsg.orig.tar.bz2", "zlib-1.2.13.dfsg", "zlib.h"),
        ("lua5.4_5.4.4.orig.tar.gz", "lua-5.4.4", "src/lua.h"),
        ("sqlite3_3.40.1.orig.tar.xz", "sqlite3-3.40.1", "src/sqlite.h.in"),
    ];
    for (file, prefix, expect) in cases {
        let path = tp.join(file);
        assert!(path.exists(), "{} is missing: run scripts/setup.sh", path.display());
        let dir = tempfile::tempdir().unwrap();
        let opts = ExtractOptions { strip_prefix: Some(prefix.into()), ..ExtractOptions::default() };
        extract(&path, &dir.path().join("src"), &opts).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(dir.path().join("src").join(expect).is_file(), "{file} lacks {expect}");
    }
}
