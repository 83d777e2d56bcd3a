//! Safe extraction of source archives.
//!
//! Archives come from upstream and are untrusted even when pinned: an entry
//! may try to leave the extraction directory (`..`, absolute paths, links
//! pointing out, writing through a link), create devices, or carry setuid
//! bits. All of these are refused, and a refused archive leaves nothing
//! behind: extraction happens in a temp directory renamed into place at the
//! end. Owners, times and extended attributes are never restored: a build
//! sees the same tree on every machine.

use std::fs;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Tar,
    TarGz,
    TarXz,
    TarZst,
    TarBz2,
    Zip,
}

impl Format {
    /// Detects the format from the first bytes (at least 262 for plain tar).
    pub fn detect(head: &[u8]) -> Option<Format> {
        if head.starts_with(&[0x1f, 0x8b]) {
            Some(Format::TarGz)
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Some(Format::TarXz)
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Some(Format::TarZst)
        } else if head.starts_with(b"BZh") {
            Some(Format::TarBz2)
        } else if head.starts_with(b"PK\x03\x04") {
            Some(Format::Zip)
        } else if head.get(257..262) == Some(b"ustar") {
            Some(Format::Tar)
        } else {
            None
        }
    }
}

#[derive(Debug, Clone)]
pub struct ExtractOptions {
    /// A leading directory every entry must be inside, removed on extraction.
    pub strip_prefix: Option<String>,
    /// Refuse archives that expand to more than this many bytes.
    pub max_bytes: u64,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        ExtractOptions { strip_prefix: None, max_bytes: 16 << 30 }
    }
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Extracted {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{0} is not a tar (gz, xz, zst, bz2) or zip archive")]
    UnknownFormat(PathBuf),
    #[error("entry `{entry}` {why}")]
    Refused { entry: String, why: String },
    #[error("the archive expands to more than {0} bytes")]
    TooLarge(u64),
    #[error("reading the archive: {0}")]
    Corrupt(String),
}

fn refused(entry: &str, why: impl Into<String>) -> ArchiveError {
    ArchiveError::Refused { entry: entry.to_string(), why: why.into() }
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> ArchiveError + '_ {
    move |source| ArchiveError::Io { path: path.to_path_buf(), source }
}

pub fn decompress<'a>(format: Format, reader: impl Read + 'a) -> Box<dyn Read + 'a> {
    match format {
        Format::Tar | Format::Zip => Box::new(reader),
        Format::TarGz => Box::new(flate2::read::MultiGzDecoder::new(reader)),
        Format::TarXz => Box::new(xz2::read::XzDecoder::new_multi_decoder(reader)),
        Format::TarBz2 => Box::new(bzip2::read::MultiBzDecoder::new(reader)),
        Format::TarZst => match zstd::stream::read::Decoder::new(reader) {
            Ok(d) => Box::new(d),
            Err(e) => Box::new(FailingReader(Some(e))),
        },
    }
}

/// A reader that reports a decoder's construction error on first read.
struct FailingReader(Option<io::Error>);

impl Read for FailingReader {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(self.0.take().unwrap_or_else(|| io::Error::other("decoder failed")))
    }
}

/// Extracts `archive` into `dest`, which must not exist yet.
pub fn extract(archive: &Path, dest: &Path, opts: &ExtractOptions) -> Result<Extracted, ArchiveError> {
    let mut f = fs::File::open(archive).map_err(io_at(archive))?;
    let mut head = [0u8; 262];
    let n = read_up_to(&mut f, &mut head).map_err(io_at(archive))?;
    let format = Format::detect(&head[..n]).ok_or_else(|| ArchiveError::UnknownFormat(archive.to_path_buf()))?;
    let f = fs::File::open(archive).map_err(io_at(archive))?;
    atomically(dest, |tmp| match format {
        Format::Zip => extract_zip(f, tmp, opts),
        _ => extract_into(decompress(format, io::BufReader::new(f)), tmp, opts),
    })
}

/// Extracts an uncompressed tar stream into `dest`, which must not exist yet.
pub fn extract_tar<R: Read>(reader: R, dest: &Path, opts: &ExtractOptions) -> Result<Extracted, ArchiveError> {
    atomically(dest, |tmp| extract_into(reader, tmp, opts))
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Runs `f` on a fresh directory next to `dest` and renames it into place
/// only if `f` succeeds.
fn atomically(dest: &Path, f: impl FnOnce(&Path) -> Result<Extracted, ArchiveError>) -> Result<Extracted, ArchiveError> {
    let parent = dest.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(io_at(parent))?;
    let tmp = tempfile::Builder::new().prefix(".extract-").tempdir_in(parent).map_err(io_at(parent))?;
    let stats = f(tmp.path())?;
    let tmp = tmp.keep();
    fs::rename(&tmp, dest).map_err(|source| {
        let _ = fs::remove_dir_all(&tmp);
        ArchiveError::Io { path: dest.to_path_buf(), source }
    })?;
    Ok(stats)
}

/// The safe relative path of an entry after stripping the prefix, or `None`
/// for the prefix directory itself.
fn entry_path(raw: &str, opts: &ExtractOptions) -> Result<Option<PathBuf>, ArchiveError> {
    let path = Path::new(raw);
    let mut parts = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => parts.push(p.to_os_string()),
            Component::CurDir => {}
            Component::ParentDir => return Err(refused(raw, "leaves the extraction directory (`..`)")),
            Component::RootDir | Component::Prefix(_) => return Err(refused(raw, "has an absolute path")),
        }
    }
    if let Some(prefix) = &opts.strip_prefix {
        let prefix_parts: Vec<_> = Path::new(prefix).components().map(|c| c.as_os_str().to_os_string()).collect();
        if parts.len() < prefix_parts.len() || parts[..prefix_parts.len()] != prefix_parts[..] {
            return Err(refused(raw, format!("is outside the directory `{prefix}` the source strips")));
        }
        parts.drain(..prefix_parts.len());
    }
    Ok((!parts.is_empty()).then(|| parts.iter().collect()))
}

/// Every parent of `rel` inside `root` must be a real directory (created if
/// missing), so no entry writes through a link.
fn ensure_parents(root: &Path, rel: &Path, raw: &str) -> Result<(), ArchiveError> {
    let mut cur = root.to_path_buf();
    if let Some(parent) = rel.parent() {
        for c in parent.components() {
            cur.push(c);
            match fs::symlink_metadata(&cur) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => return Err(refused(raw, "would be written through a link or file")),
                Err(_) => fs::create_dir(&cur).map_err(io_at(&cur))?,
            }
        }
    }
    Ok(())
}

/// Whether a link at `rel` pointing at `target` stays inside the tree.
fn link_stays_inside(rel: &Path, target: &Path) -> bool {
    if target.is_absolute() {
        return false;
    }
    let mut depth: i64 = rel.parent().map_or(0, |p| p.components().count() as i64);
    for c in target.components() {
        match c {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            _ => return false,
        }
        if depth < 0 {
            return false;
        }
    }
    true
}

fn remove_existing(path: &Path) {
    if let Ok(m) = fs::symlink_metadata(path) {
        if !m.is_dir() {
            let _ = fs::remove_file(path);
        }
    }
}

fn check_mode(raw: &str, mode: u32) -> Result<(), ArchiveError> {
    if mode & 0o6000 != 0 {
        return Err(refused(raw, format!("has the setuid or setgid bit (mode {mode:o})")));
    }
    Ok(())
}

fn extract_into<R: Read>(reader: R, root: &Path, opts: &ExtractOptions) -> Result<Extracted, ArchiveError> {
    let mut stats = Extracted::default();
    let mut ar = tar::Archive::new(reader);
    let entries = ar.entries().map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let kind = entry.header().entry_type();
        let mode = entry.header().mode().unwrap_or(0o644);
        if matches!(kind, tar::EntryType::XGlobalHeader | tar::EntryType::XHeader | tar::EntryType::GNULongName | tar::EntryType::GNULongLink) {
            continue;
        }
        let Some(rel) = entry_path(&raw, opts)? else { continue };
        let dest = root.join(&rel);
        match kind {
            tar::EntryType::Directory => {
                check_mode(&raw, mode)?;
                ensure_parents(root, &rel, &raw)?;
                match fs::symlink_metadata(&dest) {
                    Ok(m) if m.is_dir() => {}
                    Ok(_) => return Err(refused(&raw, "replaces a link or file with a directory")),
                    Err(_) => fs::create_dir(&dest).map_err(io_at(&dest))?,
                }
                set_mode(&dest, 0o755)?;
                stats.dirs += 1;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let size = entry.size();
                write_file(root, &rel, &raw, mode, size, &mut entry, opts, &mut stats)?;
            }
            tar::EntryType::Symlink => {
                let target = entry.link_name().ok().flatten().map(|t| t.into_owned()).unwrap_or_default();
                if !link_stays_inside(&rel, &target) {
                    return Err(refused(&raw, format!("is a link to `{}`, outside the tree", target.display())));
                }
                ensure_parents(root, &rel, &raw)?;
                remove_existing(&dest);
                std::os::unix::fs::symlink(&target, &dest).map_err(io_at(&dest))?;
                stats.symlinks += 1;
            }
            tar::EntryType::Link => {
                let target = entry.link_name().ok().flatten().map(|t| t.into_owned()).unwrap_or_default();
                let outside = || refused(&raw, format!("is a hard link to `{}`, outside the tree (absolute or leaving it)", target.display()));
                let target_rel = entry_path(&target.to_string_lossy(), opts).map_err(|_| outside())?.ok_or_else(outside)?;
                let src = root.join(&target_rel);
                match fs::symlink_metadata(&src) {
                    Ok(m) if m.is_file() => {}
                    _ => return Err(refused(&raw, format!("is a hard link to `{}`, not an extracted file", target.display()))),
                }
                ensure_parents(root, &rel, &raw)?;
                remove_existing(&dest);
                fs::hard_link(&src, &dest).map_err(io_at(&dest))?;
                stats.files += 1;
            }
            tar::EntryType::Char | tar::EntryType::Block => return Err(refused(&raw, "is a device node")),
            tar::EntryType::Fifo => return Err(refused(&raw, "is a fifo")),
            other => return Err(refused(&raw, format!("has an unsupported type ({other:?})"))),
        }
    }
    Ok(stats)
}

fn extract_zip(file: fs::File, root: &Path, opts: &ExtractOptions) -> Result<Extracted, ArchiveError> {
    let mut stats = Extracted::default();
    let mut zip = zip::ZipArchive::new(file).map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
        let raw = f.name().map_err(|e| ArchiveError::Corrupt(e.to_string()))?.to_string();
        let mode = f.unix_mode().unwrap_or(0o644);
        let Some(rel) = entry_path(&raw, opts)? else { continue };
        let dest = root.join(&rel);
        let is_link = mode & 0o170000 == 0o120000;
        if f.is_dir() {
            check_mode(&raw, mode & 0o7777)?;
            ensure_parents(root, &rel, &raw)?;
            if !dest.is_dir() {
                fs::create_dir(&dest).map_err(io_at(&dest))?;
            }
            stats.dirs += 1;
        } else if is_link {
            let mut target = String::new();
            f.read_to_string(&mut target).map_err(io_at(&dest))?;
            if !link_stays_inside(&rel, Path::new(&target)) {
                return Err(refused(&raw, format!("is a link to `{target}`, outside the tree")));
            }
            ensure_parents(root, &rel, &raw)?;
            remove_existing(&dest);
            std::os::unix::fs::symlink(&target, &dest).map_err(io_at(&dest))?;
            stats.symlinks += 1;
        } else {
            let size = f.size();
            write_file(root, &rel, &raw, mode & 0o7777, size, &mut f, opts, &mut stats)?;
        }
    }
    Ok(stats)
}

/// Writes one regular file entry: the checks and the normalized mode every
/// format shares.
#[allow(clippy::too_many_arguments)]
fn write_file(
    root: &Path,
    rel: &Path,
    raw: &str,
    mode: u32,
    size: u64,
    content: &mut dyn Read,
    opts: &ExtractOptions,
    stats: &mut Extracted,
) -> Result<(), ArchiveError> {
    check_mode(raw, mode)?;
    ensure_parents(root, rel, raw)?;
    let dest = root.join(rel);
    remove_existing(&dest);
    stats.bytes += size;
    if stats.bytes > opts.max_bytes {
        return Err(ArchiveError::TooLarge(opts.max_bytes));
    }
    let mut out = fs::File::create(&dest).map_err(io_at(&dest))?;
    io::copy(content, &mut out).map_err(io_at(&dest))?;
    set_mode(&dest, if mode & 0o111 != 0 { 0o755 } else { 0o644 })?;
    stats.files += 1;
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> Result<(), ArchiveError> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io_at(path))
}
