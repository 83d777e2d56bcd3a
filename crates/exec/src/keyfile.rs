//! Key files as dhib reads and writes them: regular files only, and small
//! (a key path comes from the environment or dhi.toml, so it may name
//! `/dev/zero`, read until memory runs out, or a FIFO, which blocks
//! forever); key pairs written 0600/0644 through a renamed temporary file;
//! and the password from the environment.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use dhib_attest::keys::{generate, KeyError};

/// Far above any PEM key; a longer file is not a key.
pub const MAX_KEY_FILE: u64 = 64 * 1024;

pub struct KeyFile {
    pub text: String,
    /// Permission bits that let others than the owner read it.
    pub readable_by_others: Option<u32>,
}

/// Reads the key file at `path`, refusing anything but a regular file of at
/// most [`MAX_KEY_FILE`] bytes.
pub fn read(path: &Path) -> Result<KeyFile, String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.file_type().is_file() {
        return Err("it is not a regular file".into());
    }
    if meta.len() > MAX_KEY_FILE {
        return Err(format!("it is {} bytes, larger than any key ({MAX_KEY_FILE} at most)", meta.len()));
    }
    let mut text = String::new();
    std::fs::File::open(path).and_then(|f| f.take(MAX_KEY_FILE + 1).read_to_string(&mut text)).map_err(|e| e.to_string())?;
    if text.len() as u64 > MAX_KEY_FILE {
        return Err(format!("it is larger than any key ({MAX_KEY_FILE} bytes at most)"));
    }
    let mode = meta.permissions().mode() & 0o777;
    Ok(KeyFile { text, readable_by_others: (mode & 0o077 != 0).then_some(mode) })
}

/// The key password from the environment: `DHIB_KEY_PASSWORD`, else
/// `COSIGN_PASSWORD` (so scripts written for cosign work unchanged), else
/// empty. A variable that is set but empty counts as set.
pub fn password_from_env() -> Vec<u8> {
    password_env_var().and_then(std::env::var_os).map(OsString::into_vec).unwrap_or_default()
}

/// The variable `password_from_env` reads, if either is set.
pub fn password_env_var() -> Option<&'static str> {
    ["DHIB_KEY_PASSWORD", "COSIGN_PASSWORD"].into_iter().find(|v| std::env::var_os(v).is_some())
}

/// Generates a key pair and writes `PREFIX.key` (mode 0600) and `PREFIX.pub`
/// (mode 0644), each through a temporary file renamed into place. Without
/// `force`, an existing file is never replaced, and neither file is written
/// if either exists.
pub fn write_key_pair(prefix: &Path, password: &[u8], force: bool) -> Result<(PathBuf, PathBuf), KeyError> {
    let with_ext = |ext: &str| {
        let mut name = prefix.as_os_str().to_owned();
        name.push(ext);
        PathBuf::from(name)
    };
    let (key_path, pub_path) = (with_ext(".key"), with_ext(".pub"));
    if !force {
        if let Some(existing) = [&key_path, &pub_path].into_iter().find(|p| p.symlink_metadata().is_ok()) {
            return Err(KeyError::Exists(existing.clone()));
        }
    }
    let pair = generate(password)?;
    write_file(&key_path, pair.private_pem.as_bytes(), 0o600, force)?;
    write_file(&pub_path, pair.public_pem.as_bytes(), 0o644, force)?;
    Ok((key_path, pub_path))
}

fn write_file(path: &Path, bytes: &[u8], mode: u32, replace: bool) -> Result<(), KeyError> {
    let err = |source| KeyError::Write { path: path.to_path_buf(), source };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    // The temporary file is created 0600, so the private key is never readable
    // by others, not even before the rename.
    let mut tmp = tempfile::Builder::new().prefix(".dhib-key").tempfile_in(dir).map_err(err)?;
    tmp.write_all(bytes).map_err(err)?;
    tmp.as_file().set_permissions(std::fs::Permissions::from_mode(mode)).map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    let persisted = if replace { tmp.persist(path) } else { tmp.persist_noclobber(path) };
    persisted.map_err(|e| match e.error.kind() {
        std::io::ErrorKind::AlreadyExists => KeyError::Exists(path.to_path_buf()),
        _ => err(e.error),
    })?;
    Ok(())
}
