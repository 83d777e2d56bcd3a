//! `dhib lock`: resolves the Debian packages a workspace asks for against a
//! repository's `Packages` index and writes them, pinned, as `deb` targets in
//! a generated `.dhi` file. Each `deb` gets its resolved dependencies as
//! `depends`, so an environment that names a package gets its whole closure.

use std::io::Read;
use std::path::{Path, PathBuf};

use std::collections::BTreeMap;

use sha2::Digest as _;

use super::deb::{self, IndexEntry, SourceEntry};
use super::fetch::{self, Origins};
use dhib_core::diag::Diag;

/// What to lock, from `[debian]` in dhi.toml.
#[derive(Debug, Clone)]
pub struct LockRequest {
    pub roots: Vec<String>,
    /// The first architecture names the debs; each other one gets its own
    /// closure, as `NAME-ARCH` debs linked from `NAME` by `for_arch`.
    pub arches: Vec<String>,
    /// Workspace-relative path of the generated file.
    pub output: String,
    /// The `Packages` indexes of each architecture.
    pub indexes: std::collections::BTreeMap<String, Vec<PathBuf>>,
    /// Source packages built from source, each with the label of the
    /// `debian_build` that builds it (for the first architecture).
    pub sources: std::collections::BTreeMap<String, String>,
    /// The build profiles their Build-Depends are resolved for.
    pub profiles: Vec<String>,
    /// The text of the `Sources` index, when `sources` is not empty.
    pub sources_index: Option<String>,
}

/// A source package to rebuild, as found in the `Sources` index.
struct Rebuild<'a> {
    entry: SourceEntry,
    build: &'a str,
    /// Its build environment's roots: the Essential packages,
    /// build-essential and its Build-Depends.
    roots: Vec<String>,
}

/// The source packages of `req.sources`, found in the Sources index, with
/// their build environments' roots.
fn rebuilds<'a>(req: &'a LockRequest, index: &[IndexEntry], arch: &str) -> Result<Vec<Rebuild<'a>>, Diag> {
    if req.sources.is_empty() {
        return Ok(Vec::new());
    }
    let text = req.sources_index.as_deref().unwrap_or_default();
    let all = deb::parse_sources(text);
    let mut essential: Vec<String> =
        index.iter().filter(|e| e.essential && (e.architecture == arch || e.architecture == "all")).map(|e| e.package.clone()).collect();
    essential.sort();
    essential.dedup();
    let mut out = Vec::new();
    for (name, build) in &req.sources {
        let entry = all
            .iter()
            .filter(|s| &s.package == name)
            .max_by(|a, b| deb::compare_versions(&a.version, &b.version))
            .ok_or_else(|| {
                Diag::plain("E0606", format!("the source package `{name}` is not in the Sources index"))
                    .with_help("check its name under [debian.sources] in dhi.toml (a source package, as `apt-cache showsrc` names it)")
            })?
            .clone();
        let relations = deb::build_relations(&entry.build_depends, arch, &req.profiles)
            .map_err(|e| Diag::plain("E0606", format!("the Build-Depends of `{name}` {} cannot be read: {}", entry.version, e.0)))?;
        let mut roots = essential.clone();
        roots.push("build-essential".into());
        roots.extend(relations);
        out.push(Rebuild { entry, build, roots });
    }
    Ok(out)
}

/// Reads a `Packages` index: plain, `.gz`, `.xz`, or `.lz4` (apt's own lists,
/// decompressed with apt's helper).
pub fn read_index(path: &Path) -> Result<String, Diag> {
    let fail = |e: String| Diag::plain("E0601", format!("cannot read the index {}: {e}", path.display()));
    let name = path.to_string_lossy();
    if name.ends_with(".lz4") {
        let out =
            std::process::Command::new("/usr/lib/apt/apt-helper").arg("cat-file").arg(path).output().map_err(|e| fail(e.to_string()))?;
        if !out.status.success() {
            return Err(fail(String::from_utf8_lossy(&out.stderr).into_owned()));
        }
        return String::from_utf8(out.stdout).map_err(|e| fail(e.to_string()));
    }
    let file = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
    let mut reader: Box<dyn Read> = if name.ends_with(".gz") {
        Box::new(flate2::read::GzDecoder::new(file))
    } else if name.ends_with(".xz") {
        Box::new(xz2::read::XzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let mut text = String::new();
    reader.read_to_string(&mut text).map_err(|e| fail(e.to_string()))?;
    Ok(text)
}

/// The machine's own apt lists for `arch`, when no index is given.
pub fn apt_lists(arch: &str) -> Vec<PathBuf> {
    let suffix = format!("_binary-{arch}_Packages");
    let mut out: Vec<PathBuf> = std::fs::read_dir("/var/lib/apt/lists")
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().contains(&suffix)))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// The indexes of each architecture from `--index [ARCH=]FILE` arguments
/// (a bare FILE is for the first architecture); an architecture given none
/// gets apt's own lists for it.
pub fn indexes_by_arch(arches: &[String], args: &[String]) -> std::collections::BTreeMap<String, Vec<PathBuf>> {
    let mut out: std::collections::BTreeMap<String, Vec<PathBuf>> = std::collections::BTreeMap::new();
    for a in args {
        let (arch, path) = match a.split_once('=') {
            Some((arch, path)) if arches.iter().any(|x| x == arch) => (arch.to_string(), path),
            _ => (arches[0].clone(), a.as_str()),
        };
        out.entry(arch).or_default().push(PathBuf::from(path));
    }
    for arch in arches {
        out.entry(arch.clone()).or_insert_with(|| apt_lists(arch));
    }
    out
}

/// Resolves the request and returns the text of the generated file and the
/// number of debs in it.
pub fn lock(req: &LockRequest) -> Result<(String, usize), Diag> {
    let roots: Vec<&str> = req.roots.iter().map(String::as_str).collect();
    let mut indexes: Vec<(&str, Vec<IndexEntry>)> = Vec::new();
    for arch in &req.arches {
        let paths = req.indexes.get(arch).map(Vec::as_slice).unwrap_or_default();
        if paths.is_empty() {
            return Err(Diag::plain("E0602", format!("no {arch} Packages index to resolve against")).with_help(format!(
                "pass --index {arch}=FILE (a Packages file of the repository), or add the architecture to apt \
                 (dpkg --add-architecture {arch}; apt-get update)"
            )));
        }
        let mut index: Vec<IndexEntry> = Vec::new();
        for p in paths {
            index.extend(deb::parse_packages(&read_index(p)?));
        }
        indexes.push((arch, index));
    }
    let rebuilds = rebuilds(req, &indexes[0].1, indexes[0].0)?;
    let mut closures = Vec::new();
    for (i, (arch, index)) in indexes.iter().enumerate() {
        // Build environments are resolved with the packages, so that one
        // name is one package throughout the lock.
        let mut roots = roots.clone();
        if i == 0 {
            roots.extend(rebuilds.iter().flat_map(|r| r.roots.iter().map(String::as_str)));
        }
        let resolved = deb::resolve_closure(index, &roots, arch).map_err(|e| {
            Diag::plain("E0603", format!("cannot resolve {e} for {arch}"))
                .with_help("check the package names in [debian] packages of dhi.toml")
        })?;
        closures.push((*arch, resolved));
    }
    let (primary_arch, primary) = &closures[0];
    // The label of a package in an architecture's closure: the primary's
    // own name, which an `all` package shares when it is the same file.
    let label = |arch: &str, e: &IndexEntry| -> String {
        let same_file = primary.packages.iter().any(|p| p.package == e.package && p.filename == e.filename);
        if arch == *primary_arch || same_file {
            e.package.clone()
        } else {
            format!("{}-{arch}", e.package)
        }
    };
    // The binary packages of a rebuilt source: images install its build.
    let mut rebuilt: BTreeMap<&str, &Rebuild> = BTreeMap::new();
    for e in &primary.packages {
        let (source, version) = match e.source.as_deref() {
            Some(s) => match s.split_once(" (") {
                Some((name, v)) => (name.trim(), v.trim_end_matches(')')),
                None => (s.trim(), e.version.as_str()),
            },
            None => (e.package.as_str(), e.version.as_str()),
        };
        if let Some(r) = rebuilds.iter().find(|r| r.entry.package == source) {
            if version != r.entry.version {
                return Err(Diag::plain(
                    "E0607",
                    format!(
                        "{} {} was built from {source} {version}, but the Sources index has {source} {}",
                        e.package, e.version, r.entry.version
                    ),
                )
                .with_help("lock against a Packages and a Sources index of the same suite and date"));
            }
            rebuilt.insert(&e.package, r);
        }
    }
    let mut text = String::from(
        "# Generated by `dhib lock` from the Debian package index; do not edit.\n\
         # The packages come from `packages` in the [debian] section of dhi.toml,\n\
         # with everything they depend on; run `dhib lock` again to update them.\n",
    );
    if !rebuilds.is_empty() {
        text.push_str(
            "# The source packages of [debian.sources] are pinned as `debian_source`\n\
             # targets with the environments they build in; images install the\n\
             # binaries their `debian_build` makes (`rebuilt`) instead of Debian's.\n",
        );
    }
    let mut count = 0;
    let mut rebuilt_text = String::new();
    for (arch, resolved) in &closures {
        for e in &resolved.packages {
            let name = label(arch, e);
            if arch != primary_arch && name == e.package {
                continue;
            }
            count += 1;
            text.push_str(&format!(
                "\ndeb \"{name}\" {{\n  version = \"{}\"\n  arch = \"{}\"\n  filename = \"{}\"\n  sha256 = \"{}\"\n",
                e.version, e.architecture, e.filename, e.sha256
            ));
            let by_name = |d: &&str| resolved.packages.iter().find(|p| p.package == *d).map(|p| label(arch, p));
            let deps: Vec<String> =
                resolved.depends.get(e.package.as_str()).into_iter().flatten().filter_map(by_name).map(|d| format!(":{d}")).collect();
            if !deps.is_empty() {
                text.push_str(&format!("  depends = [{}]\n", deps.join(", ")));
            }
            if arch == primary_arch && rebuilt.contains_key(e.package.as_str()) {
                text.push_str(&format!("  rebuilt = :{name}-rebuilt\n"));
                rebuilt_text.push_str(&format!(
                    "\ndeb \"{name}-rebuilt\" {{\n  built = {}\n  package = \"{}\"\n  arch = \"{}\"\n",
                    rebuilt[e.package.as_str()].build,
                    e.package,
                    e.architecture
                ));
                if !deps.is_empty() {
                    rebuilt_text.push_str(&format!("  depends = [{}]\n", deps.join(", ")));
                }
                rebuilt_text.push_str("}\n");
            }
            // The primary deb names its builds for the other architectures.
            if arch == primary_arch && e.architecture != "all" {
                let twins: Vec<String> = closures[1..]
                    .iter()
                    .filter_map(|(other, r)| {
                        r.packages.iter().find(|p| p.package == e.package).map(|p| format!("{other} = :{}", label(other, p)))
                    })
                    .collect();
                if !twins.is_empty() {
                    text.push_str(&format!("  for_arch = {{ {} }}\n", twins.join(", ")));
                }
            }
            text.push_str("}\n");
        }
    }
    text.push_str(&rebuilt_text);
    let mut at = req.roots.len();
    for r in &rebuilds {
        let name = &r.entry.package;
        text.push_str(&format!("\ndebian_source \"{name}-source\" {{\n  version = \"{}\"\n  files = {{\n", r.entry.version));
        for (file, sha) in &r.entry.files {
            text.push_str(&format!("    \"{}/{file}\" = \"{sha}\",\n", r.entry.directory));
        }
        text.push_str("  }\n");
        if !req.profiles.is_empty() {
            let quoted: Vec<String> = req.profiles.iter().map(|p| format!("\"{p}\"")).collect();
            text.push_str(&format!("  profiles = [{}]\n", quoted.join(", ")));
        }
        text.push_str("}\n");
        let mut packages: Vec<&str> = primary.roots[at..at + r.roots.len()].to_vec();
        at += r.roots.len();
        packages.sort();
        packages.dedup();
        let list: Vec<String> = packages.iter().map(|p| format!("    :{p},\n")).collect();
        text.push_str(&format!(
            "\n# What {name} builds in: the Essential packages, build-essential and its Build-Depends.\nenv \"{name}-build-env\" {{\n  packages = [\n{}  ]\n}}\n",
            list.concat()
        ));
    }
    let formatted = dhib_lang::fmt::format(&req.output, &text)?;
    Ok((formatted, count))
}

/// The keyring Debian's releases are signed with, as apt has it.
const DEBIAN_KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

/// Downloads the `Sources` index of `suite` from the Debian repositories
/// and checks it against the suite's `InRelease`, whose signature gpgv
/// checks against Debian's archive keyring: the pins written from it are
/// then as trustworthy as apt's own.
pub fn download_sources(origins: &Origins, suite: &str, root: &Path) -> Result<String, Diag> {
    let fail = |why: String| Diag::plain("E0608", format!("cannot get the Sources index of {suite}: {why}"));
    let mut last = fail("no Debian repository is configured".into());
    for repo in &origins.debian {
        let base = format!("{}/dists/{suite}", repo.trim_end_matches('/'));
        let attempt = || -> Result<String, Diag> {
            let release = fetch::fetch_bytes_from(origins, &format!("{base}/InRelease"), root).map_err(|e| fail(e.to_string()))?;
            let signed = verified_release(&release).map_err(|why| fail(format!("{base}/InRelease: {why}")))?;
            let want = release_sha256(&signed, "main/source/Sources.xz")
                .ok_or_else(|| fail(format!("{base}/InRelease lists no main/source/Sources.xz")))?;
            let xz = fetch::fetch_bytes_from(origins, &format!("{base}/main/source/Sources.xz"), root).map_err(|e| fail(e.to_string()))?;
            let got = dhib_core::hex(&sha2::Sha256::digest(&xz));
            if got != want {
                return Err(fail(format!("Sources.xz has sha256 {got}, the signed InRelease says {want}; try again later")));
            }
            let mut text = String::new();
            xz2::read::XzDecoder::new(&xz[..]).read_to_string(&mut text).map_err(|e| fail(e.to_string()))?;
            Ok(text)
        };
        match attempt() {
            Ok(text) => return Ok(text),
            Err(e) => last = e,
        }
    }
    Err(last.with_help("pass a Sources index you trust with --sources FILE"))
}

/// The signed text of a clear-signed `InRelease`, if gpgv accepts its
/// signature by a key of Debian's archive keyring.
fn verified_release(release: &[u8]) -> Result<String, String> {
    if !Path::new(DEBIAN_KEYRING).exists() {
        return Err(format!("{DEBIAN_KEYRING} is missing (apt-get install debian-archive-keyring)"));
    }
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (signed, text) = (dir.path().join("InRelease"), dir.path().join("Release"));
    std::fs::write(&signed, release).map_err(|e| e.to_string())?;
    let out = std::process::Command::new("gpgv")
        .args(["--keyring", DEBIAN_KEYRING, "--output"])
        .arg(&text)
        .arg(&signed)
        .output()
        .map_err(|e| format!("cannot run gpgv: {e}"))?;
    if !out.status.success() {
        return Err(format!("its signature does not verify: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    std::fs::read_to_string(&text).map_err(|e| e.to_string())
}

/// The sha256 a Release file gives for one of its indexes.
fn release_sha256(release: &str, path: &str) -> Option<String> {
    let section = release.split_once("\nSHA256:")?.1;
    section.lines().skip(1).take_while(|l| l.starts_with(' ')).find_map(|l| {
        let mut w = l.split_whitespace();
        let (sha, _size, name) = (w.next()?, w.next()?, w.next()?);
        (name == path).then(|| sha.to_string())
    })
}
