use std::fs;
use std::io;
use std::path::Path;

pub fn unlock(lock: &Path) -> io::Result<()> {
    fs::remove_file(lock)?;
    Ok(())
}

pub fn is_fresh(stamp: &Path) -> bool {
    let res = fs::metadata(stamp);
    if res.is_err() {
        return true;
    }
    false
}
