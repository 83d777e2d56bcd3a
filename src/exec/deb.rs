//! Debian binary packages: reading `.deb` files and installing them into a
//! root file system.
//!
//! A `.deb` is an `ar` archive of `debian-binary`, `control.tar.*` and
//! `data.tar.*`; the ar container is simple enough (fixed 60-byte headers)
//! that reading it by hand beats a dependency.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::archive::{self, ArchiveError, ExtractOptions, Format};

#[derive(Debug, thiserror::Error)]
pub enum DebError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a Debian package: {why}")]
    Format { path: PathBuf, why: String },
    #[error("installing {path}: {source}")]
    Archive { path: PathBuf, source: ArchiveError },
}

/// The fields of a package's `control` file that dhib keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Control {
    pub fields: BTreeMap<String, String>,
}

impl Control {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

/// The members of an ar archive, by name.
fn ar_members(path: &Path, bytes: &[u8]) -> Result<Vec<(String, std::ops::Range<usize>)>, DebError> {
    let bad = |why: &str| DebError::Format { path: path.to_path_buf(), why: why.to_string() };
    let mut rest = bytes.strip_prefix(b"!<arch>\n").ok_or_else(|| bad("no ar header"))?;
    let mut offset = 8;
    let mut out = Vec::new();
    while rest.len() >= 60 {
        let header = &rest[..60];
        let name = String::from_utf8_lossy(&header[..16]).trim().trim_end_matches('/').to_string();
        let size: usize =
            String::from_utf8_lossy(&header[48..58]).trim().parse().map_err(|_| bad("a member has no size"))?;
        let start = offset + 60;
        if start + size > bytes.len() {
            return Err(bad("a member runs past the end"));
        }
        out.push((name, start..start + size));
        let next = start + size + (size % 2);
        offset = next.min(bytes.len());
        rest = &bytes[offset..];
    }
    Ok(out)
}

fn member<'a>(path: &Path, bytes: &'a [u8], prefix: &str) -> Result<&'a [u8], DebError> {
    ar_members(path, bytes)?
        .into_iter()
        .find(|(n, _)| n.starts_with(prefix))
        .map(|(_, r)| &bytes[r])
        .ok_or_else(|| DebError::Format { path: path.to_path_buf(), why: format!("no {prefix}* member") })
}

fn tar_stream<'a>(path: &Path, data: &'a [u8]) -> Result<Box<dyn Read + 'a>, DebError> {
    let format = Format::detect(data).unwrap_or(Format::Tar);
    if format == Format::Zip {
        return Err(DebError::Format { path: path.to_path_buf(), why: "a member is a zip".into() });
    }
    Ok(archive::decompress(format, data))
}

/// Parses deb822 fields (`Name: value`, continuation lines start with a space).
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
            fields.insert(k.trim().to_string(), v.trim().to_string());
            last = Some(k.trim().to_string());
        }
    }
    fields
}

pub fn read_control(deb: &Path) -> Result<Control, DebError> {
    let bytes = fs::read(deb).map_err(|source| DebError::Io { path: deb.to_path_buf(), source })?;
    let control = member(deb, &bytes, "control.tar")?;
    let mut ar = tar::Archive::new(tar_stream(deb, control)?);
    let entries = ar.entries().map_err(|source| DebError::Io { path: deb.to_path_buf(), source })?;
    for e in entries {
        let mut e = e.map_err(|source| DebError::Io { path: deb.to_path_buf(), source })?;
        let name = e.path().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
        if name.trim_start_matches("./") == "control" {
            let mut text = String::new();
            e.read_to_string(&mut text).map_err(|source| DebError::Io { path: deb.to_path_buf(), source })?;
            let mut fields = parse_fields(&text);
            fields.remove("Description"); // long, and not a property of the contents
            return Ok(Control { fields });
        }
    }
    Err(DebError::Format { path: deb.to_path_buf(), why: "no control file".into() })
}

/// Installs a package's files into `root` (without running maintainer
/// scripts). `root` uses merged /usr: entries under `bin`, `sbin`, `lib*`
/// land under `usr/`.
pub fn unpack(deb: &Path, root: &Path) -> Result<archive::Extracted, DebError> {
    let bytes = fs::read(deb).map_err(|source| DebError::Io { path: deb.to_path_buf(), source })?;
    let data = member(deb, &bytes, "data.tar")?;
    let opts = ExtractOptions { clear_setuid: true, absolute_links: true, ..ExtractOptions::default() };
    let installed = archive::merge_tar(tar_stream(deb, data)?, root, &opts, &merged_usr);
    installed.map_err(|source| DebError::Archive { path: deb.to_path_buf(), source })
}

fn merged_usr(p: PathBuf) -> PathBuf {
    let mut parts = p.components();
    match parts.next().and_then(|c| c.as_os_str().to_str()) {
        Some(top @ ("bin" | "sbin" | "lib" | "lib32" | "lib64" | "libx32")) => Path::new("usr").join(top).join(parts.as_path()),
        _ => p,
    }
}
