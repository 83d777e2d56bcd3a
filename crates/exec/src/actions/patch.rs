//! A source's patches, applied to its extracted tree: unified diffs as
//! `diff -u` and `git diff` write them, several files per patch, paths
//! stripped of their first component like `patch -p1`. Hunks may have moved
//! (they are searched for around their line number) but their context must
//! match exactly: a patch that no longer fits its source is an error, never a
//! guess.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use diffy::patch_set::{FileMode, FileOperation, ParseOptions, PatchKind, PatchSet};

#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    #[error("it is not a unified diff: {0}")]
    Parse(String),
    #[error("it names `{path}`, which {why}")]
    UnsafePath { path: String, why: &'static str },
    #[error("it changes the binary file `{0}`; only text patches are applied")]
    Binary(String),
    #[error("it changes `{0}`, which is not in the source")]
    Missing(String),
    #[error("it creates `{0}`, which the source already has")]
    Exists(String),
    #[error("hunk #{hunk} ({header}) of `{file}` does not match the source")]
    Hunk { file: String, hunk: usize, header: String },
    #[error("it deletes `{0}`, but the file holds more than the patch removes")]
    NotDeleted(String),
    #[error("{0}")]
    Io(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PatchError + '_ {
    move |e| PatchError::Io(format!("{}: {e}", path.display()))
}

/// Applies every file patch of `text` to the tree at `root`, in order.
pub fn apply(root: &Path, text: &[u8]) -> Result<(), PatchError> {
    // Git's extended headers (renames, modes, `/dev/null` for new files)
    // only parse as such in git mode; plain `diff -u` output has none.
    let git = text.starts_with(b"diff --git ") || text.windows(12).any(|w| w == b"\ndiff --git ");
    let opts = if git { ParseOptions::gitdiff() } else { ParseOptions::unidiff() };
    for file in PatchSet::parse_bytes(text, opts) {
        let file = file.map_err(|e| PatchError::Parse(e.to_string()))?;
        // Checked before stripping, which would make `/etc/x` relative.
        if let Some(abs) = paths(file.operation()).into_iter().find(|p| p.starts_with(b"/")) {
            let path = String::from_utf8_lossy(abs).into_owned();
            return Err(PatchError::UnsafePath { path, why: "is an absolute path" });
        }
        let op = file.operation().strip_prefix(1);
        let patch = match file.patch() {
            PatchKind::Text(p) => p,
            PatchKind::Binary(_) => {
                return Err(PatchError::Binary(paths(&op).iter().map(|p| String::from_utf8_lossy(p)).collect::<Vec<_>>().join(" → ")))
            }
        };
        let executable = file.new_mode().map(|m| *m == FileMode::Executable);
        match op {
            FileOperation::Modify { original, modified } => {
                let (orig, modi) = (inside(root, &original)?, inside(root, &modified)?);
                // `diff -u old/x new/x.c` names two files; like GNU patch,
                // change whichever of them the tree has.
                let (path, name) = if orig.0.exists() { orig } else { modi };
                let new = patched(&path, &name, patch)?;
                write(&path, &new, executable)?;
            }
            FileOperation::Create(target) => {
                let (path, name) = inside(root, &target)?;
                if path.symlink_metadata().is_ok() {
                    return Err(PatchError::Exists(name));
                }
                let new = apply_hunks(&name, b"", patch)?;
                write(&path, &new, Some(executable.unwrap_or(false)))?;
            }
            FileOperation::Delete(target) => {
                let (path, name) = inside(root, &target)?;
                if !patched(&path, &name, patch)?.is_empty() {
                    return Err(PatchError::NotDeleted(name));
                }
                fs::remove_file(&path).map_err(io(&path))?;
            }
            FileOperation::Rename { from, to } | FileOperation::Copy { from, to } => {
                let renamed = matches!(file.operation(), FileOperation::Rename { .. });
                let (src, src_name) = inside(root, &from)?;
                let (dst, dst_name) = inside(root, &to)?;
                if dst.symlink_metadata().is_ok() {
                    return Err(PatchError::Exists(dst_name));
                }
                let new = patched(&src, &src_name, patch)?;
                let mode = fs::metadata(&src).map_err(io(&src))?.permissions().mode();
                write(&dst, &new, Some(executable.unwrap_or(mode & 0o111 != 0)))?;
                if renamed {
                    fs::remove_file(&src).map_err(io(&src))?;
                }
            }
        }
    }
    Ok(())
}

/// The paths an operation names (`/dev/null` is not among them).
fn paths<'a>(op: &'a FileOperation<'_, [u8]>) -> Vec<&'a [u8]> {
    match op {
        FileOperation::Create(p) | FileOperation::Delete(p) => vec![p],
        FileOperation::Modify { original: a, modified: b }
        | FileOperation::Rename { from: a, to: b }
        | FileOperation::Copy { from: a, to: b } => vec![a, b],
    }
}

/// The path a patch names, resolved inside `root`, and its name for
/// messages. A patch may not reach outside the tree: not by `..`, not by an
/// absolute path, and not through a symbolic link in the tree.
fn inside(root: &Path, raw: &[u8]) -> Result<(PathBuf, String), PatchError> {
    let name = String::from_utf8_lossy(raw).into_owned();
    let refuse = |why| Err(PatchError::UnsafePath { path: name.clone(), why });
    if std::str::from_utf8(raw).is_err() {
        return refuse("is not UTF-8");
    }
    let parts: Vec<&str> = name.split('/').filter(|s| !s.is_empty() && *s != ".").collect();
    if parts.is_empty() {
        return refuse("is not a file");
    }
    if parts.contains(&"..") {
        return refuse("leaves the source tree");
    }
    let mut path = root.to_path_buf();
    for part in &parts {
        path.push(part);
        if path.symlink_metadata().is_ok_and(|m| m.file_type().is_symlink()) {
            return refuse("goes through a symbolic link");
        }
    }
    Ok((path, parts.join("/")))
}

/// The content of the existing file `path` with the patch applied.
fn patched(path: &Path, name: &str, patch: &diffy::Patch<'_, [u8]>) -> Result<Vec<u8>, PatchError> {
    if !path.is_file() {
        return Err(PatchError::Missing(name.to_string()));
    }
    let old = fs::read(path).map_err(io(path))?;
    apply_hunks(name, &old, patch)
}

fn apply_hunks(name: &str, old: &[u8], patch: &diffy::Patch<'_, [u8]>) -> Result<Vec<u8>, PatchError> {
    diffy::apply_bytes(old, patch).map_err(|e| {
        // diffy reports the failing hunk only in its message ("error applying
        // hunk #N"); its header locates the hunk in the patch file.
        let hunk = e.to_string().rsplit('#').next().and_then(|n| n.parse::<usize>().ok()).unwrap_or(1);
        let header = patch.hunks().get(hunk - 1).map(|h| format!("@@ -{} +{} @@", h.old_range(), h.new_range())).unwrap_or_default();
        PatchError::Hunk { file: name.to_string(), hunk, header }
    })
}

/// Writes `bytes` to `path`, creating parent directories. `executable`
/// sets the mode; `None` keeps an existing file's.
fn write(path: &Path, bytes: &[u8], executable: Option<bool>) -> Result<(), PatchError> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(io(dir))?;
    }
    fs::write(path, bytes).map_err(io(path))?;
    if let Some(x) = executable {
        fs::set_permissions(path, fs::Permissions::from_mode(if x { 0o755 } else { 0o644 })).map_err(io(path))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (p, c) in files {
            let path = dir.path().join(p);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, c).unwrap();
        }
        dir
    }

    fn read(dir: &tempfile::TempDir, p: &str) -> String {
        fs::read_to_string(dir.path().join(p)).unwrap()
    }

    #[test]
    fn a_multi_file_diff_u_patch_applies_with_one_component_stripped() {
        let t = tree(&[("a.c", "one\ntwo\nthree\n"), ("sub/b.h", "x\ny\n")]);
        let p = "diff -ru pkg.orig/a.c pkg/a.c\n--- pkg.orig/a.c\t2024-01-01 00:00:00\n+++ pkg/a.c\t2024-01-01 00:00:00\n\
                 @@ -1,3 +1,3 @@\n one\n-two\n+TWO\n three\n\
                 --- pkg.orig/sub/b.h\n+++ pkg/sub/b.h\n@@ -1,2 +1,3 @@\n x\n y\n+z\n";
        apply(t.path(), p.as_bytes()).unwrap();
        assert_eq!(read(&t, "a.c"), "one\nTWO\nthree\n");
        assert_eq!(read(&t, "sub/b.h"), "x\ny\nz\n");
    }

    #[test]
    fn git_diffs_create_delete_and_rename_files() {
        let t = tree(&[("old.txt", "keep\n"), ("gone.txt", "bye\n")]);
        let p = "diff --git a/new.sh b/new.sh\nnew file mode 100755\nindex 0000000..1111111\n--- /dev/null\n+++ b/new.sh\n@@ -0,0 +1 @@\n+echo hi\n\
                 diff --git a/gone.txt b/gone.txt\ndeleted file mode 100644\n--- a/gone.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-bye\n\
                 diff --git a/old.txt b/moved.txt\nsimilarity index 100%\nrename from old.txt\nrename to moved.txt\n";
        apply(t.path(), p.as_bytes()).unwrap();
        assert_eq!(read(&t, "new.sh"), "echo hi\n");
        assert_eq!(fs::metadata(t.path().join("new.sh")).unwrap().permissions().mode() & 0o777, 0o755);
        assert!(!t.path().join("gone.txt").exists());
        assert!(!t.path().join("old.txt").exists());
        assert_eq!(read(&t, "moved.txt"), "keep\n");
    }

    #[test]
    fn a_hunk_that_does_not_match_names_the_file_and_the_hunk() {
        let t = tree(&[("a.c", "one\ntwo\nthree\nfour\nfive\nsix\nseven\n")]);
        let p = "--- a/a.c\n+++ b/a.c\n@@ -1,2 +1,2 @@\n-one\n+ONE\n two\n@@ -5,2 +5,2 @@\n five\n-SIX\n+6\n";
        let e = apply(t.path(), p.as_bytes()).unwrap_err().to_string();
        assert_eq!(e, "hunk #2 (@@ -5,2 +5,2 @@) of `a.c` does not match the source");
    }

    #[test]
    fn paths_leaving_the_tree_are_refused() {
        let t = tree(&[("a.c", "x\n")]);
        for (p, why) in [
            ("--- a/../escape\n+++ b/../escape\n@@ -1 +1 @@\n-x\n+y\n", "leaves the source tree"),
            ("--- /dev/null\n+++ b/sub/../../escape\n@@ -0,0 +1 @@\n+y\n", "leaves the source tree"),
            ("--- /etc/hostname\n+++ /etc/hostname\n@@ -1 +1 @@\n-x\n+y\n", "is an absolute path"),
        ] {
            let e = apply(t.path(), p.as_bytes()).unwrap_err();
            assert!(e.to_string().contains(why), "{e}");
        }
        assert!(!t.path().parent().unwrap().join("escape").exists());
        std::os::unix::fs::symlink("/tmp", t.path().join("link")).unwrap();
        let e = apply(t.path(), b"--- /dev/null\n+++ b/link/x\n@@ -0,0 +1 @@\n+y\n").unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
    }

    #[test]
    fn text_that_is_no_patch_is_an_error() {
        let t = tree(&[]);
        assert!(matches!(apply(t.path(), b"just words\n"), Err(PatchError::Parse(_))));
    }
}
