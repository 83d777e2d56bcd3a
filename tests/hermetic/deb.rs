//! `dhib::exec::deb`: Debian's version ordering (checked against dpkg
//! itself), `Packages` indexes, the resolver on a hand-written index, the
//! `.deb` reader and installer on hand-made packages (every refusal), and
//! all of it on real Debian packages in a local repository that
//! `scripts/debian-test-repo.sh` builds with apt and apt-ftparchive.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use dhib::exec::deb::{self, DebError, IndexEntry};
use sha2::{Digest, Sha256};

// ---------------------------------------------------------------------------
// Versions

#[test]
fn versions_order_as_dpkg_orders_them() {
    use Ordering::{Equal, Greater, Less};
    let table = [
        ("1.0~rc1", "1.0", Less),
        ("1:0.9", "2.0", Greater),
        ("2.36-9+deb12u9", "2.36-9+deb12u14", Less),
        ("1.2.13.dfsg-1", "1:1.2.13.dfsg-1", Less),
        ("1.0", "1.0", Equal),
        ("0:1.0", "1.0", Equal),
        ("1.0-0", "1.0", Equal),
        ("1.01", "1.1", Equal),
        ("1.10", "1.9", Greater),
        ("9", "10", Less),
        ("2:1", "10:0", Less),
        ("1.0~", "1.0", Less),
        ("1.0~~", "1.0~", Less),
        ("1.0~~a", "1.0~~", Greater),
        ("1.0", "1.0-0~", Greater),
        ("1.0a", "1.0", Greater),
        ("1.0a", "1.0+", Less),
        ("1.0a", "1.0A", Greater),
        ("1.0+", "1.0.", Less),
        ("1.0", "1.0.", Less),
        ("1.0.0", "1.0", Greater),
        ("1.0-1", "1.0-1.1", Less),
        ("1.0~rc1-1", "1.0-1", Less),
        ("1.0+dfsg", "1.0", Greater),
        ("3.0.22-1~deb12u2", "3.0.22-1", Less),
        ("1:1.35.0-4+deb12u1+b1", "1:1.35.0-4+deb12u1", Greater),
        ("12.2.0-14+deb12u1", "12.2.0-14", Greater),
        ("2026f-0+deb12u1", "2026a-0+deb12u1", Greater),
    ];
    for (a, b, want) in table {
        assert_eq!(deb::compare_versions(a, b), want, "{a} vs {b}");
        assert_eq!(deb::compare_versions(b, a), want.reverse(), "{b} vs {a}");
        assert_eq!(dpkg_compare(a, b), want, "dpkg disagrees with the table on {a} vs {b}");
    }
}

/// Random versions from the characters that matter (digits, letters, `~`,
/// `+`, `.`, `-`, epochs), compared by dpkg and by us.
#[test]
fn versions_agree_with_dpkg_on_generated_pairs() {
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let mut version = || {
        let mut v = String::new();
        if next(4) == 0 {
            v.push_str(&format!("{}:", next(3)));
        }
        v.push(char::from(b'0' + next(10) as u8));
        for _ in 0..next(6) {
            v.push(b"0123456789ab~+.~"[next(16) as usize] as char);
        }
        if next(2) == 0 {
            v.push('-');
            v.push(char::from(b'0' + next(10) as u8));
            for _ in 0..next(3) {
                v.push(b"01a~+."[next(6) as usize] as char);
            }
        }
        v
    };
    for _ in 0..150 {
        let (a, b) = (version(), version());
        assert_eq!(deb::compare_versions(&a, &b), dpkg_compare(&a, &b), "{a} vs {b}");
    }
}

fn dpkg_compare(a: &str, b: &str) -> Ordering {
    let holds = |op: &str| {
        Command::new("dpkg").args(["--compare-versions", a, op, b]).status().unwrap_or_else(|e| panic!("running dpkg: {e}")).success()
    };
    if holds("lt") {
        Ordering::Less
    } else if holds("eq") {
        Ordering::Equal
    } else {
        Ordering::Greater
    }
}

// ---------------------------------------------------------------------------
// Indexes and relations

const INDEX_HEAD: &str = "\
Package: busybox-static
Architecture: amd64
Version: 1:1.35.0-4+deb12u1+b1
Source: busybox (1:1.35.0-4+deb12u1)
Provides: busybox
Filename: pool/main/b/busybox/busybox-static_1.35.0-4+deb12u1+b1_amd64.deb
Size: 928188
SHA256: 3d3fdbe91d4660c873e14b092c213fe81c1da6362daa236eb25d0171eb108744
Description: Standalone rescue shell with tons of builtin utilities
 BusyBox combines tiny versions of many common UNIX utilities into a single
 .
 small executable.

Package: libgcc-s1
Architecture: amd64
Version: 12.2.0-14+deb12u1
Multi-Arch: same
Pre-Depends: libc6
Depends: gcc-12-base (= 12.2.0-14+deb12u1),
 libc6 (>= 2.35)
Provides: libgcc1 (= 1:12.2.0-14+deb12u1)
Filename: pool/main/g/gcc-12/libgcc-s1_12.2.0-14+deb12u1_amd64.deb
Size: 49856
SHA256: 3016e62cb4b7cd8038822870601f5ed131befe942774d0f745622cc77d8a88f7
  \t
Package: base-files
Essential: yes
Version: 12.4+deb12u15
Architecture: amd64
Filename: pool/main/b/base-files/base-files_12.4+deb12u15_amd64.deb
Size: not-a-number

Description: a paragraph without Package describes nothing
";

#[test]
fn packages_index_paragraphs_and_continuation_lines() {
    let entries = deb::parse_packages(INDEX_HEAD);
    let names: Vec<&str> = entries.iter().map(|e| e.package.as_str()).collect();
    assert_eq!(names, ["busybox-static", "libgcc-s1", "base-files"]);

    let busybox = &entries[0];
    assert_eq!(busybox.version, "1:1.35.0-4+deb12u1+b1");
    assert_eq!(busybox.source.as_deref(), Some("busybox (1:1.35.0-4+deb12u1)"));
    assert_eq!(busybox.filename, "pool/main/b/busybox/busybox-static_1.35.0-4+deb12u1+b1_amd64.deb");
    assert_eq!(busybox.size, 928188);
    assert_eq!(busybox.provides, "busybox");
    assert_eq!(busybox.depends, "");

    let libgcc = &entries[1];
    assert_eq!(libgcc.depends, "gcc-12-base (= 12.2.0-14+deb12u1),\nlibc6 (>= 2.35)");
    assert_eq!(libgcc.pre_depends, "libc6");
    assert_eq!(libgcc.multi_arch.as_deref(), Some("same"));
    assert!(!libgcc.essential);
    let groups = deb::parse_relations(&libgcc.depends).expect("parses");
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[1][0].to_string(), "libc6 (>= 2.35)");

    // A whitespace-only line ends a paragraph; a bad Size reads as 0.
    assert!(entries[2].essential);
    assert_eq!(entries[2].size, 0);
    assert_eq!(entries[2].sha256, "");
}

#[test]
fn packages_files_plain_gzip_and_xz() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plain = dir.path().join("Packages");
    fs::write(&plain, INDEX_HEAD).expect("write");
    let gz = dir.path().join("Packages.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(INDEX_HEAD.as_bytes()).expect("gzip");
    fs::write(&gz, enc.finish().expect("gzip")).expect("write");
    // Named without a suffix: the format is recognized by content.
    let xz = dir.path().join("Packages-xz");
    let mut enc = xz2::write::XzEncoder::new(Vec::new(), 6);
    enc.write_all(INDEX_HEAD.as_bytes()).expect("xz");
    fs::write(&xz, enc.finish().expect("xz")).expect("write");

    let want = deb::parse_packages(INDEX_HEAD);
    for path in [&plain, &gz, &xz] {
        assert_eq!(deb::read_packages(path).expect("reads"), want, "{}", path.display());
    }
    let err = deb::read_packages(&dir.path().join("missing")).expect_err("no file");
    assert!(matches!(err, DebError::Io { .. }), "{err}");
}

#[test]
fn relations_parse_with_alternatives_operators_and_qualifiers() {
    let groups = deb::parse_relations(
        "libc6 (>= 2.34), default-mta | mail-transport-agent, python3:any (<< 3.12), perl:native, \
         a (<< 1), b (<= 1), c (= 1:2-3), d (>> 1), e(>=1), old (< 1), older (> 1)",
    )
    .expect("parses");
    let shown: Vec<String> = groups.iter().map(|g| g.iter().map(ToString::to_string).collect::<Vec<_>>().join(" | ")).collect();
    assert_eq!(
        shown,
        [
            "libc6 (>= 2.34)",
            "default-mta | mail-transport-agent",
            "python3:any (<< 3.12)",
            "perl:native",
            "a (<< 1)",
            "b (<= 1)",
            "c (= 1:2-3)",
            "d (>> 1)",
            "e (>= 1)",
            // dpkg reads the obsolete `<` and `>` as `<=` and `>=`.
            "old (<= 1)",
            "older (>= 1)",
        ]
    );
    assert_eq!(deb::parse_relations("").expect("empty"), Vec::<Vec<deb::Relation>>::new());
    for bad in ["libc6 (>= )", "libc6 (2.0)", "libc6 (>= 2.0", "foo [amd64]", "foo <!nocheck>", "a b", "| x", "x:"] {
        assert!(deb::parse_relations(bad).is_err(), "{bad} should not parse");
    }
}

// ---------------------------------------------------------------------------
// The resolver

/// Every rule of the resolver in a few packages.
const RESOLVER_INDEX: &str = "
Package: gcc-12
Version: 12.2.0-14
Architecture: amd64
Depends: cpp-12 (= 12.2.0-14), gcc-12-base (= 12.2.0-14), libgcc-s1 (>= 3.0), binutils (>= 2.40)

Package: cpp-12
Version: 12.2.0-14
Architecture: amd64
Depends: gcc-12-base (= 12.2.0-14), libmpc3 (>= 1.1.0), libc6 (>= 2.34)

Package: libmpc3
Version: 1.3.1-1
Architecture: amd64
Depends: libc6 (>= 2.14)

Package: gcc-12-base
Version: 12.2.0-14
Architecture: amd64

Package: libgcc-s1
Version: 12.2.0-14
Architecture: amd64
Provides: libgcc1 (= 1:12.2.0-14)
Depends: gcc-12-base (= 12.2.0-14), libc6 (>= 2.35)

Package: libc6
Version: 2.36-9+deb12u14
Architecture: amd64
Depends: libgcc-s1

Package: libc6
Version: 2.36-9+deb12u7
Architecture: amd64
Depends: libgcc-s1

Package: binutils
Version: 2.40-2
Architecture: amd64
Pre-Depends: binutils-common (= 2.40-2)

Package: binutils-common
Version: 2.40-2
Architecture: amd64

Package: libfoo
Version: 1.0-1
Architecture: amd64

Package: libfoo
Version: 2.0-1
Architecture: amd64

Package: libfoo
Version: 1.5-1
Architecture: amd64

Package: libfoo
Version: 3.0-1
Architecture: i386

Package: uses-lt
Version: 1
Architecture: amd64
Depends: libfoo (<< 2.0)

Package: uses-le
Version: 1
Architecture: amd64
Depends: libfoo (<= 1.0-1)

Package: uses-eq
Version: 1
Architecture: amd64
Depends: libfoo (= 1.5-1)

Package: uses-gt
Version: 1
Architecture: amd64
Depends: libfoo (>> 1.5-1)

Package: uses-ge
Version: 1
Architecture: all
Depends: libfoo (>= 1.1)

Package: mawk
Version: 1.3.4
Architecture: amd64
Provides: awk

Package: gawk
Version: 5.2.1
Architecture: amd64
Provides: awk

Package: postfix
Version: 3.7
Architecture: amd64
Provides: mail-transport-agent

Package: exim4
Version: 4.96
Architecture: amd64
Provides: mail-transport-agent

Package: mailer
Version: 1
Architecture: all
Depends: default-mta | mail-transport-agent, libpython3-stdlib | python3-minimal:any

Package: needs-awk
Version: 1
Architecture: amd64
Depends: awk

Package: prefers-gawk
Version: 1
Architecture: amd64
Depends: gawk | mawk

Package: old-app
Version: 1
Architecture: amd64
Depends: libgcc1 (>= 1:4.1.1), tzdata

Package: tzdata
Version: 2026f-0+deb12u1
Architecture: all

Package: scripts
Version: 1
Architecture: amd64
Depends: python3:any, perl:native

Package: python3
Version: 3.11.2-1
Architecture: amd64
Multi-Arch: allowed

Package: perl
Version: 5.36.0-7
Architecture: amd64

Package: python3-minimal
Version: 3.11.2-1
Architecture: amd64
";

fn names(entries: &[&IndexEntry]) -> Vec<String> {
    entries.iter().map(|e| format!("{}={}", e.package, e.version)).collect()
}

fn resolve_err(index: &[IndexEntry], roots: &[&str]) -> String {
    deb::resolve(index, roots, "amd64").expect_err("unsatisfiable").to_string()
}

#[test]
fn resolver_follows_depends_and_pre_depends_to_the_highest_versions() {
    let index = deb::parse_packages(RESOLVER_INDEX);
    let closure = deb::resolve(&index, &["gcc-12"], "amd64").expect("resolves");
    assert_eq!(
        names(&closure),
        [
            "binutils=2.40-2",
            "binutils-common=2.40-2", // through Pre-Depends
            "cpp-12=12.2.0-14",
            "gcc-12=12.2.0-14",
            "gcc-12-base=12.2.0-14",
            "libc6=2.36-9+deb12u14", // the higher of two versions
            "libgcc-s1=12.2.0-14",   // libc6 <-> libgcc-s1 is a cycle
            "libmpc3=1.3.1-1",
        ]
    );
    // Same answer whatever the order of the index.
    let mut reversed = index.clone();
    reversed.reverse();
    assert_eq!(names(&deb::resolve(&reversed, &["gcc-12"], "amd64").expect("resolves")), names(&closure));

    let full = deb::resolve_closure(&index, &["gcc-12"], "amd64").expect("resolves");
    let deps = |p: &str| full.depends[p].iter().copied().collect::<Vec<_>>();
    assert_eq!(deps("gcc-12"), ["binutils", "cpp-12", "gcc-12-base", "libgcc-s1"]);
    assert_eq!(deps("libc6"), ["libgcc-s1"]);
    assert_eq!(deps("libgcc-s1"), ["gcc-12-base", "libc6"]);
    assert!(deps("gcc-12-base").is_empty());
}

#[test]
fn resolver_version_constraints_pick_the_highest_satisfying_version() {
    let index = deb::parse_packages(RESOLVER_INDEX);
    let libfoo = |root: &str| {
        let closure = deb::resolve(&index, &[root], "amd64").expect("resolves");
        closure.iter().find(|e| e.package == "libfoo").map(|e| e.version.clone()).expect("libfoo chosen")
    };
    // The i386 libfoo 3.0-1 is never a candidate.
    for (root, want) in [
        ("libfoo", "2.0-1"),
        ("uses-lt", "1.5-1"),
        ("uses-le", "1.0-1"),
        ("uses-eq", "1.5-1"),
        ("uses-gt", "2.0-1"),
        ("uses-ge", "2.0-1"), // an `all` package resolves against amd64
        ("libfoo (<< 1.5)", "1.0-1"),
    ] {
        assert_eq!(libfoo(root), want, "{root}");
    }
}

#[test]
fn resolver_alternatives_and_virtual_packages() {
    let index = deb::parse_packages(RESOLVER_INDEX);
    let resolve = |roots: &[&str]| names(&deb::resolve(&index, roots, "amd64").expect("resolves"));

    // `default-mta` does not exist: the second alternative, a virtual package
    // with two providers, goes to the first provider by name. The next group
    // needs `python3-minimal:any` after an absent first alternative.
    assert_eq!(resolve(&["mailer"]), ["exim4=4.96", "mailer=1", "python3-minimal=3.11.2-1"]);
    assert_eq!(resolve(&["needs-awk"]), ["gawk=5.2.1", "needs-awk=1"]);
    // A provider already in the closure satisfies the virtual package.
    assert_eq!(resolve(&["mawk", "needs-awk"]), ["mawk=1.3.4", "needs-awk=1"]);
    // A group already satisfied by a later alternative adds nothing.
    assert_eq!(resolve(&["mawk", "prefers-gawk"]), ["mawk=1.3.4", "prefers-gawk=1"]);
    assert_eq!(resolve(&["prefers-gawk"]), ["gawk=5.2.1", "prefers-gawk=1"]);
    // A versioned Provides satisfies a versioned dependency; `tzdata` is `all`.
    assert_eq!(
        resolve(&["old-app"]),
        ["gcc-12-base=12.2.0-14", "libc6=2.36-9+deb12u14", "libgcc-s1=12.2.0-14", "old-app=1", "tzdata=2026f-0+deb12u1"]
    );
    // `:any` and `:native` resolve to the one architecture.
    assert_eq!(resolve(&["scripts"]), ["perl=5.36.0-7", "python3=3.11.2-1", "scripts=1"]);
    // Roots may be relations, alternatives included.
    assert_eq!(resolve(&["awk"]), ["gawk=5.2.1"]);
    assert_eq!(resolve(&["nothing-here | mawk"]), ["mawk=1.3.4"]);
}

#[test]
fn resolver_errors_name_the_chain() {
    let mut index = deb::parse_packages(RESOLVER_INDEX);
    index.retain(|e| e.package != "libmpc3");
    assert_eq!(resolve_err(&index, &["gcc-12"]), "gcc-12 -> cpp-12 -> libmpc3 (>= 1.1.0): not in the index");

    let mut index = deb::parse_packages(RESOLVER_INDEX);
    for e in index.iter_mut().filter(|e| e.package == "libmpc3") {
        e.version = "1.0.3-1".into();
    }
    assert_eq!(resolve_err(&index, &["gcc-12"]), "gcc-12 -> cpp-12 -> libmpc3 (>= 1.1.0): the index has only libmpc3 1.0.3-1");

    let index = deb::parse_packages(RESOLVER_INDEX);
    assert_eq!(resolve_err(&index, &["nothing"]), "nothing: not in the index");
    assert_eq!(resolve_err(&index, &["not a name"]), "not a name: is not a package name or relation");
    // One version per name: libfoo 2.0-1 is in, so uses-lt cannot have 1.5-1.
    assert_eq!(resolve_err(&index, &["libfoo", "uses-lt"]), "uses-lt -> libfoo (<< 2.0): the closure already has libfoo 2.0-1");
    assert_eq!(resolve_err(&index, &["libfoo:i386"]), "libfoo:i386: architecture i386 is not resolved, only amd64 and all");
    assert_eq!(
        resolve_err(&index, &["mail-transport-agent (>= 1)"]),
        "mail-transport-agent (>= 1): the index has only exim4 (provides mail-transport-agent without a version), \
         postfix (provides mail-transport-agent without a version)"
    );
    assert_eq!(
        resolve_err(&index, &["default-mta | libfoo (>> 9)"]),
        "default-mta | libfoo (>> 9): default-mta: not in the index; \
         libfoo (>> 9): the index has only libfoo 2.0-1, libfoo 1.5-1, libfoo 1.0-1"
    );

    let mut index = deb::parse_packages(RESOLVER_INDEX);
    for e in index.iter_mut().filter(|e| e.package == "binutils") {
        e.pre_depends = "binutils-common (= 2.40".into();
    }
    assert_eq!(resolve_err(&index, &["gcc-12"]), "gcc-12 -> binutils -> binutils-common (= 2.40: cannot be parsed (in Pre-Depends)");
}

// ---------------------------------------------------------------------------
// Hand-made packages

enum Item<'a> {
    Dir(&'a str, u32),
    File(&'a str, u32, &'a [u8]),
    Symlink(&'a str, &'a str),
    HardLink(&'a str, &'a str),
    Char(&'a str),
    Fifo(&'a str),
}

/// A tar with names written byte for byte, so tests can make entries the
/// tar crate's builder refuses (`..`, absolute paths).
fn tar_of(items: &[Item]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for item in items {
        let mut h = tar::Header::new_ustar();
        let (name, kind, mode, data, link): (&str, _, u32, &[u8], &str) = match *item {
            Item::Dir(n, m) => (n, tar::EntryType::Directory, m, b"", ""),
            Item::File(n, m, d) => (n, tar::EntryType::Regular, m, d, ""),
            Item::Symlink(n, t) => (n, tar::EntryType::Symlink, 0o777, b"", t),
            Item::HardLink(n, t) => (n, tar::EntryType::Link, 0o644, b"", t),
            Item::Char(n) => (n, tar::EntryType::Char, 0o666, b"", ""),
            Item::Fifo(n) => (n, tar::EntryType::Fifo, 0o644, b"", ""),
        };
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append(&h, data).expect("tar");
    }
    b.into_inner().expect("tar")
}

fn compress(data: &[u8], suffix: &str) -> Vec<u8> {
    match suffix {
        "" => data.to_vec(),
        ".gz" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(data).expect("gz");
            e.finish().expect("gz")
        }
        ".xz" => {
            let mut e = xz2::write::XzEncoder::new(Vec::new(), 1);
            e.write_all(data).expect("xz");
            e.finish().expect("xz")
        }
        ".zst" => zstd::encode_all(data, 1).expect("zstd"),
        ".bz2" => {
            let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
            e.write_all(data).expect("bz2");
            e.finish().expect("bz2")
        }
        other => panic!("no compressor for {other}"),
    }
}

fn ar_of(members: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut out = b"!<arch>\n".to_vec();
    for (name, data) in members {
        out.extend(format!("{name:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n", 0, 0, 0, 100644, data.len()).as_bytes());
        out.extend(data);
        if data.len() % 2 == 1 {
            out.push(b'\n');
        }
    }
    out
}

const CONTROL: &str = "\
Package: hello
Version: 1:2.10-3+b1
Architecture: amd64
Maintainer: Example Maintainer <maintainer@example.org>
Installed-Size: 280
Pre-Depends: dpkg (>= 1.17.14)
Depends: libc6 (>= 2.34),
 zlib1g (>= 1:1.1.4)
Provides: greeting (= 2.10)
Multi-Arch: foreign
Source: hello (2.10-3)
Section: devel
Homepage: https://www.gnu.org/software/hello/
Description: example package based on GNU hello
 The GNU hello program produces a familiar, friendly greeting.
";

fn deb_with(data: &[Item], compression: &str) -> Vec<u8> {
    let control = tar_of(&[Item::Dir("./", 0o755), Item::File("./control", 0o644, CONTROL.as_bytes())]);
    ar_of(&[
        ("debian-binary", b"2.0\n".to_vec()),
        ("control.tar.gz", compress(&control, ".gz")),
        (&format!("data.tar{compression}"), compress(&tar_of(data), compression)),
    ])
}

fn write_deb(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, bytes).expect("write deb");
    path
}

/// A root as dhib prepares it: merged /usr.
fn merged_root() -> tempfile::TempDir {
    let root = tempfile::tempdir().expect("tempdir");
    for dir in ["usr/bin", "usr/lib", "usr/lib64", "usr/sbin"] {
        fs::create_dir_all(root.path().join(dir)).expect("mkdir");
    }
    for alias in ["bin", "lib", "lib64", "sbin"] {
        std::os::unix::fs::symlink(format!("usr/{alias}"), root.path().join(alias)).expect("symlink");
    }
    root
}

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).expect("stat").permissions().mode() & 0o7777
}

fn link(path: &Path) -> String {
    fs::read_link(path).expect("readlink").to_string_lossy().into_owned()
}

#[test]
fn reads_control_and_unpacks_every_compression() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = [Item::Dir("./", 0o755), Item::Dir("./usr/", 0o755), Item::File("./usr/hello", 0o644, b"hi\n")];
    for compression in ["", ".gz", ".xz", ".zst", ".bz2"] {
        let deb = write_deb(tmp.path(), &format!("hello{compression}.deb"), &deb_with(&data, compression));
        let c = deb::read_control(&deb).expect("control");
        assert_eq!(c.package, "hello");
        assert_eq!(c.version, "1:2.10-3+b1");
        assert_eq!(c.architecture, "amd64");
        assert_eq!(c.depends, "libc6 (>= 2.34),\nzlib1g (>= 1:1.1.4)");
        assert_eq!(c.pre_depends, "dpkg (>= 1.17.14)");
        assert_eq!(c.provides, "greeting (= 2.10)");
        assert_eq!(c.multi_arch.as_deref(), Some("foreign"));
        assert_eq!(c.installed_size, Some(280));
        assert_eq!(c.source.as_deref(), Some("hello (2.10-3)"));
        assert_eq!(c.homepage.as_deref(), Some("https://www.gnu.org/software/hello/"));
        assert_eq!(c.description, "example package based on GNU hello");
        assert!(!c.essential);

        let root = merged_root();
        let got = deb::unpack(&deb, root.path()).expect("unpacks");
        assert_eq!(got.paths, ["usr", "usr/hello"]);
        assert_eq!(fs::read(root.path().join("usr/hello")).expect("read"), b"hi\n");
    }
}

#[test]
fn unpacks_into_merged_usr() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = merged_root();
    let deb = write_deb(
        tmp.path(),
        "a.deb",
        &deb_with(
            &[
                Item::Dir("./", 0o755),
                Item::Dir("./bin/", 0o755),
                Item::File("./bin/tool", 0o755, b"#!/bin/sh\n"),
                Item::Dir("./sbin/", 0o755),
                Item::File("./sbin/daemon", 0o700, b"x"),
                Item::Dir("./lib/", 0o755),
                Item::Dir("./lib/x86_64-linux-gnu/", 0o755),
                Item::File("./lib/x86_64-linux-gnu/libfoo.so.1.0", 0o644, b"\x7fELF"),
                Item::Symlink("./lib/x86_64-linux-gnu/libfoo.so.1", "libfoo.so.1.0"),
                Item::Dir("./lib64/", 0o755),
                Item::Symlink("./lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"),
                Item::HardLink("./bin/tool2", "./bin/tool"),
                Item::Dir("./usr/", 0o755),
                Item::Dir("./usr/share/", 0o755),
                Item::File("./usr/share/readme", 0o644, b"r"),
                // base-files ships the aliases from Debian 13 on.
                Item::Symlink("./bin", "usr/bin"),
            ],
            ".xz",
        ),
    );
    let got = deb::unpack(&deb, root.path()).expect("unpacks");
    assert_eq!(deb::paths(&deb).expect("lists"), got.paths, "what the SBOM says the package ships");
    assert_eq!(
        got.paths,
        [
            "usr/bin",
            "usr/bin/tool",
            "usr/sbin",
            "usr/sbin/daemon",
            "usr/lib",
            "usr/lib/x86_64-linux-gnu",
            "usr/lib/x86_64-linux-gnu/libfoo.so.1.0",
            "usr/lib/x86_64-linux-gnu/libfoo.so.1",
            "usr/lib64",
            "usr/lib64/ld-linux-x86-64.so.2",
            "usr/bin/tool2",
            "usr",
            "usr/share",
            "usr/share/readme",
            "bin",
        ]
    );
    let r = root.path();
    for alias in ["bin", "lib", "lib64", "sbin"] {
        assert_eq!(link(&r.join(alias)), format!("usr/{alias}"), "{alias} is still the alias");
    }
    assert_eq!(mode(&r.join("usr/bin/tool")), 0o755);
    assert_eq!(mode(&r.join("usr/sbin/daemon")), 0o700);
    assert_eq!(link(&r.join("usr/lib/x86_64-linux-gnu/libfoo.so.1")), "libfoo.so.1.0");
    assert_eq!(link(&r.join("usr/lib64/ld-linux-x86-64.so.2")), "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2");
    use std::os::unix::fs::MetadataExt;
    let ino = |p: &str| fs::metadata(r.join(p)).expect("stat").ino();
    assert_eq!(ino("usr/bin/tool2"), ino("usr/bin/tool"), "a hard link stays one");
    assert!(got.setuid_stripped.is_empty());
}

#[test]
fn merges_with_earlier_packages() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = merged_root();
    let first = deb_with(
        &[
            Item::Dir("./usr/", 0o755),
            Item::Dir("./usr/share/", 0o755),
            Item::Dir("./usr/share/doc/", 0o755),
            Item::File("./usr/share/doc/one", 0o644, b"1"),
            Item::File("./usr/share/shared", 0o644, b"first"),
            Item::Symlink("./usr/share/alias", "doc/one"),
        ],
        ".gz",
    );
    let second = deb_with(
        &[
            Item::Dir("./usr/", 0o755),
            Item::Dir("./usr/share/", 0o755),
            Item::Dir("./usr/share/doc/", 0o755),
            Item::File("./usr/share/doc/two", 0o644, b"2"),
            Item::File("./usr/share/shared", 0o644, b"second"),
            Item::Symlink("./usr/share/alias", "doc/two"),
        ],
        ".zst",
    );
    deb::unpack(&write_deb(tmp.path(), "1.deb", &first), root.path()).expect("first");
    deb::unpack(&write_deb(tmp.path(), "2.deb", &second), root.path()).expect("second");
    let r = root.path();
    assert_eq!(fs::read(r.join("usr/share/doc/one")).expect("one"), b"1");
    assert_eq!(fs::read(r.join("usr/share/doc/two")).expect("two"), b"2");
    assert_eq!(fs::read(r.join("usr/share/shared")).expect("shared"), b"second");
    assert_eq!(link(&r.join("usr/share/alias")), "doc/two");
}

#[test]
fn strips_setuid_and_setgid_and_reports_them() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = merged_root();
    let deb = deb_with(
        &[
            Item::Dir("./bin/", 0o755),
            Item::File("./bin/mount", 0o4755, b"m"),
            Item::File("./usr/bin/wall", 0o2755, b"w"),
            Item::Dir("./var/mail/", 0o2775),
            Item::Dir("./tmp/", 0o1777),
        ],
        ".xz",
    );
    let got = deb::unpack(&write_deb(tmp.path(), "s.deb", &deb), root.path()).expect("unpacks");
    assert_eq!(got.setuid_stripped, ["usr/bin/mount", "usr/bin/wall", "var/mail"]);
    let r = root.path();
    assert_eq!(mode(&r.join("usr/bin/mount")), 0o755);
    assert_eq!(mode(&r.join("usr/bin/wall")), 0o755);
    assert_eq!(mode(&r.join("var/mail")), 0o775);
    assert_eq!(mode(&r.join("tmp")), 0o1777, "the sticky bit stays");
}

/// Unpacks a package made of `items` into a fresh merged root prepared by
/// `prepare`, and returns the error.
fn refused(items: &[Item], prepare: impl FnOnce(&Path)) -> String {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = merged_root();
    prepare(root.path());
    let deb = write_deb(tmp.path(), "bad.deb", &deb_with(items, ".gz"));
    let err = deb::unpack(&deb, root.path()).expect_err("refused");
    assert!(matches!(err, DebError::Refused { .. }), "{err}");
    err.to_string()
}

#[test]
fn refuses_everything_that_leaves_the_root_or_is_special() {
    let outside = tempfile::tempdir().expect("tempdir");
    let out = outside.path().to_string_lossy().into_owned();

    let e = refused(&[Item::File("./usr/../../evil", 0o644, b"x")], |_| {});
    assert!(e.ends_with("`./usr/../../evil` leaves the root (`..`)"), "{e}");
    let e = refused(&[Item::File("/etc/evil", 0o644, b"x")], |_| {});
    assert!(e.ends_with("`/etc/evil` has an absolute path"), "{e}");

    // A link the package itself shipped, then a file through it.
    let e = refused(&[Item::Symlink("./usr/share", &out), Item::File("./usr/share/evil", 0o644, b"x")], |_| {});
    assert!(e.ends_with("`./usr/share/evil` would be written through `usr/share`, which is a link or file"), "{e}");
    // A link an earlier package left, used as a directory.
    let e = refused(&[Item::Dir("./etc/", 0o755)], |r| {
        std::os::unix::fs::symlink(&out, r.join("etc")).expect("symlink");
    });
    assert!(e.ends_with("`./etc/` is a directory, but a file or link is installed there"), "{e}");
    // An alias that points elsewhere is not an alias.
    let e = refused(&[Item::File("./sbin/evil", 0o644, b"x")], |r| {
        fs::remove_file(r.join("sbin")).expect("rm");
        std::os::unix::fs::symlink(&out, r.join("sbin")).expect("symlink");
    });
    assert!(e.ends_with("`./sbin/evil` would be written through `sbin`, which is a link or file"), "{e}");
    let e = refused(&[Item::Symlink("./lib", &out)], |_| {});
    assert!(e.ends_with("`./lib` would replace the root's merged-/usr link"), "{e}");
    // A hard link to a file outside, or reached through a link.
    let e = refused(&[Item::HardLink("./usr/passwd", "../etc/passwd")], |_| {});
    assert!(e.ends_with("`./usr/passwd` leaves the root (`..`)"), "{e}");
    let e = refused(&[Item::Symlink("./usr/share", &out), Item::HardLink("./usr/passwd", "./usr/share/secret")], |_| {
        fs::write(outside.path().join("secret"), b"s").expect("write")
    });
    assert!(e.ends_with("is a hard link to something other than an installed file"), "{e}");
    // A file where another package made a directory.
    let e = refused(&[Item::File("./usr/lib", 0o644, b"x")], |_| {});
    assert!(e.ends_with("`./usr/lib` would replace a directory"), "{e}");

    let e = refused(&[Item::Char("./dev/null")], |_| {});
    assert!(e.ends_with("`./dev/null` is a device node; dhib installs none (a root gets /dev from the sandbox)"), "{e}");
    let e = refused(&[Item::Fifo("./run/initctl")], |_| {});
    assert!(e.ends_with("`./run/initctl` is a fifo; dhib installs none"), "{e}");

    let left: Vec<_> = fs::read_dir(outside.path()).expect("ls").map(|e| e.expect("entry").file_name()).collect();
    assert_eq!(left, ["secret"], "nothing was written outside the root");
}

#[test]
fn rejects_what_is_not_a_debian_package() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tar_of(&[Item::File("./x", 0o644, b"x")]);
    let control = compress(&tar_of(&[Item::File("./control", 0o644, CONTROL.as_bytes())]), ".gz");
    let good = deb_with(&[Item::File("./x", 0o644, b"x")], ".gz");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("not ar", b"PK\x03\x04 a zip".to_vec(), "no ar header (`!<arch>`)"),
        ("empty ar", b"!<arch>\n".to_vec(), "does not start with `debian-binary`"),
        ("no debian-binary", ar_of(&[("control.tar.gz", control.clone())]), "does not start with `debian-binary`"),
        (
            "format 3",
            ar_of(&[("debian-binary", b"3.0\n".to_vec()), ("control.tar.gz", control.clone())]),
            "unsupported package format \"3.0\"",
        ),
        ("no data", ar_of(&[("debian-binary", b"2.0\n".to_vec()), ("control.tar.gz", control.clone())]), "no data.tar member"),
        (
            "lzma",
            ar_of(&[("debian-binary", b"2.0\n".to_vec()), ("control.tar.gz", control.clone()), ("data.tar.lzma", data.clone())]),
            "member `data.tar.lzma` has a compression dhib does not read",
        ),
        ("truncated", good[..good.len() - 40].to_vec(), "corrupt package"),
        ("bad header", good.iter().map(|&b| if b == b'`' { b'x' } else { b }).collect(), "a member header is malformed"),
    ];
    for (what, bytes, want) in cases {
        let deb = write_deb(tmp.path(), "bad.deb", &bytes);
        let root = merged_root();
        let err = deb::unpack(&deb, root.path()).expect_err(what);
        assert!(matches!(err, DebError::Format { .. }), "{what}: {err}");
        assert!(err.to_string().contains(want), "{what}: {err}");
    }
    let deb = write_deb(
        tmp.path(),
        "nocontrol.deb",
        &ar_of(&[("debian-binary", b"2.0\n".to_vec()), ("control.tar", tar_of(&[Item::File("./md5sums", 0o644, b"")]))]),
    );
    let err = deb::read_control(&deb).expect_err("no control");
    assert_eq!(err.to_string(), format!("{}: control.tar has no control file", deb.display()));
}

// ---------------------------------------------------------------------------
// Licenses

#[test]
fn licenses_from_machine_readable_copyright_files() {
    let dep5 = |body: &str| format!("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n{body}");
    for (body, want) in [
        ("Files: *\nCopyright: 1995 Jean-loup Gailly\nLicense: Zlib\n\nFiles: debian/*\nLicense: GPL-2+\n", "Zlib"),
        (
            "Files: debian/*\nLicense: GPL-2+\n\nFiles: * lib/*\nLicense: GPL-1+ or Artistic\n Perl's text\n",
            "GPL-1.0-or-later OR Artistic-1.0-Perl",
        ),
        ("Files: *\nLicense: BSD-3-clause or GPL-2\n", "BSD-3-Clause OR GPL-2.0-only"),
        ("Files: *\nLicense: LGPL-2.1+ and Expat\n", "LGPL-2.1-or-later AND MIT"),
        ("Files: *\nLicense: GPL-3+ with GCC-exception-3.1 exception\n", "GPL-3.0-or-later WITH GCC-exception-3.1"),
        ("Files: *\nLicense: public-domain\n", "LicenseRef-public-domain"),
    ] {
        assert_eq!(deb::license_from_copyright(&dep5(body)).as_deref(), Some(want), "{body}");
    }
    // The header's License is the package's.
    let text =
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nLicense: Apache-2.0\n\nFiles: *\nLicense: MIT\n";
    assert_eq!(deb::license_from_copyright(text).as_deref(), Some("Apache-2.0"));
    // Free-form files and DEP-5 files without `Files: *` give no answer.
    assert_eq!(deb::license_from_copyright("This is the Debian prepackaged version of the GNU C Library.\n"), None);
    assert_eq!(deb::license_from_copyright(&dep5("Files: src/*\nLicense: MIT\n")), None);
}

#[test]
fn copyright_license_reads_an_unpacked_root() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = merged_root();
    let copyright = b"Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nLicense: GPL-3+\n";
    let secret = tmp.path().join("secret");
    fs::write(&secret, copyright).expect("write");
    let deb = deb_with(
        &[
            Item::Dir("./usr/share/doc/base/", 0o755),
            Item::File("./usr/share/doc/base/copyright", 0o644, copyright),
            // Debian lets a doc directory be a link to a sibling.
            Item::Symlink("./usr/share/doc/base-dev", "base"),
            Item::Symlink("./usr/share/doc/host", tmp.path().to_str().expect("utf-8")),
            Item::Dir("./usr/share/doc/linked/", 0o755),
            Item::Symlink("./usr/share/doc/linked/copyright", secret.to_str().expect("utf-8")),
        ],
        ".gz",
    );
    deb::unpack(&write_deb(tmp.path(), "doc.deb", &deb), root.path()).expect("unpacks");
    let r = root.path();
    assert_eq!(deb::copyright_license(r, "base").as_deref(), Some("GPL-3.0-or-later"));
    assert_eq!(deb::copyright_license(r, "base-dev").as_deref(), Some("GPL-3.0-or-later"));
    // Links that would read the host are not followed.
    assert_eq!(deb::copyright_license(r, "host"), None);
    assert_eq!(deb::copyright_license(r, "linked"), None);
    assert_eq!(deb::copyright_license(r, "absent"), None);
}

// ---------------------------------------------------------------------------
// Real packages

/// Small real packages: zlib1g's whole closure, a static busybox, and mount
/// for its setuid programs and its unresolvable dependencies.
const REAL: [&str; 6] = ["busybox-static", "gcc-12-base", "libc6", "libgcc-s1", "mount", "zlib1g"];

/// The repository, built once per test run. On a cold cache the script
/// downloads with apt, so the Debian mirror must be reachable; that is a
/// failure, never a skip.
fn repo() -> &'static Path {
    static REPO: OnceLock<PathBuf> = OnceLock::new();
    REPO.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("debian-test-repo");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/debian-test-repo.sh");
        let out = Command::new(&script).arg(&dir).args(REAL).output().unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(
            out.status.success(),
            "{} failed ({}); on a cold cache it downloads real packages with apt, so it needs the Debian mirror:\n{}{}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    })
}

fn real_index() -> Vec<IndexEntry> {
    deb::read_packages(&repo().join("dists/bookworm/main/binary-amd64/Packages")).expect("the repository's index")
}

fn real_deb(index: &[IndexEntry], package: &str) -> PathBuf {
    let entry = index.iter().find(|e| e.package == package).unwrap_or_else(|| panic!("{package} is not in the index"));
    repo().join(&entry.filename)
}

/// An x86-64 ELF file: magic, 64-bit, little-endian, e_machine 0x3e.
fn assert_x86_64_elf(path: &Path) {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&bytes[..4], b"\x7fELF", "{} is not ELF", path.display());
    assert_eq!((bytes[4], bytes[5]), (2, 1), "{} is not 64-bit little-endian", path.display());
    assert_eq!(u16::from_le_bytes([bytes[18], bytes[19]]), 0x3e, "{} is not x86-64", path.display());
}

#[test]
fn real_index_agrees_with_the_debs() {
    let index = real_index();
    let gz = deb::read_packages(&repo().join("dists/bookworm/main/binary-amd64/Packages.gz")).expect("Packages.gz");
    assert_eq!(gz, index);
    let names: BTreeSet<&str> = index.iter().map(|e| e.package.as_str()).collect();
    assert_eq!(names, BTreeSet::from(REAL));

    for e in &index {
        let path = repo().join(&e.filename);
        let bytes = fs::read(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
        assert_eq!(bytes.len() as u64, e.size, "{}", e.package);
        let sha: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(sha, e.sha256, "{}", e.package);

        let c = deb::read_control(&path).unwrap_or_else(|err| panic!("{err}"));
        let from_control = (&c.package, &c.version, &c.architecture, &c.source, &c.depends, &c.pre_depends);
        assert_eq!(from_control, (&e.package, &e.version, &e.architecture, &e.source, &e.depends, &e.pre_depends));
        assert_eq!((&c.provides, &c.multi_arch, c.essential), (&e.provides, &e.multi_arch, e.essential));
    }
    let zlib = index.iter().find(|e| e.package == "zlib1g").expect("zlib1g");
    assert_eq!(zlib.filename, format!("pool/main/z/zlib/zlib1g_{}_amd64.deb", zlib.version.trim_start_matches("1:")));
    let busybox = deb::read_control(&real_deb(&index, "busybox-static")).expect("control");
    assert_eq!(busybox.description, "Standalone rescue shell with tons of builtin utilities");
}

#[test]
fn real_closure_of_zlib1g_unpacks_into_a_root() {
    let index = real_index();
    let closure = deb::resolve(&index, &["zlib1g"], "amd64").unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = closure.iter().map(|e| e.package.as_str()).collect();
    assert_eq!(names, ["gcc-12-base", "libc6", "libgcc-s1", "zlib1g"]);

    let root = merged_root();
    for e in &closure {
        deb::unpack(&repo().join(&e.filename), root.path()).unwrap_or_else(|err| panic!("{err}"));
    }
    let lib = root.path().join("usr/lib/x86_64-linux-gnu");
    assert_x86_64_elf(&lib.join("libz.so.1.2.13"));
    assert_eq!(link(&lib.join("libz.so.1")), "libz.so.1.2.13");
    assert_x86_64_elf(&lib.join("libc.so.6"));
    assert_x86_64_elf(&lib.join("ld-linux-x86-64.so.2"));
    assert_eq!(link(&root.path().join("usr/lib64/ld-linux-x86-64.so.2")), "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2");
    assert_eq!(link(&root.path().join("lib")), "usr/lib");
    assert_eq!(deb::copyright_license(root.path(), "zlib1g").as_deref(), Some("Zlib"));
    // glibc's and gcc's copyright files are free-form (libgcc-s1's doc
    // directory is a link to gcc-12-base's).
    assert!(root.path().join("usr/share/doc/gcc-12-base/copyright").is_file());
    assert_eq!(deb::copyright_license(root.path(), "libgcc-s1"), None);
    assert_eq!(deb::copyright_license(root.path(), "libc6"), None);
}

#[test]
fn real_busybox_lands_in_usr_bin() {
    let index = real_index();
    let root = merged_root();
    let got = deb::unpack(&real_deb(&index, "busybox-static"), root.path()).unwrap_or_else(|e| panic!("{e}"));
    assert!(got.paths.iter().any(|p| p == "usr/bin/busybox"), "{:?}", got.paths);
    assert!(got.setuid_stripped.is_empty());
    let busybox = root.path().join("usr/bin/busybox");
    assert_x86_64_elf(&busybox);
    assert_eq!(mode(&busybox), 0o755);
    assert!(fs::symlink_metadata(root.path().join("bin")).expect("bin").file_type().is_symlink());
}

#[test]
fn real_mount_loses_its_setuid_bits_and_cannot_be_resolved_here() {
    let index = real_index();
    let root = merged_root();
    let got = deb::unpack(&real_deb(&index, "mount"), root.path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got.setuid_stripped, ["usr/bin/mount", "usr/bin/umount"]);
    assert_eq!(mode(&root.path().join("usr/bin/mount")), 0o755);
    assert_x86_64_elf(&root.path().join("usr/sbin/losetup"));
    assert_eq!(deb::copyright_license(root.path(), "mount").as_deref(), Some("GPL-2.0-or-later"));

    let err = deb::resolve(&index, &["mount"], "amd64").expect_err("util-linux's libraries are not in the repository");
    assert_eq!(err.to_string(), "mount -> libblkid1 (>= 2.17.2): not in the index");
}
