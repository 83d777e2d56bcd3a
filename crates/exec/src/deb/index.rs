//! A repository's `Packages` index: one deb822 paragraph per binary package.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde::Serialize;

use super::control::{paragraphs, parse_fields};
use super::DebError;

/// One package of a `Packages` index. Relationship fields are verbatim
/// (empty when absent); `parse_relations` reads them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IndexEntry {
    pub package: String,
    pub version: String,
    pub architecture: String,
    /// `Source`, verbatim (see `Control::source`).
    pub source: Option<String>,
    /// The path of the `.deb` below the repository root (`pool/...`).
    pub filename: String,
    pub size: u64,
    /// Lowercase hex, as the index has it.
    pub sha256: String,
    pub depends: String,
    pub pre_depends: String,
    pub provides: String,
    pub multi_arch: Option<String>,
    pub essential: bool,
}

impl IndexEntry {
    /// `None` when `Package` or `Version` is missing.
    fn from_fields(f: &BTreeMap<String, String>) -> Option<IndexEntry> {
        let text = |k: &str| f.get(k).cloned().unwrap_or_default();
        Some(IndexEntry {
            package: f.get("Package")?.clone(),
            version: f.get("Version")?.clone(),
            architecture: text("Architecture"),
            source: f.get("Source").cloned(),
            filename: text("Filename"),
            size: f.get("Size").and_then(|s| s.parse().ok()).unwrap_or(0),
            sha256: text("SHA256"),
            depends: text("Depends"),
            pre_depends: text("Pre-Depends"),
            provides: text("Provides"),
            multi_arch: f.get("Multi-Arch").cloned(),
            essential: f.get("Essential").is_some_and(|v| v == "yes"),
        })
    }
}

/// The packages of an index's text, in index order. Paragraphs without
/// `Package` or `Version` describe no package and are skipped; a missing or
/// malformed `Size` reads as 0 and a missing `Filename` or `SHA256` as empty,
/// so a consumer that fetches checks them.
pub fn parse_packages(text: &str) -> Vec<IndexEntry> {
    paragraphs(text).into_iter().filter_map(|p| IndexEntry::from_fields(&parse_fields(p))).collect()
}

/// Reads and parses a `Packages` file: plain, or compressed with gzip, xz,
/// bzip2 or zstd (recognized by content, not by name).
pub fn read_packages(path: &Path) -> Result<Vec<IndexEntry>, DebError> {
    let io_err = |source| DebError::Io { path: path.to_path_buf(), source };
    let mut file = BufReader::new(File::open(path).map_err(io_err)?);
    let head = file.fill_buf().map_err(io_err)?;
    let mut reader: Box<dyn Read> = if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else if head.starts_with(b"\xfd7zXZ\0") {
        Box::new(xz2::read::XzDecoder::new_multi_decoder(file))
    } else if head.starts_with(b"BZh") {
        Box::new(bzip2::read::MultiBzDecoder::new(file))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(zstd::stream::read::Decoder::with_buffer(file).map_err(io_err)?)
    } else {
        Box::new(file)
    };
    let mut text = String::new();
    reader.read_to_string(&mut text).map_err(io_err)?;
    Ok(parse_packages(&text))
}
