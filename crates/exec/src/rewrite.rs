//! Workspace files dhib rewrites (`dhib fmt`, `dhib lock`, `dhib upstream
//! update`): the new text is written beside the old and renamed over it.

use std::path::Path;

/// Replaces `path` so that a crash leaves either the old or the new bytes.
pub fn write_atomically(path: &Path, bytes: impl AsRef<[u8]>) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}
