//! Safe, deterministic extraction of source archives.
//!
//! Archives come from upstream and are untrusted even when pinned: an entry
//! may try to leave the extraction directory (`..`, absolute paths, links
//! pointing out, writing through a link), create devices, fifos or sockets,
//! carry setuid bits, or expand without bound. All of these are refused, and
//! a refused archive leaves nothing behind: extraction happens in a temp
//! directory next to `dest` that is renamed into place only on success.
//!
//! The extracted tree is a function of the archive's names, contents, link
//! targets and execute bits alone, so a build sees the same tree on every
//! machine:
//! - owners are never restored (builds run where only uid 0 is mapped), nor
//!   extended attributes or ACLs (pax `SCHILY.xattr.*` records are ignored);
//! - directories are 0755, regular files 0644, or 0755 when the archive gave
//!   them any execute bit; symlinks are created as they are;
//! - modification times are not restored either: files carry the time of
//!   extraction. dhib never trusts archive mtimes; builds that need stable
//!   times get `SOURCE_DATE_EPOCH`.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fmt::Display;
use std::fs;
use std::io::{self, Read, Seek, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
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
    /// Detects the format from the first bytes (at least 262 for plain tar,
    /// whose "ustar" magic is at offset 257), never from a file name.
    pub fn detect(head: &[u8]) -> Option<Format> {
        if head.starts_with(&[0x1f, 0x8b]) {
            Some(Format::TarGz)
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Some(Format::TarXz)
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Some(Format::TarZst)
        } else if head.starts_with(b"BZh") {
            Some(Format::TarBz2)
        } else if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
            // The second magic is an empty zip: only the end of its directory.
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
    /// A leading directory every entry must be inside, removed on extraction
    /// (`zlib-1.2.13.dfsg`); an entry outside it is refused.
    pub strip_prefix: Option<String>,
    /// Refuse archives whose entries hold more than this many bytes in all:
    /// the guard against decompression bombs.
    pub max_bytes: u64,
    /// The archive is a root file system (an image layer): a link's target
    /// is read as inside a container, where `/` and `..` at the top are the
    /// root itself, so no link leaves the tree. Writes through links are
    /// still refused.
    pub rootfs: bool,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        ExtractOptions { strip_prefix: None, max_bytes: 16 << 30, rootfs: false }
    }
}

/// What an extraction wrote. Counts are of entries written, so a duplicate
/// entry that replaces an earlier one counts again; `dirs` includes parent
/// directories the archive did not list.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Extracted {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The archive file or the destination itself, not one of its entries.
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{0} is not a tar (gz, xz, zst, bz2) or zip archive")]
    UnknownFormat(PathBuf),
    #[error("{0} already exists and is not an empty directory")]
    DestNotEmpty(PathBuf),
    #[error("entry `{entry}` {why}")]
    Refused { entry: String, why: String },
    #[error("the archive expands to more than {0} bytes")]
    TooLarge(u64),
    #[error("the archive ({size} bytes) expands to more than {limit} bytes: refused as a decompression bomb (past {BOMB_RATIO} times its size and {BOMB_FLOOR} bytes)")]
    Bomb { size: u64, limit: u64 },
    /// `at` is "entry `x`", or "the archive" and the last good entry when
    /// the failure is between entries.
    #[error("reading {at}: {message}")]
    Corrupt { at: String, message: String },
    #[error("writing entry `{entry}`: {source}")]
    Write { entry: String, source: io::Error },
}

/// An archive expanding past this many times its own size, and past
/// [`BOMB_FLOOR`] bytes, is taken for a decompression bomb: source archives
/// expand 3 to 20 times.
pub const BOMB_RATIO: u64 = 200;
pub const BOMB_FLOOR: u64 = 256 << 20;

/// The longest GNU long name or pax header read into memory: real ones are
/// a few hundred bytes, and the tar crate would buffer any size.
const MAX_METADATA: u64 = 1 << 20;
/// Linux's limit on links followed in one lookup (MAXSYMLINKS).
const MAX_LINK_HOPS: usize = 40;
/// Linux's PATH_MAX: no link target can be longer.
const MAX_LINK_TARGET: u64 = 4096;

const S_IFMT: u32 = 0o170000;
const S_IFSOCK: u32 = 0o140000;
const S_IFLNK: u32 = 0o120000;
const S_IFREG: u32 = 0o100000;
const S_IFBLK: u32 = 0o060000;
const S_IFDIR: u32 = 0o040000;
const S_IFCHR: u32 = 0o020000;
const S_IFIFO: u32 = 0o010000;

fn refused(entry: &str, why: impl Into<String>) -> ArchiveError {
    ArchiveError::Refused { entry: entry.to_string(), why: why.into() }
}

fn corrupt(at: impl Into<String>, e: impl Display) -> ArchiveError {
    ArchiveError::Corrupt { at: at.into(), message: e.to_string() }
}

fn at_entry(entry: &str) -> String {
    format!("entry `{entry}`")
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> ArchiveError + '_ {
    move |source| ArchiveError::Io { path: path.to_path_buf(), source }
}

fn write_err(entry: &str) -> impl FnOnce(io::Error) -> ArchiveError + '_ {
    move |source| ArchiveError::Write { entry: entry.to_string(), source }
}

/// Wraps `reader` in the decoder of a tar format (`Tar` and `Zip` pass it
/// through). Concatenated streams (`pigz`, `pbzip2`, `xz -T`) are read whole.
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

/// Reports a decoder's construction error on first read, so `decompress`
/// can keep returning a plain reader.
struct FailingReader(Option<io::Error>);

impl Read for FailingReader {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(self.0.take().unwrap_or_else(|| io::Error::other("decoder failed")))
    }
}

/// Extracts `archive`, of a format detected from its first bytes, into
/// `dest`, which must not exist or be an empty directory.
pub fn extract(archive: &Path, dest: &Path, opts: &ExtractOptions) -> Result<Extracted, ArchiveError> {
    let size = fs::metadata(archive).map_err(io_at(archive))?.len();
    let bomb = BOMB_FLOOR.max(size.saturating_mul(BOMB_RATIO));
    let capped = &ExtractOptions { max_bytes: opts.max_bytes.min(bomb), ..opts.clone() };
    let mut file = io::BufReader::new(fs::File::open(archive).map_err(io_at(archive))?);
    let mut head = Vec::with_capacity(262);
    (&mut file).take(262).read_to_end(&mut head).map_err(io_at(archive))?;
    let format = Format::detect(&head).ok_or_else(|| ArchiveError::UnknownFormat(archive.to_path_buf()))?;
    file.rewind().map_err(io_at(archive))?;
    atomically(dest, capped, |x| match format {
        Format::Zip => zip_entries(file, x),
        _ => tar_entries(decompress(format, file), x),
    })
    .map_err(|e| match e {
        ArchiveError::TooLarge(limit) if bomb < opts.max_bytes => ArchiveError::Bomb { size, limit },
        e => e,
    })
}

/// Extracts an uncompressed tar stream into `dest`, which must not exist or
/// be an empty directory.
pub fn extract_tar<R: Read>(reader: R, dest: &Path, opts: &ExtractOptions) -> Result<Extracted, ArchiveError> {
    atomically(dest, opts, |x| tar_entries(reader, x))
}

/// Runs `fill` on a fresh directory next to `dest` (so the final rename
/// stays on one file system) and renames it into place only if `fill` and
/// the final link check succeed; otherwise the directory is removed.
fn atomically(
    dest: &Path,
    opts: &ExtractOptions,
    fill: impl FnOnce(&mut Extractor<'_>) -> Result<(), ArchiveError>,
) -> Result<Extracted, ArchiveError> {
    match fs::symlink_metadata(dest) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_at(dest)(e)),
        // Not a link to one: the rename would replace the link, not fill its target.
        Ok(m) if m.is_dir() && fs::read_dir(dest).map_err(io_at(dest))?.next().is_none() => {}
        Ok(_) => return Err(ArchiveError::DestNotEmpty(dest.to_path_buf())),
    }
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    fs::create_dir_all(parent).map_err(io_at(parent))?;
    let tmp = tempfile::Builder::new().prefix(".extract-").tempdir_in(parent).map_err(io_at(parent))?;
    let mut x = Extractor::new(tmp.path(), opts);
    fill(&mut x)?;
    let stats = x.finish()?;
    // tempfile creates the directory 0700.
    set_mode(tmp.path(), 0o755).map_err(io_at(tmp.path()))?;
    let tmp = tmp.keep();
    fs::rename(&tmp, dest).map_err(|source| {
        let _ = fs::remove_dir_all(&tmp);
        ArchiveError::Io { path: dest.to_path_buf(), source }
    })?;
    Ok(stats)
}

/// GNU long name, long link and pax records that precede a tar entry.
#[derive(Default)]
struct TarMeta {
    name: Option<Vec<u8>>,
    link: Option<Vec<u8>>,
    pax: Option<Vec<u8>>,
}

fn tar_entries<R: Read>(reader: R, x: &mut Extractor<'_>) -> Result<(), ArchiveError> {
    let mut archive = tar::Archive::new(reader);
    // Raw entries: the tar crate would read long names and pax headers of any
    // size into memory; here they are bounded by MAX_METADATA.
    let entries = archive.entries().map_err(|e| corrupt("the archive", e))?.raw(true);
    let mut meta = TarMeta::default();
    let mut last: Option<String> = None;
    let between = |last: &Option<String>| match last {
        Some(e) => format!("the archive after entry `{e}`"),
        None => "the archive".to_string(),
    };
    for entry in entries {
        let mut entry = entry.map_err(|e| corrupt(between(&last), e))?;
        let kind = entry.header().entry_type();
        let slot = match kind {
            tar::EntryType::GNULongName => Some(&mut meta.name),
            tar::EntryType::GNULongLink => Some(&mut meta.link),
            tar::EntryType::XHeader => Some(&mut meta.pax),
            _ => None,
        };
        if let Some(slot) = slot {
            if slot.is_some() {
                return Err(corrupt(between(&last), "two extended headers of one kind for the same entry"));
            }
            let size = entry.size();
            if size > MAX_METADATA {
                return Err(corrupt(between(&last), format!("an extended header of {size} bytes (the limit is {MAX_METADATA})")));
            }
            let mut data = Vec::new();
            entry.read_to_end(&mut data).map_err(|e| corrupt(between(&last), e))?;
            *slot = Some(data);
            continue;
        }
        if kind == tar::EntryType::XGlobalHeader {
            // Archive-wide records (git archive's commit id): nothing per file.
            x.charge(entry.size())?;
            continue;
        }

        let meta = std::mem::take(&mut meta);
        let mut pax_path = None;
        let mut pax_link = None;
        for record in tar::PaxExtensions::new(meta.pax.as_deref().unwrap_or_default()) {
            let record = record.map_err(|e| corrupt(between(&last), e))?;
            match record.key_bytes() {
                b"path" => pax_path = Some(record.value_bytes().to_vec()),
                b"linkpath" => pax_link = Some(record.value_bytes().to_vec()),
                // Raw entries are read with the header's size: a pax size that
                // differs would make this reader and others see different files.
                b"size" if record.value().ok().and_then(|v| v.parse::<u64>().ok()) != Some(entry.size()) => {
                    return Err(corrupt(between(&last), "a pax size that differs from its header's"));
                }
                _ => {}
            }
        }
        let header = entry.header();
        let name = meta.name.map(c_string).or(pax_path).unwrap_or_else(|| header.path_bytes().into_owned());
        let link = meta.link.map(c_string).or(pax_link).or_else(|| header.link_name_bytes().map(|l| l.into_owned()));
        let shown = String::from_utf8_lossy(&name).into_owned();
        // Links have no mode of their own, and some writers leave it blank.
        let mode = || header.mode().map(|m| m & 0o7777).map_err(|e| corrupt(at_entry(&shown), e));
        let size = entry.size();
        let link = link.unwrap_or_default();
        // Pre-POSIX tars mark directories by a trailing slash alone.
        let is_dir = kind == tar::EntryType::Directory || (kind == tar::EntryType::Regular && name.ends_with(b"/"));
        let rel = x.entry_path(&name, &shown, is_dir)?;
        match kind {
            _ if is_dir => x.dir(&shown, rel, mode()?)?,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let mode = mode()?;
                x.file(&shown, rel, mode, size, &mut entry)?
            }
            tar::EntryType::Symlink => x.symlink(&shown, rel, &link)?,
            tar::EntryType::Link => x.hardlink(&shown, rel, &link)?,
            tar::EntryType::Char | tar::EntryType::Block => return Err(refused(&shown, "is a device node")),
            tar::EntryType::Fifo => return Err(refused(&shown, "is a fifo")),
            other => return Err(refused(&shown, format!("has an unsupported type ({other:?})"))),
        }
        if !matches!(kind, tar::EntryType::Regular | tar::EntryType::Continuous) {
            // The tar crate skips data of other entries by reading it; count it
            // so such data cannot make the stream unbounded either.
            x.charge(size)?;
        }
        last = Some(shown);
    }
    Ok(())
}

/// A GNU long name is a C string, NUL-padded.
fn c_string(mut bytes: Vec<u8>) -> Vec<u8> {
    if let Some(nul) = bytes.iter().position(|b| *b == 0) {
        bytes.truncate(nul);
    }
    bytes
}

fn zip_entries<R: Read + Seek>(reader: R, x: &mut Extractor<'_>) -> Result<(), ArchiveError> {
    let mut zip = zip::ZipArchive::new(reader).map_err(|e| corrupt("the archive", e))?;
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).map_err(|e| corrupt(format!("entry {i} of the archive"), e))?;
        let name = f.name().map_err(|e| corrupt(format!("entry {i} of the archive"), e))?.into_owned();
        // The zip crate clears setuid and setgid bits; restore them from the
        // Unix half of the external attributes so they are refused, not
        // silently dropped. DOS attributes have no such bits.
        let specials = if f.system() == zip::System::Dos { 0 } else { (f.external_attributes() >> 16) & 0o6000 };
        let mode = f.unix_mode().map(|m| m | specials);
        let kind = mode.map(|m| m & S_IFMT);
        // A trailing slash marks a directory when the mode gives no other type.
        let is_dir = kind == Some(S_IFDIR) || (matches!(kind, None | Some(S_IFREG | 0)) && f.is_dir());
        let rel = x.entry_path(name.as_bytes(), &name, is_dir)?;
        let perms = mode.map_or(0o644, |m| m & 0o7777);
        match kind {
            Some(S_IFLNK) => {
                let mut target = Vec::new();
                (&mut f).take(MAX_LINK_TARGET + 1).read_to_end(&mut target).map_err(|e| corrupt(at_entry(&name), e))?;
                if target.len() as u64 > MAX_LINK_TARGET {
                    return Err(refused(&name, format!("is a link whose target is longer than {MAX_LINK_TARGET} bytes")));
                }
                x.charge(target.len() as u64)?;
                x.symlink(&name, rel, &target)?;
            }
            _ if is_dir => x.dir(&name, rel, perms)?,
            Some(S_IFCHR | S_IFBLK) => return Err(refused(&name, "is a device node")),
            Some(S_IFIFO) => return Err(refused(&name, "is a fifo")),
            Some(S_IFSOCK) => return Err(refused(&name, "is a socket")),
            // Some writers store permission bits without a file type.
            Some(S_IFREG | 0) | None => {
                let size = f.size();
                x.file(&name, rel, perms, size, &mut f)?;
            }
            Some(other) => return Err(refused(&name, format!("has an unsupported file type ({other:o})"))),
        }
    }
    Ok(())
}

/// Writes entries into the temp directory `root`, checking each against
/// what is already there.
struct Extractor<'a> {
    root: &'a Path,
    opts: &'a ExtractOptions,
    /// `strip_prefix` as path components.
    prefix: Option<Vec<OsString>>,
    stats: Extracted,
    /// Bytes of entry data read so far, counted against `max_bytes`.
    used: u64,
    /// Every symlink created, by path, with the entry that created it: links
    /// are checked again once the whole tree exists.
    links: BTreeMap<PathBuf, String>,
}

impl<'a> Extractor<'a> {
    fn new(root: &'a Path, opts: &'a ExtractOptions) -> Self {
        let prefix = opts.strip_prefix.as_ref().map(|p| {
            Path::new(p)
                .components()
                .filter_map(|c| match c {
                    Component::Normal(n) => Some(n.to_os_string()),
                    _ => None,
                })
                .collect()
        });
        Extractor { root, opts, prefix, stats: Extracted::default(), used: 0, links: BTreeMap::new() }
    }

    fn charge(&mut self, bytes: u64) -> Result<(), ArchiveError> {
        self.used = self.used.saturating_add(bytes);
        if self.used > self.opts.max_bytes {
            return Err(ArchiveError::TooLarge(self.opts.max_bytes));
        }
        Ok(())
    }

    /// The entry's path below the root after stripping the prefix, or
    /// `None` for the root itself (`./`, or the prefix directory) and, for
    /// directories, the prefix's parents (`./` before `./zlib-1.2.13/`).
    fn entry_path(&self, raw: &[u8], shown: &str, is_dir: bool) -> Result<Option<PathBuf>, ArchiveError> {
        if raw.is_empty() {
            return Err(refused(shown, "has an empty name"));
        }
        let mut parts = Vec::new();
        for c in Path::new(OsStr::from_bytes(raw)).components() {
            match c {
                Component::Normal(p) => parts.push(p),
                Component::CurDir => {}
                Component::ParentDir => return Err(refused(shown, "leaves the extraction directory (`..`)")),
                Component::RootDir | Component::Prefix(_) => return Err(refused(shown, "has an absolute path")),
            }
        }
        if let Some(prefix) = &self.prefix {
            let common = prefix.iter().zip(&parts).all(|(p, q)| p.as_os_str() == *q);
            if common && is_dir && parts.len() < prefix.len() {
                return Ok(None);
            }
            if !common || parts.len() < prefix.len() {
                let shown_prefix = self.opts.strip_prefix.as_deref().unwrap_or_default();
                return Err(refused(shown, format!("is outside the directory `{shown_prefix}` the source strips")));
            }
            parts.drain(..prefix.len());
        }
        Ok((!parts.is_empty()).then(|| parts.iter().collect()))
    }

    fn dir(&mut self, shown: &str, rel: Option<PathBuf>, mode: u32) -> Result<(), ArchiveError> {
        check_special_bits(shown, mode)?;
        let Some(rel) = rel else { return Ok(()) };
        self.parents(shown, &rel)?;
        let path = self.root.join(&rel);
        match fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err(refused(shown, "would replace a file or link with a directory")),
            Err(e) if e.kind() == io::ErrorKind::NotFound => self.mkdir(shown, &path),
            Err(e) => Err(write_err(shown)(e)),
        }
    }

    fn file(&mut self, shown: &str, rel: Option<PathBuf>, mode: u32, size: u64, content: &mut dyn Read) -> Result<(), ArchiveError> {
        check_special_bits(shown, mode)?;
        let rel = not_root(shown, rel)?;
        // Fails before writing anything when the declared size is already too
        // much; the copy below counts what is really read, since a zip's
        // declared size can lie.
        if self.used.saturating_add(size) > self.opts.max_bytes {
            return Err(ArchiveError::TooLarge(self.opts.max_bytes));
        }
        let path = self.make_room(shown, &rel)?;
        let perms = if mode & 0o111 != 0 { 0o755 } else { 0o644 };
        // create_new: never opens an existing file or follows a link.
        let mut out = fs::OpenOptions::new().write(true).create_new(true).mode(perms).open(&path).map_err(write_err(shown))?;
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = match content.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(corrupt(at_entry(shown), e)),
            };
            self.charge(n as u64)?;
            out.write_all(&buf[..n]).map_err(write_err(shown))?;
            self.stats.bytes += n as u64;
        }
        // The umask applied at creation; the mode must not depend on it.
        out.set_permissions(fs::Permissions::from_mode(perms)).map_err(write_err(shown))?;
        self.stats.files += 1;
        Ok(())
    }

    fn symlink(&mut self, shown: &str, rel: Option<PathBuf>, target: &[u8]) -> Result<(), ArchiveError> {
        let rel = not_root(shown, rel)?;
        let target = Path::new(OsStr::from_bytes(target));
        if target.as_os_str().is_empty() {
            return Err(refused(shown, "is a link with an empty target"));
        }
        if !self.opts.rootfs && !link_stays_inside(&rel, target) {
            return Err(refused(shown, format!("is a link to `{}`, outside the tree", target.display())));
        }
        let path = self.make_room(shown, &rel)?;
        std::os::unix::fs::symlink(target, &path).map_err(write_err(shown))?;
        self.links.insert(rel, shown.to_string());
        self.stats.symlinks += 1;
        Ok(())
    }

    /// A tar hard link names its target by archive path, which must be a
    /// regular file already extracted, reached without passing through links.
    fn hardlink(&mut self, shown: &str, rel: Option<PathBuf>, target: &[u8]) -> Result<(), ArchiveError> {
        let rel = not_root(shown, rel)?;
        let target_shown = String::from_utf8_lossy(target);
        let Ok(target_rel) = self.entry_path(target, &target_shown, false) else {
            return Err(refused(shown, format!("is a hard link to `{target_shown}`, outside the tree")));
        };
        // A hard link to a symlink would be a copy of the link at another
        // depth, where its relative target can mean something else.
        let Some(target_rel) = target_rel.filter(|t| is_plain_file(self.root, t)) else {
            return Err(refused(shown, format!("is a hard link to `{target_shown}`, which is not an extracted file")));
        };
        let path = self.make_room(shown, &rel)?;
        fs::hard_link(self.root.join(&target_rel), &path).map_err(write_err(shown))?;
        self.stats.files += 1;
        Ok(())
    }

    /// Makes every parent of `rel` a real directory, creating missing ones,
    /// so no entry is written through a link or below a file.
    fn parents(&mut self, shown: &str, rel: &Path) -> Result<(), ArchiveError> {
        let mut cur = self.root.to_path_buf();
        for c in rel.parent().into_iter().flat_map(Path::components) {
            cur.push(c);
            match fs::symlink_metadata(&cur) {
                Ok(m) if m.is_dir() => {}
                Ok(m) => {
                    let inside = cur.strip_prefix(self.root).unwrap_or(&cur).display().to_string();
                    let what = if m.is_symlink() { "through a link" } else { "below a file" };
                    return Err(refused(shown, format!("would be written {what} (`{inside}`)")));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => self.mkdir(shown, &cur)?,
                Err(e) => return Err(write_err(shown)(e)),
            }
        }
        Ok(())
    }

    /// Prepares `rel` for a new file or link: its parents are real
    /// directories, and an earlier file or link there is removed (a later
    /// entry wins, as in tar), never followed. A directory is not replaced.
    fn make_room(&mut self, shown: &str, rel: &Path) -> Result<PathBuf, ArchiveError> {
        self.parents(shown, rel)?;
        let path = self.root.join(rel);
        match fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => Err(refused(shown, "would replace a directory")),
            Ok(_) => fs::remove_file(&path).map(|()| path).map_err(write_err(shown)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(path),
            Err(e) => Err(write_err(shown)(e)),
        }
    }

    fn mkdir(&mut self, shown: &str, path: &Path) -> Result<(), ArchiveError> {
        fs::create_dir(path).map_err(write_err(shown))?;
        set_mode(path, 0o755).map_err(write_err(shown))?;
        self.stats.dirs += 1;
        Ok(())
    }

    /// Checks every link once the tree is complete: a link whose target is
    /// inside on its own can still leave through another link
    /// (`a/up -> ..`, then `a/out -> up/..`), in either order.
    fn finish(self) -> Result<Extracted, ArchiveError> {
        for (rel, shown) in &self.links {
            let path = self.root.join(rel);
            // Replaced by a later entry.
            let Ok(target) = fs::read_link(&path) else { continue };
            if !self.opts.rootfs && !resolves_inside(self.root, rel) {
                return Err(refused(
                    shown,
                    format!(
                        "is a link to `{}`, which through other links leads outside the tree (or past {MAX_LINK_HOPS} links)",
                        target.display()
                    ),
                ));
            }
        }
        Ok(self.stats)
    }
}

fn not_root(shown: &str, rel: Option<PathBuf>) -> Result<PathBuf, ArchiveError> {
    rel.ok_or_else(|| refused(shown, "names the extraction directory itself but is not a directory"))
}

fn check_special_bits(shown: &str, mode: u32) -> Result<(), ArchiveError> {
    let which = match (mode & 0o4000 != 0, mode & 0o2000 != 0) {
        (true, true) => "the setuid and setgid bits",
        (true, false) => "the setuid bit",
        (false, true) => "the setgid bit",
        (false, false) => return Ok(()),
    };
    Err(refused(shown, format!("has {which} (mode {:04o})", mode & 0o7777)))
}

/// Whether a link at `rel` to `target` stays inside the tree, reading the
/// target's components lexically from the link's directory.
fn link_stays_inside(rel: &Path, target: &Path) -> bool {
    let mut depth = rel.parent().map_or(0, |p| p.components().count());
    for c in target.components() {
        match c {
            Component::ParentDir => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return false,
            },
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
}

/// Resolves the link at `rel` the way the kernel would, following links of
/// the extracted tree (never of the host: targets are read, not followed),
/// and says whether it stays inside `root`. A missing component is taken
/// as a directory name: it can only go deeper.
fn resolves_inside(root: &Path, rel: &Path) -> bool {
    let mut dir: Vec<OsString> = rel.parent().into_iter().flat_map(Path::iter).map(OsStr::to_os_string).collect();
    let mut todo: Vec<OsString> = rel.file_name().into_iter().map(OsStr::to_os_string).collect();
    let mut hops = 0;
    while let Some(c) = todo.pop() {
        if c == ".." {
            if dir.pop().is_none() {
                return false;
            }
            continue;
        }
        let here: PathBuf = root.join(dir.iter().collect::<PathBuf>()).join(&c);
        match fs::read_link(&here) {
            Ok(target) => {
                hops += 1;
                if hops > MAX_LINK_HOPS || target.has_root() {
                    return false;
                }
                // Processed next, relative to the link's directory `dir`.
                for t in target.components().rev() {
                    match t {
                        Component::Normal(n) => todo.push(n.to_os_string()),
                        Component::ParentDir => todo.push("..".into()),
                        Component::CurDir => {}
                        Component::RootDir | Component::Prefix(_) => return false,
                    }
                }
            }
            Err(_) => dir.push(c),
        }
    }
    true
}

/// Whether `rel` is a regular file reached through real directories only.
fn is_plain_file(root: &Path, rel: &Path) -> bool {
    let mut cur = root.to_path_buf();
    let mut parts = rel.components().peekable();
    while let Some(c) = parts.next() {
        cur.push(c);
        match fs::symlink_metadata(&cur) {
            Ok(m) if parts.peek().is_some() && m.is_dir() => {}
            Ok(m) if parts.peek().is_none() && m.is_file() => return true,
            _ => return false,
        }
    }
    false
}

fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}
