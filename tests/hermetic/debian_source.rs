//! `[debian.sources]`: `dhib lock` pins a source package, its build
//! environment and the rebuild of its binaries; the graph then installs the
//! rebuild in images and keeps Debian's build in environments. Analysis only:
//! the indexes are fixtures, nothing is fetched or built.

use crate::common::{stderr, stdout, Ws};

const PACKAGES: &str = "\
Package: libc6
Version: 2.36-9+deb12u13
Architecture: amd64
Filename: pool/main/g/glibc/libc6_2.36-9+deb12u13_amd64.deb
SHA256: 1111111111111111111111111111111111111111111111111111111111111111

Package: libmd0
Source: libmd
Version: 1.0.4-2
Architecture: amd64
Multi-Arch: same
Depends: libc6 (>= 2.33)
Filename: pool/main/libm/libmd/libmd0_1.0.4-2_amd64.deb
SHA256: 2222222222222222222222222222222222222222222222222222222222222222

Package: dpkg
Version: 1.21.22
Architecture: amd64
Essential: yes
Pre-Depends: libmd0 (>= 0.99), libc6
Filename: pool/main/d/dpkg/dpkg_1.21.22_amd64.deb
SHA256: 3333333333333333333333333333333333333333333333333333333333333333

Package: dpkg-dev
Version: 1.21.22
Architecture: all
Depends: dpkg
Filename: pool/main/d/dpkg/dpkg-dev_1.21.22_all.deb
SHA256: 4444444444444444444444444444444444444444444444444444444444444444

Package: build-essential
Version: 12.9
Architecture: amd64
Depends: dpkg-dev
Filename: pool/main/b/build-essential/build-essential_12.9_amd64.deb
SHA256: 5555555555555555555555555555555555555555555555555555555555555555

Package: debhelper
Version: 13.11.4
Architecture: all
Provides: debhelper-compat (= 13), dh-sequence-dwz
Depends: dpkg-dev
Filename: pool/main/d/debhelper/debhelper_13.11.4_all.deb
SHA256: 6666666666666666666666666666666666666666666666666666666666666666

Package: gcc-multilib
Version: 4:12.2.0-3
Architecture: amd64
Filename: pool/main/g/gcc-defaults/gcc-multilib_12.2.0-3_amd64.deb
SHA256: 7777777777777777777777777777777777777777777777777777777777777777
";

fn sources(version: &str) -> String {
    format!(
        "Package: libmd\nBinary: libmd-dev, libmd0, libmd0-udeb\nVersion: {version}\n\
         Build-Depends: debhelper-compat (= 13), gcc-multilib [amd64 i386] <!nobiarch>, doxygen [hurd-any]\n\
         Checksums-Sha256:\n aaaa000000000000000000000000000000000000000000000000000000000000 2264 libmd_{version}.dsc\n \
         bbbb000000000000000000000000000000000000000000000000000000000000 264472 libmd_1.0.4.orig.tar.xz\n\
         Directory: pool/main/libm/libmd\n"
    )
}

const TOML: &str = "[workspace]\nname = \"rebuild\"\n\n[debian]\nlock = \"debian/BUILD.dhi\"\npackages = [\"dpkg\"]\n\
                    build_profiles = [\"nobiarch\"]\n\n[debian.sources]\nlibmd = \"//rebuild/libmd\"\n";

/// A workspace locked against the fixture indexes, with a patched rebuild of
/// libmd and an image that installs dpkg.
fn locked(source_version: &str) -> (Ws, std::process::Output) {
    let ws = Ws::fixture(&format!(
        "//- dhi.toml\n{TOML}\
         //- rebuild/libmd/BUILD.dhi\n\
         debian_build \"libmd\" {{\n  source = //debian:libmd-source\n  env = //debian:libmd-build-env\n  \
         patches = [file(\"fix.patch\")]\n  bump = {{\n    suffix = \"+dhib1\"\n    changelog = [\"Fix.\"]\n  }}\n}}\n\
         //- rebuild/libmd/fix.patch\n--- a/x\n+++ b/x\n\
         //- images/BUILD.dhi\n\
         image \"tools\" {{\n  base = scratch\n  packages = [//debian:dpkg]\n  user = 65532\n}}\n\
         env \"tools-env\" {{\n  packages = [//debian:dpkg]\n}}\n"
    ));
    ws.write("Packages", PACKAGES);
    ws.write("Sources", &sources(source_version));
    let index = ws.path().join("Packages");
    let sources = ws.path().join("Sources");
    let out = ws.dhib(&["lock", "--index", index.to_str().unwrap(), "--sources", sources.to_str().unwrap()]);
    (ws, out)
}

#[test]
fn lock_pins_the_source_its_build_environment_and_the_rebuild_images_install() {
    let (ws, out) = locked("1.0.4-2");
    assert!(out.status.success(), "{}", stderr(&out));
    let lock = std::fs::read_to_string(ws.path().join("debian/BUILD.dhi")).unwrap();
    // Debian's build stays, pointing at the rebuild; the rebuild is a deb
    // of the debian_build named in dhi.toml, with the same dependencies.
    assert!(lock.contains("  filename = \"pool/main/libm/libmd/libmd0_1.0.4-2_amd64.deb\"\n"), "{lock}");
    assert!(lock.contains("  depends = [:libc6]\n  rebuilt = :libmd0-rebuilt\n}"), "{lock}");
    assert!(
        lock.contains(
            "deb \"libmd0-rebuilt\" {\n  built = //rebuild/libmd\n  package = \"libmd0\"\n  arch = \"amd64\"\n  depends = [:libc6]\n}"
        ),
        "{lock}"
    );
    // The source by its pool paths and the Sources index's sha256, with the
    // profiles its Build-Depends were resolved for.
    assert!(lock.contains("debian_source \"libmd-source\" {\n  version = \"1.0.4-2\"\n"), "{lock}");
    assert!(lock.contains("\"pool/main/libm/libmd/libmd_1.0.4-2.dsc\" = \"aaaa0000"), "{lock}");
    assert!(lock.contains("  profiles = [\"nobiarch\"]\n"), "{lock}");
    // Its environment: the Essential packages, build-essential and the
    // Build-Depends that apply to amd64 without biarch (debhelper-compat
    // through debhelper's Provides; no gcc-multilib, no hurd-only doxygen).
    let env = &lock[lock.find("env \"libmd-build-env\"").expect("a build env")..];
    assert!(env.contains("packages = [:build-essential, :debhelper, :dpkg]"), "{env}");
    assert!(!lock.contains("gcc-multilib"), "{lock}");
    assert!(ws.dhib(&["fmt", "--check", ws.path().join("debian/BUILD.dhi").to_str().unwrap()]).status.success());

    // The image installs the rebuild; environments (the rebuild's own
    // among them) keep Debian's libmd0, so nothing builds with itself.
    let deps = |target: &str| stdout(&ws.dhib(&["query", &format!("deps({target}, 1)")]));
    let image = deps("//images:tools");
    assert!(image.contains("//debian:libmd0-rebuilt\n") && !image.contains("//debian:libmd0\n"), "{image}");
    let rebuilt = stdout(&ws.dhib(&["query", "deps(//debian:libmd0-rebuilt)"]));
    assert!(rebuilt.contains("//rebuild/libmd:libmd\n") && rebuilt.contains("//debian:libmd-source\n"), "{rebuilt}");
    for env in ["//images:tools-env", "//debian:libmd-build-env"] {
        let deps = deps(env);
        assert!(deps.contains("//debian:libmd0\n") && !deps.contains("rebuilt"), "{env}: {deps}");
    }
    // A change to the patch reaches exactly what installs the rebuild.
    let affected = stdout(&ws.dhib(&["affected", "--files", "rebuild/libmd/fix.patch"]));
    let mut nodes: Vec<&str> = affected.lines().collect();
    nodes.sort();
    assert_eq!(
        nodes,
        [
            "//debian:libmd0-rebuilt",
            "//images:tools",
            "//images:tools#provenance",
            "//images:tools#sbom",
            "//images:tools#test-report",
            "//images:tools#vex",
            "//rebuild/libmd:libmd",
        ],
        "{affected}"
    );
}

#[test]
fn lock_refuses_a_source_that_did_not_build_the_binaries() {
    // The index's libmd0 is Debian's build of 1.0.4-2; rebuilding 1.0.4-1
    // would replace it with an older package under a newer-looking version.
    let (ws, out) = locked("1.0.4-1");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let said = stderr(&out).replace("\n  │ ", " ");
    assert!(said.contains("libmd0 1.0.4-2 was built from libmd 1.0.4-2, but the Sources index has libmd 1.0.4-1"), "{said}");
    assert!(!ws.path().join("debian/BUILD.dhi").exists(), "nothing is written");
    // A source package the index lacks is named.
    ws.write("dhi.toml", &TOML.replace("libmd = ", "libmdx = "));
    let sources = ws.path().join("Sources");
    let index = ws.path().join("Packages");
    let out = ws.dhib(&["lock", "--index", index.to_str().unwrap(), "--sources", sources.to_str().unwrap()]);
    assert!(stderr(&out).contains("E0606") && stderr(&out).contains("`libmdx` is not in the Sources index"), "{}", stderr(&out));
}
