//! Best-effort licenses from Debian's machine-readable copyright files
//! (DEP-5, `copyright-format/1.0`), for SBOMs. Packages with free-form
//! copyright files (glibc, gcc) get no answer rather than a guess.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Component, Path, PathBuf};

use super::control::{paragraphs, parse_fields};

/// The license of `package` as installed below `root`, from
/// `usr/share/doc/<package>/copyright`, in SPDX syntax where the Debian
/// short names have an SPDX equivalent.
///
/// The doc directory may be a link to a sibling (`libgcc-s1 -> gcc-12-base`),
/// as Debian policy allows; that one link is followed, no other: the root is
/// a tree of untrusted packages, and an absolute link would read the host.
pub fn copyright_license(root: &Path, package: &str) -> Option<String> {
    let docs = root.join("usr/share/doc");
    for dir in ["usr", "usr/share", "usr/share/doc"] {
        if !fs::symlink_metadata(root.join(dir)).is_ok_and(|m| m.is_dir()) {
            return None;
        }
    }
    let mut dir = docs.join(package);
    if let Ok(target) = fs::read_link(&dir) {
        let mut parts = target.components();
        match (parts.next(), parts.next()) {
            (Some(Component::Normal(sibling)), None) => dir = docs.join(sibling),
            _ => return None,
        }
    }
    let file: PathBuf = dir.join("copyright");
    let plain = |p: &Path, dir: bool| fs::symlink_metadata(p).is_ok_and(|m| if dir { m.is_dir() } else { m.is_file() });
    if !plain(&dir, true) || !plain(&file, false) {
        return None;
    }
    license_from_copyright(&fs::read_to_string(file).ok()?)
}

/// The license a DEP-5 copyright file declares for the package: the header's
/// `License` if it has one, else the one for `Files: *`. `None` for a
/// free-form file.
pub fn license_from_copyright(text: &str) -> Option<String> {
    let paragraphs: Vec<_> = paragraphs(text).into_iter().map(parse_fields).collect();
    let header = paragraphs.first()?;
    if !header.get("Format").is_some_and(|f| f.contains("copyright-format") || f.contains("dep5")) {
        return None;
    }
    // The first line of `License` is the expression; later lines hold the text.
    let expression =
        |p: &BTreeMap<String, String>| p.get("License").and_then(|l| l.lines().next()).map(str::trim).filter(|l| !l.is_empty()).map(spdx);
    expression(header).or_else(|| {
        paragraphs.iter().filter(|p| p.get("Files").is_some_and(|f| f.split_whitespace().any(|g| g == "*"))).find_map(expression)
    })
}

/// Rewrites a DEP-5 license expression in SPDX's syntax and names:
/// `GPL-2+ or Artistic` is `GPL-2.0-or-later OR Artistic-1.0-Perl`. Names
/// without a known equivalent are kept.
fn spdx(expression: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut words = expression.split_whitespace().map(|w| w.trim_end_matches(','));
    while let Some(word) = words.next() {
        match word {
            "or" => out.push("OR".into()),
            "and" => out.push("AND".into()),
            // `with Font exception` names an exception in free words.
            "with" => {
                let exception: Vec<&str> = words.by_ref().take_while(|w| *w != "exception").collect();
                out.push("WITH".into());
                out.push(exception.join("-"));
            }
            name => out.push(license_name(name)),
        }
    }
    out.join(" ")
}

fn license_name(name: &str) -> String {
    let fixed = match name {
        "Expat" => "MIT",
        "zlib" => "Zlib",
        "Artistic" => "Artistic-1.0-Perl",
        "BSD-2-clause" => "BSD-2-Clause",
        "BSD-3-clause" => "BSD-3-Clause",
        "BSD-4-clause" => "BSD-4-Clause",
        "public-domain" | "PD" => "LicenseRef-public-domain",
        _ => "",
    };
    if !fixed.is_empty() {
        return fixed.to_string();
    }
    // The GNU licenses: `GPL-2` is GPL-2.0-only, `LGPL-2.1+` LGPL-2.1-or-later.
    let (base, later) = match name.strip_suffix('+') {
        Some(base) => (base, true),
        None => (name, false),
    };
    if let Some((family, version)) = base.split_once('-') {
        let gnu = matches!(family, "GPL" | "LGPL" | "AGPL" | "GFDL");
        if gnu && !version.is_empty() && version.chars().all(|c| c.is_ascii_digit() || c == '.') {
            let version = if version.contains('.') { version.to_string() } else { format!("{version}.0") };
            return format!("{family}-{version}-{}", if later { "or-later" } else { "only" });
        }
    }
    name.to_string()
}
