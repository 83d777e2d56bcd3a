//! deb822 text (`Name: value` fields, continuation lines, paragraphs
//! separated by blank lines) and a package's `control` file.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{read_err, relative, tar_member, DebError};

/// The fields of a `.deb`'s `control` file that dhib uses. Relationship
/// fields are kept verbatim (empty when absent); `parse_relations` reads them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Control {
    pub package: String,
    pub version: String,
    pub architecture: String,
    /// `Source`, verbatim: a name, optionally followed by `(version)` when
    /// the source version differs (binNMUs).
    pub source: Option<String>,
    pub maintainer: Option<String>,
    pub section: Option<String>,
    /// In KiB, as dpkg estimates it.
    pub installed_size: Option<u64>,
    pub essential: bool,
    pub multi_arch: Option<String>,
    pub depends: String,
    pub pre_depends: String,
    pub provides: String,
    pub homepage: Option<String>,
    /// The synopsis: the first line of `Description`.
    pub description: String,
}

impl Control {
    /// `None` when `Package` or `Version` is missing.
    pub fn from_fields(f: &BTreeMap<String, String>) -> Option<Control> {
        let text = |k: &str| f.get(k).cloned().unwrap_or_default();
        let opt = |k: &str| f.get(k).cloned();
        Some(Control {
            package: f.get("Package")?.clone(),
            version: f.get("Version")?.clone(),
            architecture: text("Architecture"),
            source: opt("Source"),
            maintainer: opt("Maintainer"),
            section: opt("Section"),
            installed_size: f.get("Installed-Size").and_then(|s| s.parse().ok()),
            essential: f.get("Essential").is_some_and(|v| v == "yes"),
            multi_arch: opt("Multi-Arch"),
            depends: text("Depends"),
            pre_depends: text("Pre-Depends"),
            provides: text("Provides"),
            homepage: opt("Homepage"),
            description: f.get("Description").and_then(|d| d.lines().next()).unwrap_or_default().to_string(),
        })
    }
}

impl Control {
    /// The package's entry in dpkg's database as an installed package, in
    /// dpkg's field order: what an image keeps in `/var/lib/dpkg/status.d/`
    /// (as distroless images do) so that scanners see its Debian packages.
    pub fn status_stanza(&self) -> String {
        let mut out = String::new();
        let mut field = |name: &str, value: &str| {
            if !value.is_empty() {
                out.push_str(&format!("{name}: {value}\n"));
            }
        };
        let size = self.installed_size.map(|s| s.to_string()).unwrap_or_default();
        field("Package", &self.package);
        field("Status", "install ok installed");
        field("Section", self.section.as_deref().unwrap_or_default());
        field("Installed-Size", &size);
        field("Maintainer", self.maintainer.as_deref().unwrap_or_default());
        field("Architecture", &self.architecture);
        field("Multi-Arch", self.multi_arch.as_deref().unwrap_or_default());
        field("Source", self.source.as_deref().unwrap_or_default());
        field("Version", &self.version);
        field("Provides", &self.provides);
        field("Pre-Depends", &self.pre_depends);
        field("Depends", &self.depends);
        field("Description", &self.description);
        field("Homepage", self.homepage.as_deref().unwrap_or_default());
        out
    }
}

/// Reads the `control` file of a `.deb` without touching its data.
pub fn read_control(deb: &Path) -> Result<Control, DebError> {
    let members = control_members(deb, &["control"])?;
    let text = members
        .get("control")
        .ok_or_else(|| DebError::Format { path: deb.to_path_buf(), why: "control.tar has no control file".into() })?;
    Control::from_fields(&parse_fields(&String::from_utf8_lossy(text)))
        .ok_or_else(|| DebError::Format { path: deb.to_path_buf(), why: "its control file has no Package or Version field".into() })
}

/// The members of a `.deb`'s `control.tar` with these names (`control`,
/// `shlibs`, `symbols`, `postinst`, ...), those it has, by name.
pub fn control_members(deb: &Path, names: &[&str]) -> Result<BTreeMap<String, Vec<u8>>, DebError> {
    // Control members are a few KiB; the cap keeps a hostile package from
    // making us buffer gigabytes.
    const MAX_MEMBER: u64 = 1 << 20;
    let mut archive = tar::Archive::new(tar_member(deb, "control.tar")?);
    let mut out = BTreeMap::new();
    for entry in archive.entries().map_err(read_err(deb))? {
        let entry = entry.map_err(read_err(deb))?;
        let name = match relative(&entry.path_bytes()) {
            Ok(Some(p)) => p.to_string_lossy().into_owned(),
            _ => continue,
        };
        if !names.contains(&name.as_str()) || entry.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let mut bytes = Vec::new();
        entry.take(MAX_MEMBER).read_to_end(&mut bytes).map_err(read_err(deb))?;
        out.insert(name, bytes);
    }
    Ok(out)
}

/// The fields of one deb822 paragraph. Continuation lines (starting with a
/// space or tab) are appended to the previous field after a newline, trimmed.
pub fn parse_fields(text: &str) -> BTreeMap<String, String> {
    let mut fields: BTreeMap<String, String> = BTreeMap::new();
    let mut last: Option<String> = None;
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(v) = last.as_ref().and_then(|k| fields.get_mut(k)) {
                v.push('\n');
                v.push_str(line.trim());
            }
        } else if let Some((k, v)) = line.split_once(':') {
            let key = k.trim().to_string();
            fields.insert(key.clone(), v.trim().to_string());
            last = Some(key);
        }
    }
    fields
}

/// The paragraphs of a deb822 file: runs of lines between blank (or
/// whitespace-only) lines.
pub(super) fn paragraphs(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut pos) = (None, 0);
    for line in text.split_inclusive('\n') {
        if line.trim().is_empty() {
            if let Some(s) = start.take() {
                out.push(&text[s..pos]);
            }
        } else if start.is_none() {
            start = Some(pos);
        }
        pos += line.len();
    }
    if let Some(s) = start {
        out.push(&text[s..]);
    }
    out
}
