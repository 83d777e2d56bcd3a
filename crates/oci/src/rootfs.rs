//! An image's root file system as its layers leave it, read from the tar
//! headers and contents without unpacking: what the standard checks and the
//! SBOM look at.

use std::collections::BTreeMap;
use std::io::Read;

use sha1::Sha1;
use sha2::{Digest as _, Sha256};

use super::{manifest_layers, Compression, Layer};
use dhib_core::hex;
use dhib_store::{Digest, Store, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Other,
}

/// One path of the root file system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub kind: Kind,
    /// Permission bits with setuid, setgid and sticky.
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
    /// Hex digests of a regular file's content (empty for other kinds).
    pub sha256: String,
    pub sha1: String,
    pub link: Option<String>,
    /// The index of the layer (in manifest order) that left it there.
    pub layer: usize,
}

/// Every path (no leading `/`) of the image `manifest` after all its layers,
/// whiteouts applied.
pub fn rootfs(store: &Store, manifest: &Digest) -> Result<BTreeMap<String, Node>, StoreError> {
    of_layers(&manifest_layers(store, manifest)?, &|d| store.get(d))
}

/// The root file system `layers` make, their blobs read with `read`.
pub fn of_layers(layers: &[Layer], read: &dyn Fn(&Digest) -> Result<Vec<u8>, StoreError>) -> Result<BTreeMap<String, Node>, StoreError> {
    let mut out = BTreeMap::new();
    for (i, layer) in layers.iter().enumerate() {
        apply(&read(&layer.digest)?, layer, i, &mut out)?;
    }
    Ok(out)
}

fn apply(bytes: &[u8], layer: &Layer, index: usize, out: &mut BTreeMap<String, Node>) -> Result<(), StoreError> {
    let bad = |e: std::io::Error| StoreError::BadManifest(layer.digest, format!("unreadable layer: {e}"));
    let reader: Box<dyn Read> = match layer.compression {
        Compression::Gzip => Box::new(flate2::read::GzDecoder::new(bytes)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(bytes).map_err(bad)?),
    };
    let clean =
        |p: &std::path::Path| p.to_string_lossy().trim_start_matches("./").trim_start_matches('/').trim_end_matches('/').to_string();
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let path = clean(&entry.path().map_err(bad)?);
        if path.is_empty() {
            continue;
        }
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", &path));
        if let Some(hidden) = name.strip_prefix(".wh.") {
            let prefix = if dir.is_empty() { String::new() } else { format!("{dir}/") };
            if hidden == ".wh..opq" {
                out.retain(|p, n| !(p.starts_with(&prefix) && n.layer < index));
            } else {
                let gone = format!("{prefix}{hidden}");
                out.retain(|p, _| p != &gone && !p.starts_with(&format!("{gone}/")));
            }
            continue;
        }
        let h = entry.header();
        let mode = h.mode().map_err(bad)? & 0o7777;
        let (uid, gid) = (h.uid().map_err(bad)?, h.gid().map_err(bad)?);
        let link = entry.link_name().map_err(bad)?.map(|l| l.to_string_lossy().into_owned());
        let node = match h.entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let (mut s256, mut s1) = (Sha256::new(), Sha1::new());
                let mut buf = [0u8; 64 * 1024];
                let mut size = 0u64;
                loop {
                    let n = entry.read(&mut buf).map_err(bad)?;
                    if n == 0 {
                        break;
                    }
                    s256.update(&buf[..n]);
                    s1.update(&buf[..n]);
                    size += n as u64;
                }
                Node {
                    kind: Kind::File,
                    mode,
                    uid,
                    gid,
                    size,
                    sha256: hex(&s256.finalize()),
                    sha1: hex(&s1.finalize()),
                    link: None,
                    layer: index,
                }
            }
            // A hard link is another name for a file of this layer.
            tar::EntryType::Link => {
                let target = link.as_deref().map(|l| clean(std::path::Path::new(l))).unwrap_or_default();
                match out.get(&target) {
                    Some(t) if t.kind == Kind::File => Node { mode, uid, gid, layer: index, ..t.clone() },
                    _ => continue,
                }
            }
            tar::EntryType::Directory => {
                Node { kind: Kind::Dir, mode, uid, gid, size: 0, sha256: String::new(), sha1: String::new(), link: None, layer: index }
            }
            tar::EntryType::Symlink => {
                Node { kind: Kind::Symlink, mode, uid, gid, size: 0, sha256: String::new(), sha1: String::new(), link, layer: index }
            }
            _ => Node { kind: Kind::Other, mode, uid, gid, size: 0, sha256: String::new(), sha1: String::new(), link: None, layer: index },
        };
        // A non-directory replaces whatever was below it, children included.
        if node.kind != Kind::Dir {
            let below = format!("{path}/");
            out.retain(|p, _| !p.starts_with(&below));
        }
        out.insert(path, node);
    }
    Ok(())
}
