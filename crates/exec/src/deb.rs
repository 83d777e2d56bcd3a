//! Debian binary packages: reading `.deb` files and installing them into a
//! merged-/usr root file system, Debian's version ordering, `Packages`
//! indexes, and the dependency closures `dhib lock` pins.
//!
//! A `.deb` is an `ar` archive of `debian-binary` (the format version),
//! `control.tar[.gz|.xz|.zst]` (metadata) and
//! `data.tar[.gz|.xz|.zst|.bz2]` (the files), in that order.

mod ar;
mod control;
mod index;
mod license;
mod resolve;
mod sources;
mod unpack;
mod version;

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Component, Path, PathBuf};

pub use control::{control_members, parse_fields, read_control, Control};
pub use index::{parse_packages, read_packages, IndexEntry};
pub use license::{copyright_license, license_from_copyright};
pub use resolve::{parse_relations, resolve, resolve_closure, Closure, Op, Relation, RelationError, ResolveError};
pub use sources::{build_relations, parse_sources, SourceEntry};
pub use unpack::{paths, unpack, Unpacked};
pub use version::compare_versions;

#[derive(Debug, thiserror::Error)]
pub enum DebError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    /// Not a valid `.deb` (or `Packages` file): `why` says what is wrong.
    #[error("{path}: {why}")]
    Format { path: PathBuf, why: String },
    /// An entry of the package that dhib does not install.
    #[error("{deb}: `{entry}` {why}")]
    Refused { deb: PathBuf, entry: String, why: String },
}

/// Reading errors of a `.deb`: corrupt data is a format problem, anything
/// else an I/O one.
fn read_err(deb: &Path) -> impl Fn(io::Error) -> DebError + '_ {
    move |e| match e.kind() {
        io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput | io::ErrorKind::UnexpectedEof => {
            DebError::Format { path: deb.to_path_buf(), why: format!("corrupt package: {e}") }
        }
        _ => DebError::Io { path: deb.to_path_buf(), source: e },
    }
}

/// The decompressed contents of the member `prefix` (`control.tar` or
/// `data.tar`) of `deb`, streamed from the file.
fn tar_member(deb: &Path, prefix: &str) -> Result<Box<dyn Read>, DebError> {
    let format = |why: String| DebError::Format { path: deb.to_path_buf(), why };
    let file = File::open(deb).map_err(|source| DebError::Io { path: deb.to_path_buf(), source })?;
    let mut ar = ar::ArReader::new(BufReader::new(file)).map_err(read_err(deb))?;
    match ar.next_member().map_err(read_err(deb))? {
        Some((name, _)) if name == "debian-binary" => {}
        _ => return Err(format("not a Debian package: it does not start with `debian-binary`".into())),
    }
    let mut version = String::new();
    (&mut ar).take(16).read_to_string(&mut version).map_err(read_err(deb))?;
    if !version.starts_with("2.") {
        return Err(format(format!("unsupported package format {:?}", version.trim())));
    }
    while let Some((name, _)) = ar.next_member().map_err(read_err(deb))? {
        let Some(compression) = name.strip_prefix(prefix) else { continue };
        let stream: Box<dyn Read> = match compression {
            "" => Box::new(ar),
            ".gz" => Box::new(flate2::read::GzDecoder::new(ar)),
            ".xz" => Box::new(xz2::read::XzDecoder::new_multi_decoder(ar)),
            ".zst" => Box::new(zstd::stream::read::Decoder::new(ar).map_err(read_err(deb))?),
            ".bz2" => Box::new(bzip2::read::MultiBzDecoder::new(ar)),
            _ => return Err(format(format!("member `{name}` has a compression dhib does not read"))),
        };
        return Ok(stream);
    }
    Err(format(format!("no {prefix} member")))
}

/// An archive path as a path below the root: `./usr/bin/x` is `usr/bin/x`,
/// `./` is `None`; `..` and absolute paths are refused.
fn relative(raw: &[u8]) -> Result<Option<PathBuf>, &'static str> {
    use std::os::unix::ffi::OsStrExt;
    let mut out = PathBuf::new();
    for part in Path::new(std::ffi::OsStr::from_bytes(raw)).components() {
        match part {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::ParentDir => return Err("leaves the root (`..`)"),
            Component::RootDir | Component::Prefix(_) => return Err("has an absolute path"),
        }
    }
    Ok((!out.as_os_str().is_empty()).then_some(out))
}
