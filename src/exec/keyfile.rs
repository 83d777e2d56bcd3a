//! Key files as dhib reads them: regular files only, and small. A key path
//! comes from the environment or dhi.toml, so it may name `/dev/zero` (read
//! until memory runs out) or a FIFO (which blocks forever).

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

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
