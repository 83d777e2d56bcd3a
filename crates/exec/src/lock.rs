//! `dhib lock`: resolves the Debian packages a workspace asks for against a
//! repository's `Packages` index and writes them, pinned, as `deb` targets in
//! a generated `.dhi` file. Each `deb` gets its resolved dependencies as
//! `depends`, so an environment that names a package gets its whole closure.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::deb::{self, IndexEntry};
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
    let mut closures = Vec::new();
    for (arch, index) in &indexes {
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
    let mut text = String::from(
        "# Generated by `dhib lock` from the Debian package index; do not edit.\n\
         # The packages come from `packages` in the [debian] section of dhi.toml,\n\
         # with everything they depend on; run `dhib lock` again to update them.\n",
    );
    let mut count = 0;
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
    let formatted = dhib_lang::fmt::format(&req.output, &text)?;
    Ok((formatted, count))
}
