//! `dhib::exec::archive`: hostile archives are refused, naming the entry and
//! why, and leave nothing behind; well-formed archives of every format
//! extract to the same normalized tree.
//!
//! Hostile tars are written header by header, since the tar crate refuses
//! to create most of them (`..` names, absolute paths).

use std::io::{Cursor, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use crate::common;

use dhib::exec::archive::{decompress, extract, extract_tar, ArchiveError, ExtractOptions, Format};

// ---- building archives ------------------------------------------------------

/// A raw POSIX tar, one 512-byte header per entry.
#[derive(Default)]
struct RawTar(Vec<u8>);

impl RawTar {
    fn entry(mut self, name: &[u8], kind: u8, mode: u32, data: &[u8], link: &[u8]) -> Self {
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name);
        h[100..107].copy_from_slice(format!("{mode:07o}").as_bytes());
        h[108..115].copy_from_slice(b"0000000");
        h[116..123].copy_from_slice(b"0000000");
        h[124..135].copy_from_slice(format!("{:011o}", data.len()).as_bytes());
        h[136..147].copy_from_slice(b"00000000000");
        h[156] = kind;
        h[157..157 + link.len()].copy_from_slice(link);
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].fill(b' ');
        let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
        h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        self.0.extend(h);
        self.0.extend(data);
        self.0.resize(self.0.len().next_multiple_of(512), 0);
        self
    }
    fn file(self, name: &str, data: &str, mode: u32) -> Self {
        self.entry(name.as_bytes(), b'0', mode, data.as_bytes(), b"")
    }
    fn dir(self, name: &str, mode: u32) -> Self {
        self.entry(name.as_bytes(), b'5', mode, b"", b"")
    }
    fn symlink(self, name: &str, target: &str) -> Self {
        self.entry(name.as_bytes(), b'2', 0o777, b"", target.as_bytes())
    }
    fn hardlink(self, name: &str, target: &str) -> Self {
        self.entry(name.as_bytes(), b'1', 0o644, b"", target.as_bytes())
    }
    fn special(self, name: &str, kind: u8) -> Self {
        self.entry(name.as_bytes(), kind, 0o644, b"", b"")
    }
    /// A GNU long name for the next entry.
    fn long_name(self, name: &str) -> Self {
        let mut data = name.as_bytes().to_vec();
        data.push(0);
        self.entry(b"././@LongLink", b'L', 0o644, &data, b"")
    }
    /// A pax extended header for the next entry.
    fn pax(self, records: &[(&str, &str)]) -> Self {
        let mut data = Vec::new();
        for (k, v) in records {
            let rest = k.len() + v.len() + 3;
            let mut len = rest + 1;
            while rest + len.to_string().len() != len {
                len = rest + len.to_string().len();
            }
            data.extend(format!("{len} {k}={v}\n").bytes());
        }
        self.entry(b"PaxHeader/x", b'x', 0o644, &data, b"")
    }
    fn finish(mut self) -> Vec<u8> {
        self.0.extend([0u8; 1024]);
        self.0
    }
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn xz(bytes: &[u8]) -> Vec<u8> {
    let mut e = xz2::write::XzEncoder::new(Vec::new(), 1);
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn zst(bytes: &[u8]) -> Vec<u8> {
    zstd::encode_all(bytes, 1).unwrap()
}

fn bz2(bytes: &[u8]) -> Vec<u8> {
    let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

type Zip = zip::ZipWriter<Cursor<Vec<u8>>>;

fn zip(build: impl FnOnce(&mut Zip)) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
    build(&mut z);
    z.finish().unwrap().into_inner()
}

fn zip_opts() -> zip::write::SimpleFileOptions {
    zip::write::SimpleFileOptions::default()
}

fn zip_file(z: &mut Zip, name: &str, data: &[u8], opts: zip::write::SimpleFileOptions) {
    z.start_file(name, opts).unwrap();
    z.write_all(data).unwrap();
}

// ---- hostile archives -------------------------------------------------------

/// Everything in `dir`, to prove a refused extraction left nothing there.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

/// Extracts `archive` (its format told by magic bytes alone: the file has
/// no extension) with `opts`, into a missing `dest` and then into an empty
/// one; both must fail, and `dest` must be as it was.
fn extract_fails(archive: &[u8], opts: &ExtractOptions) -> ArchiveError {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("archive");
    std::fs::write(&path, archive).unwrap();
    let dest = dir.path().join("out");
    let err = extract(&path, &dest, opts).expect_err("the archive must be refused");
    assert!(!dest.exists(), "{err}: a refused archive left {}", dest.display());
    assert_eq!(listing(dir.path()), ["archive"], "{err}: temp files left behind");

    std::fs::create_dir(&dest).unwrap();
    let again = extract(&path, &dest, opts).expect_err("the archive must be refused");
    assert_eq!(again.to_string(), err.to_string());
    assert!(listing(&dest).is_empty(), "{err}: a refused archive wrote into an empty dest");
    assert_eq!(listing(dir.path()), ["archive", "out"], "{err}: temp files left behind");
    err
}

/// The archive is refused because of `entry`, with a message saying `why`.
fn refuses(archive: &[u8], entry: &str, why: &str) {
    let err = extract_fails(archive, &ExtractOptions::default());
    let msg = err.to_string();
    assert!(matches!(err, ArchiveError::Refused { .. }), "not a refusal: {msg}");
    assert!(msg.contains(&format!("`{entry}`")), "the message does not name `{entry}`: {msg}");
    assert!(msg.contains(why), "the message does not say {why:?}: {msg}");
}

#[test]
fn a_dotdot_component_is_refused() {
    let tar = RawTar::default().file("ok.txt", "x", 0o644).file("a/../../evil", "x", 0o644).finish();
    refuses(&gz(&tar), "a/../../evil", "leaves the extraction directory");
    refuses(&RawTar::default().file("..", "x", 0o644).finish(), "..", "leaves");
}

#[test]
fn an_absolute_path_is_refused() {
    refuses(&RawTar::default().file("/etc/evil", "x", 0o644).finish(), "/etc/evil", "absolute");
}

#[test]
fn hostile_long_names_are_refused() {
    // The checks apply to the name an entry really has, not the header's.
    let long = format!("{}/../../evil", "d".repeat(120));
    refuses(&RawTar::default().long_name(&long).file("innocent", "x", 0o644).finish(), &long, "leaves");
    let tar = RawTar::default().pax(&[("path", "../evil")]).file("innocent", "x", 0o644).finish();
    refuses(&tar, "../evil", "leaves");
    let tar = RawTar::default().pax(&[("linkpath", "/etc")]).symlink("innocent", "ok").finish();
    refuses(&tar, "innocent", "outside the tree");
}

#[test]
fn a_symlink_to_an_absolute_path_is_refused() {
    refuses(&RawTar::default().symlink("etc", "/etc").finish(), "etc", "is a link to `/etc`, outside the tree");
}

#[test]
fn a_symlink_escaping_with_dotdot_is_refused() {
    refuses(&RawTar::default().dir("a/", 0o755).symlink("a/up", "../..").finish(), "a/up", "outside the tree");
    refuses(&RawTar::default().symlink("up", "..").finish(), "up", "outside the tree");
    // Inside the tree on its own, outside with the prefix stripped.
    let tar = RawTar::default().dir("pkg/", 0o755).symlink("pkg/up", "..").finish();
    let err = extract_fails(&tar, &ExtractOptions { strip_prefix: Some("pkg".into()), ..Default::default() });
    assert!(err.to_string().contains("entry `pkg/up` is a link to `..`, outside the tree"), "{err}");
}

#[test]
fn a_symlink_escaping_through_another_link_is_refused() {
    // `a/up` points at the root and `a/out` at `a/..` lexically, but
    // resolving `up` first makes `a/out` the root's parent: in either order.
    let tar = RawTar::default().dir("a/", 0o755).symlink("a/up", "..").symlink("a/out", "up/..").finish();
    refuses(&tar, "a/out", "outside the tree");
    let tar = RawTar::default().dir("a/", 0o755).symlink("a/out", "up/..").symlink("a/up", "..").finish();
    refuses(&tar, "a/out", "outside the tree");
    // A loop never resolves.
    refuses(&RawTar::default().symlink("x", "y").symlink("y", "x").finish(), "x", "40 links");
}

#[test]
fn writing_through_a_symlinked_directory_is_refused() {
    // In-tree links too: whatever a link points at, nothing is written through it.
    let tar = RawTar::default().dir("real/", 0o755).symlink("alias", "real").file("alias/x", "x", 0o644).finish();
    refuses(&tar, "alias/x", "would be written through a link (`alias`)");
    let tar = RawTar::default().dir("sub/", 0o755).symlink("sub/a", "..").file("sub/a/passwd", "x", 0o644).finish();
    refuses(&tar, "sub/a/passwd", "through a link");
    let tar = RawTar::default().dir("sub/", 0o755).symlink("sub/a", "..").dir("sub/a/d/", 0o755).finish();
    refuses(&tar, "sub/a/d/", "through a link");
    // `a -> /etc` never exists to be written through.
    refuses(&RawTar::default().symlink("a", "/etc").file("a/passwd", "x", 0o644).finish(), "a", "outside the tree");
    // Nor is a file a directory.
    refuses(&RawTar::default().file("f", "x", 0o644).file("f/g", "x", 0o644).finish(), "f/g", "below a file");
}

#[test]
fn an_image_layer_keeps_absolute_links_but_writes_nothing_through_them() {
    // In a root file system `/lib/ld.so` and `..` at the top mean the root
    // itself, so the links are kept as they are.
    let opts = ExtractOptions { rootfs: true, ..Default::default() };
    let tar = RawTar::default().dir("usr/", 0o755).symlink("usr/lib64", "/lib/x86_64-linux-gnu").symlink("up", "../..").finish();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    extract_tar(&tar[..], &out, &opts).unwrap();
    assert_eq!(std::fs::read_link(out.join("usr/lib64")).unwrap(), Path::new("/lib/x86_64-linux-gnu"));
    assert_eq!(std::fs::read_link(out.join("up")).unwrap(), Path::new("../.."));
    // Still nothing is written through a link, least of all an absolute one.
    let tar = RawTar::default().symlink("etc", "/etc").file("etc/passwd", "x", 0o644).finish();
    let err = extract_fails(&tar, &opts);
    assert!(err.to_string().contains("through a link"), "{err}");
}

#[test]
fn a_later_entry_replaces_a_link_without_following_it() {
    let tar = RawTar::default().file("real.txt", "original", 0o644).symlink("link", "real.txt").file("link", "new", 0o755).finish();
    let dir = tempfile::tempdir().unwrap();
    let stats = extract_tar(&tar[..], &dir.path().join("out"), &ExtractOptions::default()).unwrap();
    let out = dir.path().join("out");
    assert_eq!(std::fs::read_to_string(out.join("real.txt")).unwrap(), "original");
    assert!(std::fs::symlink_metadata(out.join("link")).unwrap().is_file());
    assert_eq!(std::fs::read_to_string(out.join("link")).unwrap(), "new");
    assert_eq!(std::fs::metadata(out.join("real.txt")).unwrap().permissions().mode() & 0o7777, 0o644);
    assert_eq!((stats.files, stats.symlinks), (2, 1));
}

#[test]
fn conflicting_entries_are_refused() {
    refuses(&RawTar::default().file("a", "x", 0o644).dir("a/", 0o755).finish(), "a/", "would replace a file or link with a directory");
    refuses(&RawTar::default().dir("a/", 0o755).file("a", "x", 0o644).finish(), "a", "would replace a directory");
    refuses(&RawTar::default().dir("a/", 0o755).symlink("a", "b").finish(), "a", "would replace a directory");
}

#[test]
fn a_hardlink_outside_the_tree_is_refused() {
    refuses(&RawTar::default().hardlink("passwd", "/etc/passwd").finish(), "passwd", "is a hard link to `/etc/passwd`, outside the tree");
    refuses(&RawTar::default().hardlink("x", "../outside").finish(), "x", "outside the tree");
    // Not yet extracted: the link comes before its target.
    let tar = RawTar::default().hardlink("x", "later").file("later", "x", 0o644).finish();
    refuses(&tar, "x", "is a hard link to `later`, which is not an extracted file");
    // Reached through a link, or a link itself.
    let tar = RawTar::default().dir("d/", 0o755).file("d/f", "x", 0o644).symlink("l", "d").hardlink("h", "l/f").finish();
    refuses(&tar, "h", "not an extracted file");
    let tar = RawTar::default().file("f", "x", 0o644).symlink("l", "f").hardlink("h", "l").finish();
    refuses(&tar, "h", "not an extracted file");
    let tar = RawTar::default().dir("d/", 0o755).hardlink("h", "d").finish();
    refuses(&tar, "h", "not an extracted file");
}

#[test]
fn a_char_device_is_refused() {
    refuses(&RawTar::default().special("dev/null", b'3').finish(), "dev/null", "is a device node");
}

#[test]
fn a_block_device_is_refused() {
    refuses(&RawTar::default().special("dev/sda", b'4').finish(), "dev/sda", "is a device node");
}

#[test]
fn a_fifo_is_refused() {
    refuses(&RawTar::default().special("pipe", b'6').finish(), "pipe", "is a fifo");
}

#[test]
fn unknown_entry_types_are_refused() {
    // GNU sparse files and volume labels, for instance.
    refuses(&RawTar::default().special("sparse", b'S').finish(), "sparse", "unsupported type");
}

#[test]
fn a_setuid_file_is_refused() {
    refuses(&RawTar::default().file("bin/su", "x", 0o4755).finish(), "bin/su", "has the setuid bit (mode 4755)");
}

#[test]
fn a_setgid_dir_is_refused() {
    refuses(&RawTar::default().dir("shared/", 0o2775).finish(), "shared/", "has the setgid bit (mode 2775)");
}

#[test]
fn names_that_are_not_paths_are_refused() {
    refuses(&RawTar::default().file("", "x", 0o644).finish(), "", "has an empty name");
    // Only a directory can stand for the extraction directory itself.
    refuses(&RawTar::default().file(".", "x", 0o644).finish(), ".", "names the extraction directory itself");
    refuses(&RawTar::default().symlink("./", "x").finish(), "./", "names the extraction directory itself");
    let tar = RawTar::default().file("pkg", "x", 0o644).finish();
    let err = extract_fails(&tar, &strip("pkg"));
    assert!(err.to_string().contains("entry `pkg` names the extraction directory itself"), "{err}");
    // A parent of the prefix may be a directory, nothing else.
    let err = extract_fails(&RawTar::default().file("a", "x", 0o644).finish(), &strip("a/pkg"));
    assert!(err.to_string().contains("entry `a` is outside the directory `a/pkg`"), "{err}");
}

#[test]
fn a_zip_with_a_dotdot_name_is_refused() {
    let archive = zip(|z| zip_file(z, "../evil", b"x", zip_opts()));
    refuses(&archive, "../evil", "leaves the extraction directory");
    let archive = zip(|z| zip_file(z, "/etc/evil", b"x", zip_opts()));
    refuses(&archive, "/etc/evil", "absolute");
}

#[test]
fn a_zip_symlink_escaping_is_refused() {
    let archive = zip(|z| z.add_symlink("link", "../../etc", zip_opts()).unwrap());
    refuses(&archive, "link", "is a link to `../../etc`, outside the tree");
    let archive = zip(|z| z.add_symlink("link", "/etc", zip_opts()).unwrap());
    refuses(&archive, "link", "outside the tree");
    let archive = zip(|z| {
        z.add_symlink("alias", ".", zip_opts()).unwrap();
        zip_file(z, "alias/x", b"x", zip_opts());
    });
    refuses(&archive, "alias/x", "through a link");
}

#[test]
fn zip_special_files_and_bits_are_refused() {
    // The zip crate drops setuid bits when reading; they must not be lost silently.
    let setuid = zip_opts().external_attributes(0o104755 << 16);
    refuses(&zip(|z| zip_file(z, "su", b"x", setuid)), "su", "has the setuid bit (mode 4755)");
    let fifo = zip_opts().external_attributes(0o010644 << 16);
    refuses(&zip(|z| zip_file(z, "pipe", b"", fifo)), "pipe", "is a fifo");
    let device = zip_opts().external_attributes(0o020644 << 16);
    refuses(&zip(|z| zip_file(z, "null", b"", device)), "null", "is a device node");
    let socket = zip_opts().external_attributes(0o140644 << 16);
    refuses(&zip(|z| zip_file(z, "sock", b"", socket)), "sock", "is a socket");
}

/// A stream of `n` zero bytes compresses to almost nothing.
fn bomb(n: usize) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(&RawTar::default().file("zeros", &"\0".repeat(n), 0o644).finish()).unwrap();
    e.finish().unwrap()
}

#[test]
fn exceeding_the_byte_cap_is_refused() {
    let opts = ExtractOptions { max_bytes: 1 << 20, ..Default::default() };
    let archive = bomb(8 << 20);
    assert!(archive.len() < 64 << 10, "not much of a bomb: {} bytes", archive.len());
    let err = extract_fails(&archive, &opts);
    assert!(matches!(err, ArchiveError::TooLarge(1_048_576)), "{err}");
    assert_eq!(err.to_string(), "the archive expands to more than 1048576 bytes");

    // Many files, each under the cap.
    let mut tar = RawTar::default();
    for i in 0..5 {
        tar = tar.file(&format!("f{i}"), &"x".repeat(300 << 10), 0o644);
    }
    assert!(matches!(extract_fails(&gz(&tar.finish()), &opts), ArchiveError::TooLarge(_)));

    // The same in a zip.
    let archive = zip(|z| zip_file(z, "zeros", &vec![0; 8 << 20], zip_opts()));
    assert!(matches!(extract_fails(&archive, &opts), ArchiveError::TooLarge(_)));

    // A zip that understates an entry's size (in both of its headers) is
    // caught as it is read, before the cap.
    let mut archive = zip(|z| zip_file(z, "zeros", &vec![0; 8 << 20], zip_opts()));
    archive[22..26].copy_from_slice(&10u32.to_le_bytes());
    let central = archive.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
    archive[central + 24..central + 28].copy_from_slice(&10u32.to_le_bytes());
    let err = extract_fails(&archive, &ExtractOptions::default());
    assert!(matches!(err, ArchiveError::Corrupt { .. }) && err.to_string().contains("entry `zeros`"), "{err}");

    // Exactly at the cap is fine.
    let dir = tempfile::tempdir().unwrap();
    let opts = ExtractOptions { max_bytes: 1000, ..Default::default() };
    let tar = RawTar::default().file("a", &"x".repeat(1000), 0o644).finish();
    assert_eq!(extract_tar(&tar[..], &dir.path().join("out"), &opts).unwrap().bytes, 1000);
}

#[test]
fn an_oversized_extended_header_is_refused_before_it_is_read() {
    let huge = "p".repeat(2 << 20);
    let err = extract_fails(&RawTar::default().long_name(&huge).file("x", "x", 0o644).finish(), &ExtractOptions::default());
    assert!(matches!(err, ArchiveError::Corrupt { .. }) && err.to_string().contains("extended header"), "{err}");
}

#[test]
fn a_pax_size_that_disagrees_with_the_header_is_refused() {
    let tar = RawTar::default().file("a", "x", 0o644).pax(&[("size", "5000")]).file("b", "x", 0o644).finish();
    let err = extract_fails(&tar, &ExtractOptions::default());
    assert!(err.to_string().contains("after entry `a`") && err.to_string().contains("pax size"), "{err}");
}

#[test]
fn a_truncated_archive_is_corrupt_and_leaves_nothing() {
    let mut archive = gz(&RawTar::default().file("a", &"x".repeat(100_000), 0o644).finish());
    archive.truncate(archive.len() / 2);
    let err = extract_fails(&archive, &ExtractOptions::default());
    assert!(matches!(err, ArchiveError::Corrupt { .. }) && err.to_string().contains("entry `a`"), "{err}");
}

#[test]
fn a_non_empty_dest_is_refused_and_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.tar");
    std::fs::write(&path, RawTar::default().file("new", "x", 0o644).finish()).unwrap();
    let dest = dir.path().join("out");
    std::fs::create_dir(&dest).unwrap();
    std::fs::write(dest.join("old"), "keep").unwrap();
    let err = extract(&path, &dest, &ExtractOptions::default()).unwrap_err();
    assert!(matches!(err, ArchiveError::DestNotEmpty(_)), "{err}");
    assert_eq!(listing(&dest), ["old"]);
    assert_eq!(listing(dir.path()), ["a.tar", "out"]);
}

#[test]
fn an_unknown_format_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.tar.gz");
    std::fs::write(&path, "not an archive").unwrap();
    let err = extract(&path, &dir.path().join("out"), &ExtractOptions::default()).unwrap_err();
    assert!(matches!(err, ArchiveError::UnknownFormat(_)), "{err}");
    assert!(!dir.path().join("out").exists());
}

// ---- well-formed archives ---------------------------------------------------

const GNU_LONG: &str = "pkg-1.0/deep/dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd/gnu.txt";
const PAX_LONG: &str = "pkg-1.0/deep/pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp/pax.txt";
/// Fits a ustar header by splitting into its prefix and name fields.
const USTAR_LONG: &str = "pkg-1.0/uuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuu/vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv.txt";

/// The tree every well-formed test archive holds, under `pkg-1.0/`, as the
/// tar crate (GNU and ustar headers, pax records) writes it.
fn sample_tar() -> Vec<u8> {
    assert!(GNU_LONG.len() > 100 && PAX_LONG.len() > 100 && USTAR_LONG.len() > 100);
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: &str, kind: tar::EntryType, mode: u32, data: &str, link: Option<&str>| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(data.len() as u64);
        h.set_mtime(0);
        match link {
            Some(l) => b.append_link(&mut h, path, l).unwrap(),
            None => b.append_data(&mut h, path, data.as_bytes()).unwrap(),
        }
    };
    add("pkg-1.0/", tar::EntryType::Directory, 0o700, "", None);
    add("pkg-1.0/src/", tar::EntryType::Directory, 0o700, "", None);
    add("pkg-1.0/src/main.c", tar::EntryType::Regular, 0o600, "int main(){}", None);
    add("pkg-1.0/configure", tar::EntryType::Regular, 0o744, "#!/bin/sh", None);
    add("pkg-1.0/link", tar::EntryType::Symlink, 0o777, "", Some("src/main.c"));
    add("pkg-1.0/src/up", tar::EntryType::Symlink, 0o777, "", Some("../configure"));
    add("pkg-1.0/hard", tar::EntryType::Link, 0o644, "", Some("pkg-1.0/src/main.c"));
    add(GNU_LONG, tar::EntryType::Regular, 0o644, "gnu", None);

    b.append_pax_extensions([("path", PAX_LONG.as_bytes())]).unwrap();
    let mut h = tar::Header::new_ustar();
    h.set_path("pkg-1.0/pax-placeholder").unwrap();
    h.set_mode(0o644);
    h.set_size(3);
    h.set_cksum();
    b.append(&h, &b"pax"[..]).unwrap();

    let mut h = tar::Header::new_ustar();
    h.set_mode(0o644);
    h.set_size(5);
    b.append_data(&mut h, USTAR_LONG, &b"ustar"[..]).unwrap();
    b.into_inner().unwrap()
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

/// The normalized tree: modes, links and long names.
fn check_tree(out: &Path, hardlink: bool) {
    assert_eq!(mode(out), 0o755);
    assert_eq!(mode(&out.join("src")), 0o755);
    assert_eq!(std::fs::read_to_string(out.join("src/main.c")).unwrap(), "int main(){}");
    assert_eq!(mode(&out.join("src/main.c")), 0o644);
    assert_eq!(std::fs::read_to_string(out.join("configure")).unwrap(), "#!/bin/sh");
    assert_eq!(mode(&out.join("configure")), 0o755);
    assert_eq!(std::fs::read_link(out.join("link")).unwrap(), Path::new("src/main.c"));
    assert_eq!(std::fs::read_link(out.join("src/up")).unwrap(), Path::new("../configure"));
    assert_eq!(std::fs::read_to_string(out.join("src/up")).unwrap(), "#!/bin/sh");
    for (path, content) in [(GNU_LONG, "gnu"), (PAX_LONG, "pax")] {
        let path = path.strip_prefix("pkg-1.0/").unwrap();
        assert_eq!(std::fs::read_to_string(out.join(path)).unwrap(), content, "{path}");
        assert_eq!(mode(out.join(path).parent().unwrap()), 0o755, "an implied directory");
    }
    if hardlink {
        let ino = |p: &str| std::fs::metadata(out.join(p)).unwrap().ino();
        assert_eq!(ino("hard"), ino("src/main.c"));
        let ustar = USTAR_LONG.strip_prefix("pkg-1.0/").unwrap();
        assert_eq!(std::fs::read_to_string(out.join(ustar)).unwrap(), "ustar");
    }
    // Archive mtimes (0 here) are not restored.
    let mtime = std::fs::metadata(out.join("src/main.c")).unwrap().mtime();
    assert!(mtime > 1_000_000_000, "mtime {mtime} came from the archive");
}

fn strip(prefix: &str) -> ExtractOptions {
    ExtractOptions { strip_prefix: Some(prefix.into()), ..Default::default() }
}

#[test]
fn every_tar_format_round_trips() {
    let plain = sample_tar();
    let formats: [(Format, Vec<u8>); 5] = [
        (Format::Tar, plain.clone()),
        (Format::TarGz, gz(&plain)),
        (Format::TarXz, xz(&plain)),
        (Format::TarZst, zst(&plain)),
        (Format::TarBz2, bz2(&plain)),
    ];
    for (format, bytes) in formats {
        assert_eq!(Format::detect(&bytes[..bytes.len().min(512)]), Some(format));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("archive");
        std::fs::write(&path, &bytes).unwrap();
        let out = dir.path().join("out");
        let stats = extract(&path, &out, &strip("pkg-1.0")).unwrap_or_else(|e| panic!("{format:?}: {e}"));
        // src, deep, the two long directories and the ustar one.
        assert_eq!((stats.files, stats.dirs, stats.symlinks), (6, 5, 2), "{format:?}");
        assert_eq!(stats.bytes, 12 + 9 + 3 + 3 + 5, "{format:?}");
        check_tree(&out, true);
        assert_eq!(listing(dir.path()), ["archive", "out"]);
    }
}

#[test]
fn a_zip_round_trips() {
    // Zip has no hard links.
    let archive = zip(|z| {
        z.add_directory("pkg-1.0/", zip_opts().unix_permissions(0o700)).unwrap();
        z.add_directory("pkg-1.0/src/", zip_opts().unix_permissions(0o700)).unwrap();
        zip_file(z, "pkg-1.0/src/main.c", b"int main(){}", zip_opts().unix_permissions(0o600));
        zip_file(z, "pkg-1.0/configure", b"#!/bin/sh", zip_opts().unix_permissions(0o744));
        z.add_symlink("pkg-1.0/link", "src/main.c", zip_opts()).unwrap();
        z.add_symlink("pkg-1.0/src/up", "../configure", zip_opts()).unwrap();
        zip_file(z, GNU_LONG, b"gnu", zip_opts());
        zip_file(z, PAX_LONG, b"pax", zip_opts());
    });
    assert_eq!(Format::detect(&archive), Some(Format::Zip));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("archive");
    std::fs::write(&path, &archive).unwrap();
    let stats = extract(&path, &dir.path().join("out"), &strip("pkg-1.0")).unwrap();
    assert_eq!((stats.files, stats.dirs, stats.symlinks), (4, 4, 2));
    check_tree(&dir.path().join("out"), false);
}

#[test]
fn strip_prefix_refuses_an_entry_outside_it() {
    let tar = RawTar::default().dir("pkg-1.0/", 0o755).file("pkg-1.0/a", "x", 0o644).file("other/x", "x", 0o644).finish();
    let err = extract_fails(&tar, &strip("pkg-1.0"));
    assert!(err.to_string().contains("entry `other/x` is outside the directory `pkg-1.0` the source strips"), "{err}");
    // A sibling whose name merely starts like the prefix.
    let tar = RawTar::default().file("pkg-1.0/a", "x", 0o644).file("pkg-1.0-extra/b", "x", 0o644).finish();
    assert!(extract_fails(&tar, &strip("pkg-1.0")).to_string().contains("`pkg-1.0-extra/b`"));
    let archive = zip(|z| zip_file(z, "elsewhere", b"x", zip_opts()));
    assert!(extract_fails(&archive, &strip("pkg-1.0")).to_string().contains("`elsewhere` is outside"));
}

#[test]
fn strip_prefix_accepts_dot_slash_names_and_parent_directories() {
    let tar = RawTar::default().dir("./", 0o755).dir("./pkg-1.0/", 0o755).file("./pkg-1.0/a", "x", 0o644).finish();
    let dir = tempfile::tempdir().unwrap();
    extract_tar(&tar[..], &dir.path().join("out"), &strip("pkg-1.0")).unwrap();
    assert_eq!(listing(&dir.path().join("out")), ["a"]);
    let tar = RawTar::default().dir("a/", 0o755).dir("a/pkg-1.0/", 0o755).file("a/pkg-1.0/a", "x", 0o644).finish();
    let dir = tempfile::tempdir().unwrap();
    extract_tar(&tar[..], &dir.path().join("out2"), &strip("a/pkg-1.0")).unwrap();
    assert_eq!(listing(&dir.path().join("out2")), ["a"]);
}

#[test]
fn a_git_archive_global_header_is_ignored() {
    // `git archive` starts with a pax global header named `pax_global_header`
    // holding the commit id; it is not a file, nor outside the prefix.
    let tar = RawTar::default()
        .entry(b"pax_global_header", b'g', 0o666, b"52 comment=0123456789abcdef0123456789abcdef01234567\n", b"")
        .dir("pkg-1.0/", 0o775)
        .file("pkg-1.0/a", "x", 0o664)
        .finish();
    let dir = tempfile::tempdir().unwrap();
    let stats = extract_tar(&tar[..], &dir.path().join("out"), &strip("pkg-1.0")).unwrap();
    assert_eq!(listing(&dir.path().join("out")), ["a"]);
    assert_eq!((stats.files, stats.dirs), (1, 0));
}

#[test]
fn extract_tar_reads_a_decompressed_stream() {
    let bytes = xz(&sample_tar());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("nested/out");
    extract_tar(decompress(Format::TarXz, &bytes[..]), &out, &strip("pkg-1.0")).unwrap();
    check_tree(&out, true);
}

#[test]
fn an_empty_dest_directory_is_filled() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    extract_tar(&sample_tar()[..], &out, &strip("pkg-1.0")).unwrap();
    check_tree(&out, true);
}

#[test]
fn formats_are_detected_by_magic_bytes() {
    assert_eq!(Format::detect(&[0x1f, 0x8b, 8]), Some(Format::TarGz));
    assert_eq!(Format::detect(b"\xfd7zXZ\0rest"), Some(Format::TarXz));
    assert_eq!(Format::detect(&[0x28, 0xb5, 0x2f, 0xfd, 0]), Some(Format::TarZst));
    assert_eq!(Format::detect(b"BZh91AY"), Some(Format::TarBz2));
    assert_eq!(Format::detect(b"PK\x03\x04"), Some(Format::Zip));
    assert_eq!(Format::detect(&RawTar::default().file("a", "", 0o644).finish()), Some(Format::Tar));
    assert_eq!(Format::detect(b"hello"), None);
    assert_eq!(Format::detect(&[0u8; 600]), None);
}

#[test]
fn the_real_upstream_tarballs_extract() {
    let files =
        common::example_files(&["//examples/pkgs/zlib:zlib-src", "//examples/pkgs/lua:lua-src", "//examples/pkgs/sqlite:sqlite-src"]);
    let cases = [
        ("//examples/pkgs/zlib:zlib-src", "zlib-1.2.13.dfsg", "zlib.h"),
        ("//examples/pkgs/lua:lua-src", "lua-5.4.4", "src/lua.h"),
        ("//examples/pkgs/sqlite:sqlite-src", "sqlite3-3.40.1", "src/sqlite.h.in"),
    ];
    for (node, prefix, expect) in cases {
        let path = &files[node];
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("src");
        let stats = extract(path, &out, &strip(prefix)).unwrap_or_else(|e| panic!("{node}: {e}"));
        assert!(out.join(expect).is_file(), "{node} lacks {expect}");
        assert!(stats.files > 10 && stats.bytes > 100_000, "{node}: {stats:?}");
        for entry in walkdir::WalkDir::new(&out) {
            let entry = entry.unwrap();
            let m = mode(entry.path());
            assert!(m == 0o755 || m == 0o644 || entry.path_is_symlink(), "{}: mode {m:o}", entry.path().display());
        }
    }
}
