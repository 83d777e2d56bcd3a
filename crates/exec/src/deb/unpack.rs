//! Installing a package's `data.tar` into a root file system, the way dpkg
//! unpacks it but without maintainer scripts, owners or special files.

use std::ffi::OsStr;
use std::fs::{self, OpenOptions};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::{read_err, relative, tar_member, DebError};

/// What `unpack` installed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unpacked {
    /// Every directory, file and link, relative to the root, in archive
    /// order, after the merged-/usr mapping (`bin/sh` is `usr/bin/sh`).
    pub paths: Vec<String>,
    /// Paths the package marks setuid or setgid, installed without those
    /// bits: nothing in a build runs with privileges, and an image that needs
    /// them must say so itself.
    pub setuid_stripped: Vec<String>,
}

/// Installs the files of `deb` into `dest`, an existing root directory,
/// merging into the directories already there and replacing files and links
/// a previous package installed.
///
/// Debian 12 packages still ship files under `/bin`, `/lib`, `/lib64` and
/// `/sbin`; when `dest` has the merged-/usr links for them (`bin -> usr/bin`,
/// as dhib creates), those entries are installed under `usr/`. Any other way
/// out of `dest` is refused: `..`, absolute paths, and writing through a link
/// or file (for example a directory the package shipped as a link to `/etc`).
/// Device nodes and fifos are refused; owners are not applied; setuid and
/// setgid bits are stripped and reported.
pub fn unpack(deb: &Path, dest: &Path) -> Result<Unpacked, DebError> {
    let data = tar_member(deb, "data.tar")?;
    unpack_data(data, dest).map_err(|e| match e {
        DataError::Read(source) => read_err(deb)(source),
        DataError::Write(path, source) => DebError::Io { path, source },
        DataError::Refused(entry, why) => DebError::Refused { deb: deb.to_path_buf(), entry, why },
    })
}

/// The paths `unpack` installs from `deb` into a root with the merged-/usr
/// links (as every root dhib makes has), read from the archive alone: what
/// a package ships, for the SBOM, without writing it anywhere.
pub fn paths(deb: &Path) -> Result<Vec<String>, DebError> {
    let mut archive = tar::Archive::new(tar_member(deb, "data.tar")?);
    let mut out = Vec::new();
    for entry in archive.entries().map_err(read_err(deb))? {
        let entry = entry.map_err(read_err(deb))?;
        let kind = entry.header().entry_type();
        if kind == tar::EntryType::XGlobalHeader {
            continue;
        }
        let raw = entry.path_bytes();
        let refused =
            |why: &str| DebError::Refused { deb: deb.to_path_buf(), entry: String::from_utf8_lossy(&raw).into_owned(), why: why.into() };
        let Some(rel) = relative(&raw).map_err(refused)? else { continue };
        let alias = kind == tar::EntryType::Symlink && ALIASES.iter().any(|a| rel == Path::new(a));
        out.push(if alias { rel } else { merged(rel, &ALIASES) }.to_string_lossy().into_owned());
    }
    Ok(out)
}

/// `rel` as installed in a root where `aliases` link into `usr/`.
fn merged(rel: PathBuf, aliases: &[&str]) -> PathBuf {
    match rel.components().next() {
        Some(first) if aliases.iter().any(|a| OsStr::new(a) == first.as_os_str()) => Path::new("usr").join(rel),
        _ => rel,
    }
}

enum DataError {
    /// The tar stream is unreadable or corrupt.
    Read(io::Error),
    /// Writing below `dest` failed.
    Write(PathBuf, io::Error),
    /// An entry (as the archive names it) that is not installed, and why.
    Refused(String, String),
}

/// The merged-/usr links dhib creates at the top of a root.
const ALIASES: [&str; 4] = ["bin", "lib", "lib64", "sbin"];

/// Installs an uncompressed `data.tar` stream. Separate from `archive.rs`
/// on purpose: installing merges into a shared root (through its merged-/usr
/// links), strips setuid bits rather than refusing them, and accepts the
/// absolute links packages ship, none of which an upstream source archive
/// may do. It accepts only the entry types dpkg-deb writes.
fn unpack_data(reader: impl Read, dest: &Path) -> Result<Unpacked, DataError> {
    // Which aliases this root has, decided once: an entry's destination must
    // not depend on what earlier entries of the same package did.
    let aliases: Vec<&str> = ALIASES.into_iter().filter(|a| fs::read_link(dest.join(a)).is_ok_and(|t| is_alias_target(a, &t))).collect();
    let map = |rel: PathBuf| merged(rel, &aliases);

    let mut out = Unpacked::default();
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().map_err(DataError::Read)? {
        let mut entry = entry.map_err(DataError::Read)?;
        let kind = entry.header().entry_type();
        if kind == tar::EntryType::XGlobalHeader {
            continue; // pax metadata for the whole archive, not a file
        }
        let raw = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw).into_owned();
        let refuse = |why: &str| DataError::Refused(name.clone(), why.to_string());
        let Some(rel) = relative(&raw).map_err(&refuse)? else { continue };
        let mode = entry.header().mode().map_err(DataError::Read)?;
        let link = entry.link_name_bytes().map(|l| l.into_owned());

        // A package shipping the alias link itself (base-files does from
        // Debian 13 on) agrees with the root; anything else there would
        // replace it.
        if kind == tar::EntryType::Symlink && aliases.iter().any(|a| rel == Path::new(a)) {
            let target = link.as_deref().map(|l| Path::new(OsStr::from_bytes(l)));
            if !target.is_some_and(|t| is_alias_target(&rel.to_string_lossy(), t)) {
                return Err(refuse("would replace the root's merged-/usr link"));
            }
            out.paths.push(rel.to_string_lossy().into_owned());
            continue;
        }

        let rel = map(rel);
        let path = dest.join(&rel);
        let write = |e: io::Error| DataError::Write(path.clone(), e);
        match kind {
            tar::EntryType::Directory => {
                make_parents(dest, &rel, &refuse)?;
                match fs::symlink_metadata(&path) {
                    Ok(m) if m.is_dir() => {}
                    Ok(_) => return Err(refuse("is a directory, but a file or link is installed there")),
                    Err(_) => fs::create_dir(&path).map_err(write)?,
                }
                // Owner rwx always, so later packages can merge into it.
                fs::set_permissions(&path, fs::Permissions::from_mode(mode & 0o1777 | 0o700)).map_err(write)?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                make_parents(dest, &rel, &refuse)?;
                clear(&path, &refuse)?;
                // create_new never follows a link left at the path.
                let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).map_err(write)?;
                io::copy(&mut entry, &mut file).map_err(|e| match e.kind() {
                    io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof => DataError::Read(e),
                    _ => DataError::Write(path.clone(), e),
                })?;
                fs::set_permissions(&path, fs::Permissions::from_mode(mode & 0o1777)).map_err(write)?;
            }
            tar::EntryType::Symlink => {
                // The target is stored as is: it resolves inside the root
                // wherever the root is used, and unpacking never follows it.
                let target = link.ok_or_else(|| refuse("is a link without a target"))?;
                make_parents(dest, &rel, &refuse)?;
                clear(&path, &refuse)?;
                std::os::unix::fs::symlink(OsStr::from_bytes(&target), &path).map_err(write)?;
            }
            tar::EntryType::Link => {
                let target = link.ok_or_else(|| refuse("is a hard link without a target"))?;
                let target = relative(&target).map_err(&refuse)?.ok_or_else(|| refuse("is a hard link to the root"))?;
                let target = map(target);
                if !is_plain_file(dest, &target) {
                    return Err(refuse("is a hard link to something other than an installed file"));
                }
                make_parents(dest, &rel, &refuse)?;
                clear(&path, &refuse)?;
                fs::hard_link(dest.join(&target), &path).map_err(write)?;
            }
            tar::EntryType::Char | tar::EntryType::Block => {
                return Err(refuse("is a device node; dhib installs none (a root gets /dev from the sandbox)"))
            }
            tar::EntryType::Fifo => return Err(refuse("is a fifo; dhib installs none")),
            other => return Err(refuse(&format!("has an entry type dpkg-deb does not write ({other:?})"))),
        }
        let shown = rel.to_string_lossy().into_owned();
        if mode & 0o6000 != 0 && kind != tar::EntryType::Symlink {
            out.setuid_stripped.push(shown.clone());
        }
        out.paths.push(shown);
    }
    Ok(out)
}

/// `bin -> usr/bin` (or `/usr/bin`, the same inside the root).
fn is_alias_target(alias: &str, target: &Path) -> bool {
    target == Path::new("usr").join(alias) || target == Path::new("/usr").join(alias)
}

/// Creates the missing parents of `rel` below `dest`. Every existing one must
/// be a real directory: a link there would let the entry land outside.
fn make_parents(dest: &Path, rel: &Path, refuse: &dyn Fn(&str) -> DataError) -> Result<(), DataError> {
    let mut dir = dest.to_path_buf();
    for part in rel.parent().into_iter().flat_map(Path::components) {
        dir.push(part);
        match fs::symlink_metadata(&dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                let at = dir.strip_prefix(dest).unwrap_or(&dir).display();
                return Err(refuse(&format!("would be written through `{at}`, which is a link or file")));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => fs::create_dir(&dir).map_err(|e| DataError::Write(dir.clone(), e))?,
            Err(e) => return Err(DataError::Write(dir, e)),
        }
    }
    Ok(())
}

/// Removes a file or link at `path` so the entry replaces it; a directory
/// there is refused rather than deleted with what other packages put in it.
fn clear(path: &Path, refuse: &dyn Fn(&str) -> DataError) -> Result<(), DataError> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => Err(refuse("would replace a directory")),
        Ok(_) => fs::remove_file(path).map_err(|e| DataError::Write(path.to_path_buf(), e)),
        Err(_) => Ok(()),
    }
}

/// Whether `rel` below `dest` is a regular file reached without links.
fn is_plain_file(dest: &Path, rel: &Path) -> bool {
    let mut at = dest.to_path_buf();
    let parts: Vec<_> = rel.components().collect();
    for (i, part) in parts.iter().enumerate() {
        at.push(part);
        let last = i + 1 == parts.len();
        match fs::symlink_metadata(&at) {
            Ok(m) if last => return m.is_file(),
            Ok(m) if m.is_dir() => {}
            _ => return false,
        }
    }
    false
}
