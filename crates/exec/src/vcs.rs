//! The workspace as a git revision had it, for `dhib affected --since`.

use std::path::{Path, PathBuf};
use std::process::Command;

use dhib_core::diag::Diag;

/// Extracts the files git tracks at `rev` into a temporary directory and
/// returns it with the workspace's place inside it (the workspace may be a
/// subdirectory of the repository).
pub fn checkout(root: &Path, rev: &str) -> Result<(tempfile::TempDir, PathBuf), Diag> {
    let fail = |msg: String| Diag::plain("E0911", msg);
    let git = |args: &[&str]| -> Result<Vec<u8>, Diag> {
        let out = Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .output()
            .map_err(|e| fail(format!("cannot run git: {e}")).with_help("install git"))?;
        if !out.status.success() {
            let said = String::from_utf8_lossy(&out.stderr).trim().to_string();
            return Err(fail(format!("git {}: {said}", args.join(" ")))
                .with_help("--since takes a revision of the workspace's git repository, e.g. origin/main or HEAD~3"));
        }
        Ok(out.stdout)
    };
    let prefix = String::from_utf8_lossy(&git(&["rev-parse", "--show-prefix"])?).trim().to_string();
    let commit = String::from_utf8_lossy(&git(&["rev-parse", "--verify", &format!("{rev}^{{commit}}")])?).trim().to_string();
    let tar = git(&["archive", "--format=tar", &commit])?;
    let dir = tempfile::Builder::new().prefix("dhib-since-").tempdir().map_err(|e| fail(e.to_string()))?;
    tar::Archive::new(&tar[..]).unpack(dir.path()).map_err(|e| fail(format!("cannot unpack {rev}: {e}")))?;
    let workspace = dir.path().join(&prefix);
    Ok((dir, workspace))
}
