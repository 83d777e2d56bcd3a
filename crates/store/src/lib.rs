//! The content-addressed store: blobs by sha256, directory trees as manifest
//! blobs, and the action cache (node key → outputs).
//!
//! Every write goes to `tmp/` first and is renamed into place, so a killed
//! process leaves at most an unreferenced temp file. Every blob is re-hashed
//! when it is read; a mismatch evicts it and reports it as corrupt, and the
//! caller rebuilds instead of using it.
//!
//! # Architecture invariant
//! The store knows blobs, trees and records, not what they mean: no OCI,
//! no graph, no build kinds. Its only dhib dependency is `dhib-core`.

// A `Diag` is returned once per failure, never on a hot path.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

pub use dhib_core::{Digest, Key};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store I/O on {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("blob sha256:{0} is missing from the store")]
    Missing(Digest),
    #[error("blob sha256:{expected} is corrupt (its content hashes to sha256:{actual}); it was evicted")]
    Corrupt { expected: Digest, actual: Digest },
    #[error(
        "blob sha256:{expected} is corrupt (its content hashes to sha256:{actual}) and cannot be removed ({why}): delete {path} by hand"
    )]
    CorruptKept { expected: Digest, actual: Digest, path: PathBuf, why: String },
    #[error("tree manifest sha256:{0} is not valid: {1}")]
    BadManifest(Digest, String),
    #[error("cannot store {path}: {why}")]
    Unsupported { path: PathBuf, why: String },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io { path: path.to_path_buf(), source }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// One entry of a stored directory tree. Owners, times and all mode bits
/// other than "executable" are deliberately not recorded: outputs must not
/// depend on the machine that built them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Entry {
    Dir,
    File { digest: Digest, size: u64, executable: bool },
    Symlink { target: String },
}

/// A directory tree: relative path → entry, sorted, as stored in its
/// manifest blob.
pub type Tree = BTreeMap<String, Entry>;

/// What the action cache remembers for a node key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ActionResult {
    /// Named outputs (e.g. `runtime`, `dev`), each a tree manifest blob.
    pub outputs: BTreeMap<String, Digest>,
    /// The build log, as a blob.
    pub log: Option<Digest>,
    /// Free-form facts for later stages (e.g. package metadata), canonical JSON.
    pub metadata: BTreeMap<String, String>,
}

/// A compressed layer of stored content: its blob, the digest of its
/// uncompressed tar (the image config's diff id) and its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerMemo {
    pub blob: Digest,
    pub diff_id: Digest,
    pub size: u64,
}

pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the store at `root`.
    pub fn open(root: &Path) -> Result<Store> {
        for sub in ["blobs", "ac", "tmp", "locks"] {
            let d = root.join(sub);
            fs::create_dir_all(&d).map_err(io_err(&d))?;
        }
        Ok(Store { root: root.to_path_buf() })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        let hex = d.hex();
        self.root.join("blobs").join(&hex[..2]).join(hex)
    }

    fn ac_path(&self, key: &Key) -> PathBuf {
        let hex = key.to_string();
        self.root.join("ac").join(&hex[..2]).join(format!("{hex}.json"))
    }

    /// A temp file inside the store, on the same file system as its target.
    fn temp(&self) -> Result<tempfile::NamedTempFile> {
        let dir = self.root.join("tmp");
        tempfile::NamedTempFile::new_in(&dir).map_err(io_err(&dir))
    }

    /// Moves a finished temp file to `dest` atomically; an existing `dest`
    /// with the same address already holds the same bytes.
    fn publish(&self, tmp: tempfile::NamedTempFile, dest: &Path) -> Result<()> {
        let parent = dest.parent().expect("store paths have parents");
        fs::create_dir_all(parent).map_err(io_err(parent))?;
        tmp.as_file().sync_all().map_err(io_err(dest))?;
        tmp.persist(dest).map_err(|e| StoreError::Io { path: dest.to_path_buf(), source: e.error })?;
        Ok(())
    }

    pub fn has(&self, d: &Digest) -> bool {
        self.blob_path(d).is_file()
    }

    pub fn put_bytes(&self, bytes: &[u8]) -> Result<Digest> {
        let d = Digest::of(bytes);
        let dest = self.blob_path(&d);
        if dest.is_file() {
            return Ok(d);
        }
        let mut tmp = self.temp()?;
        tmp.write_all(bytes).map_err(io_err(&dest))?;
        set_mode(tmp.path(), 0o444)?;
        self.publish(tmp, &dest)?;
        Ok(d)
    }

    /// Streams a file into the store, hashing as it copies.
    pub fn put_file(&self, path: &Path) -> Result<Digest> {
        let mut src = File::open(path).map_err(io_err(path))?;
        let mut tmp = self.temp()?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = src.read(&mut buf).map_err(io_err(path))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            tmp.write_all(&buf[..n]).map_err(io_err(path))?;
        }
        let d = Digest(hasher.finalize().into());
        let dest = self.blob_path(&d);
        if !dest.is_file() {
            set_mode(tmp.path(), 0o444)?;
            self.publish(tmp, &dest)?;
        }
        Ok(d)
    }

    /// Keeps the upstream-diff guardrail's report on the source archive
    /// `archive` (a blob, named by the archive's sha256), so that what is
    /// built from that archive can say how it was vetted. A later report on
    /// the same archive (say, with findings approved) replaces it.
    pub fn put_guard_report(&self, archive: &Digest, report: &[u8]) -> Result<Digest> {
        let d = self.put_bytes(report)?;
        let dest = self.guard_path(archive);
        let mut tmp = self.temp()?;
        tmp.write_all(d.hex().as_bytes()).map_err(io_err(&dest))?;
        self.publish(tmp, &dest)?;
        Ok(d)
    }

    /// The guardrail's report on `archive`, with its digest, if one is kept.
    pub fn guard_report(&self, archive: &Digest) -> Option<(Digest, Vec<u8>)> {
        let d = Digest::parse(fs::read_to_string(self.guard_path(archive)).ok()?.trim())?;
        Some((d, self.get(&d).ok()?))
    }

    fn guard_path(&self, archive: &Digest) -> PathBuf {
        self.root.join("guard").join(archive.hex())
    }

    /// Reads a blob, verifying its content; a corrupt blob is evicted.
    pub fn get(&self, d: &Digest) -> Result<Vec<u8>> {
        let path = self.blob_path(d);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(StoreError::Missing(*d)),
            Err(e) => return Err(StoreError::Io { path, source: e }),
        };
        let actual = Digest::of(&bytes);
        if actual != *d {
            return Err(self.evict_corrupt(path, *d, actual));
        }
        Ok(bytes)
    }

    /// Removes a blob found corrupt; every result naming it then misses
    /// (see [`Store::has_outputs`]). One that cannot be removed is said so,
    /// never reported as evicted.
    fn evict_corrupt(&self, path: PathBuf, expected: Digest, actual: Digest) -> StoreError {
        if let Err(e) = fs::remove_file(&path) {
            return StoreError::CorruptKept { expected, actual, path, why: e.to_string() };
        }
        self.bump_generation();
        StoreError::Corrupt { expected, actual }
    }

    /// Re-hashes a blob on disk without loading it whole; evicts it if corrupt.
    pub fn verify(&self, d: &Digest) -> Result<()> {
        let path = self.blob_path(d);
        let mut f = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(StoreError::Missing(*d)),
            Err(e) => return Err(StoreError::Io { path, source: e }),
        };
        let mut hasher = Sha256::new();
        io::copy(&mut f, &mut hasher).map_err(io_err(&path))?;
        let actual = Digest(hasher.finalize().into());
        if actual != *d {
            return Err(self.evict_corrupt(path, *d, actual));
        }
        Ok(())
    }

    /// Whether every blob `result` names is in the store: its log, its
    /// output manifests and every file they list. A blob evicted as corrupt
    /// (or lost) thus makes each result that needs it a miss, rebuilt.
    pub fn has_outputs(&self, result: &ActionResult) -> bool {
        result.log.is_none_or(|l| self.has(&l))
            && result.outputs.values().all(|m| {
                if !self.has(m) {
                    return false;
                }
                // An output is a tree manifest (a JSON object) or a single
                // blob (a layer, a document): only the former lists more.
                let mut first = [0u8; 1];
                let json = File::open(self.blob_path(m)).and_then(|mut f| f.read_exact(&mut first)).is_ok() && first[0] == b'{';
                if !json {
                    return true;
                }
                match self.get_tree(m) {
                    Ok(tree) => tree.values().all(|e| match e {
                        Entry::File { digest, .. } => self.has(digest),
                        _ => true,
                    }),
                    Err(StoreError::BadManifest(..)) => true,
                    Err(_) => false,
                }
            })
    }

    /// Stores a directory tree (files, directories, symlinks) and returns the
    /// digest of its manifest. Refuses special files.
    pub fn put_tree(&self, dir: &Path) -> Result<Digest> {
        let mut tree = Tree::new();
        for e in walkdir::WalkDir::new(dir).min_depth(1).sort_by_file_name().follow_links(false) {
            let e = e.map_err(|e| StoreError::Io { path: dir.to_path_buf(), source: e.into() })?;
            let rel = e.path().strip_prefix(dir).expect("walkdir stays under its root");
            let rel = rel
                .to_str()
                .ok_or_else(|| StoreError::Unsupported { path: e.path().to_path_buf(), why: "the name is not UTF-8".into() })?
                .to_string();
            let ft = e.file_type();
            let entry = if ft.is_dir() {
                Entry::Dir
            } else if ft.is_symlink() {
                let target = fs::read_link(e.path()).map_err(io_err(e.path()))?;
                let target = target
                    .to_str()
                    .ok_or_else(|| StoreError::Unsupported { path: e.path().to_path_buf(), why: "the link target is not UTF-8".into() })?
                    .to_string();
                Entry::Symlink { target }
            } else if ft.is_file() {
                let meta = e.metadata().map_err(|err| StoreError::Io { path: e.path().to_path_buf(), source: err.into() })?;
                let digest = self.put_file(e.path())?;
                Entry::File { digest, size: meta.len(), executable: meta.mode() & 0o111 != 0 }
            } else {
                return Err(StoreError::Unsupported { path: e.path().to_path_buf(), why: "special files cannot be build outputs".into() });
            };
            tree.insert(rel, entry);
        }
        self.put_manifest(&tree)
    }

    pub fn put_manifest(&self, tree: &Tree) -> Result<Digest> {
        self.put_bytes(&serde_json::to_vec(tree).expect("trees serialize"))
    }

    pub fn get_tree(&self, d: &Digest) -> Result<Tree> {
        let bytes = self.get(d)?;
        serde_json::from_slice(&bytes).map_err(|e| StoreError::BadManifest(*d, e.to_string()))
    }

    /// Writes a stored tree into `dest` (which must exist), verifying every
    /// blob. Files are copied, not linked, so a build cannot modify the store.
    pub fn materialize(&self, manifest: &Digest, dest: &Path) -> Result<()> {
        let tree = self.get_tree(manifest)?;
        for (rel, entry) in &tree {
            if rel.split('/').any(|s| s == ".." || s.is_empty()) || rel.starts_with('/') {
                return Err(StoreError::BadManifest(*manifest, format!("unsafe path `{rel}`")));
            }
            let path = dest.join(rel);
            match entry {
                Entry::Dir => fs::create_dir_all(&path).map_err(io_err(&path))?,
                Entry::Symlink { target } => {
                    let _ = fs::remove_file(&path);
                    std::os::unix::fs::symlink(target, &path).map_err(io_err(&path))?;
                }
                Entry::File { digest, executable, .. } => {
                    self.verify(digest)?;
                    let _ = fs::remove_file(&path);
                    fs::copy(self.blob_path(digest), &path).map_err(io_err(&path))?;
                    set_mode(&path, if *executable { 0o755 } else { 0o644 })?;
                }
            }
        }
        Ok(())
    }

    /// The cached result for a key, if any. Blobs are verified where they are
    /// used, not here, so a null build reads one small file per node.
    pub fn ac_get(&self, key: &Key) -> Option<ActionResult> {
        let bytes = fs::read(self.ac_path(key)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    pub fn ac_put(&self, key: &Key, result: &ActionResult) -> Result<()> {
        let dest = self.ac_path(key);
        let mut tmp = self.temp()?;
        tmp.write_all(&serde_json::to_vec_pretty(result).expect("results serialize")).map_err(io_err(&dest))?;
        self.publish(tmp, &dest)
    }

    /// A layer remembered by [`Store::remember_layer`], while its blob is
    /// still here (gc may have taken it; then it is made again).
    pub fn layer_memo(&self, id: &[u8; 32]) -> Option<LayerMemo> {
        let r = self.ac_get(&Key(*id))?;
        let blob = *r.outputs.get("layer")?;
        let diff_id = Digest::parse(r.metadata.get("diff_id")?)?;
        let size = r.metadata.get("size")?.parse().ok()?;
        self.has(&blob).then_some(LayerMemo { blob, diff_id, size })
    }

    /// Remembers the layer made from stored content under `id`, the
    /// caller's hash of everything its bytes depend on (not a node key:
    /// nothing in the graph names it). Kept in the action cache, so gc
    /// treats it as any cached result.
    pub fn remember_layer(&self, id: &[u8; 32], memo: &LayerMemo) -> Result<()> {
        let record = ActionResult {
            outputs: [("layer".to_string(), memo.blob)].into(),
            metadata: [("diff_id".to_string(), memo.diff_id.hex()), ("size".to_string(), memo.size.to_string())].into(),
            ..Default::default()
        };
        self.ac_put(&Key(*id), &record)
    }

    /// The log of a key's cached result, or of its last failed build.
    pub fn log_of(&self, key: &Key) -> Option<Vec<u8>> {
        let digest = match self.ac_get(key).and_then(|r| r.log) {
            Some(d) => d,
            None => Digest::parse(fs::read_to_string(self.root.join("failed").join(key.to_string())).ok()?.trim())?,
        };
        self.get(&digest).ok()
    }

    /// Forgets a cached result (e.g. after one of its blobs proved corrupt).
    pub fn ac_evict(&self, key: &Key) {
        let _ = fs::remove_file(self.ac_path(key));
        self.bump_generation();
    }

    /// A number that changes whenever cached results are removed (evictions,
    /// gc, clean): while it stays the same, a result once present still is.
    pub fn generation(&self) -> u64 {
        fs::read_to_string(self.root.join("generation")).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0)
    }

    fn bump_generation(&self) {
        let next = self.generation() + 1;
        let path = self.root.join("generation");
        let tmp = path.with_extension("tmp");
        if fs::write(&tmp, next.to_string()).is_ok() {
            let _ = fs::rename(tmp, path);
        }
    }

    /// Takes the exclusive lock that serializes building one key across
    /// processes. Released when the returned guard drops.
    pub fn lock_key(&self, key: &Key) -> Result<KeyLock> {
        let path = self.root.join("locks").join(format!("{key}.lock"));
        let f = File::create(&path).map_err(io_err(&path))?;
        f.lock().map_err(io_err(&path))?;
        Ok(KeyLock { _file: f })
    }

    /// Takes the store-wide lock: shared while building, exclusive for gc and clean.
    pub fn lock_store(&self, exclusive: bool) -> Result<KeyLock> {
        let path = self.root.join("locks").join("store.lock");
        let what = format!("another dhib is using the store {}", self.root.display());
        Ok(KeyLock { _file: lock_file(&path, exclusive, &what).map_err(io_err(&path))? })
    }

    /// Total bytes of blobs, and their count.
    pub fn usage(&self) -> Result<(u64, u64)> {
        let mut bytes = 0;
        let mut count = 0;
        let blobs = self.root.join("blobs");
        for e in walkdir::WalkDir::new(&blobs).min_depth(2) {
            let e = e.map_err(|e| StoreError::Io { path: blobs.clone(), source: e.into() })?;
            if e.file_type().is_file() {
                bytes += e.metadata().map(|m| m.len()).unwrap_or(0);
                count += 1;
            }
        }
        Ok((bytes, count))
    }
}

#[derive(Debug, Default, Serialize)]
pub struct GcReport {
    pub blobs_removed: u64,
    /// Materialized build environments no cached result names any more.
    pub envs_removed: u64,
    pub bytes_removed: u64,
    pub results_evicted: u64,
    /// Blobs and materialized environments that remain.
    pub bytes_left: u64,
}

impl Store {
    /// Removes everything: blobs, results, environments, work dirs.
    pub fn clean(&self) -> Result<()> {
        let _lock = self.lock_store(true)?;
        for sub in ["blobs", "ac", "tmp", "envs", "work", "failed", "guard"] {
            let d = self.root.join(sub);
            if d.exists() {
                make_writable(&d);
                fs::remove_dir_all(&d).map_err(io_err(&d))?;
            }
        }
        self.bump_generation();
        Store::open(&self.root).map(|_| ())
    }

    /// Deletes blobs no cached result refers to, then evicts the least
    /// recently written results until the blobs fit in `max_bytes`.
    pub fn gc(&self, max_bytes: u64) -> Result<GcReport> {
        let _lock = self.lock_store(true)?;
        let mut report = GcReport::default();
        // No build runs under the exclusive lock: what tmp/ and work/ hold
        // was left behind by builds that were killed.
        for sub in ["tmp", "work"] {
            let d = self.root.join(sub);
            if let Ok(entries) = fs::read_dir(&d) {
                for e in entries.filter_map(|e| e.ok()) {
                    report.bytes_removed += tree_size(&e.path());
                    remove_any(&e.path());
                }
            }
        }
        let mut results: Vec<(std::time::SystemTime, PathBuf, ActionResult)> = Vec::new();
        let ac = self.root.join("ac");
        for e in walkdir::WalkDir::new(&ac).min_depth(2).into_iter().filter_map(|e| e.ok()) {
            if let (Ok(bytes), Ok(meta)) = (fs::read(e.path()), e.metadata()) {
                if let Ok(r) = serde_json::from_slice::<ActionResult>(&bytes) {
                    results.push((meta.modified().unwrap_or(std::time::UNIX_EPOCH), e.path().to_path_buf(), r));
                }
            }
        }
        results.sort_by_key(|r| std::cmp::Reverse(r.0)); // newest first: they survive
        loop {
            let mut live = self.live_blobs(results.iter().map(|(_, _, r)| r));
            live.extend(self.guard_reports());
            self.sweep(&live, &mut report)?;
            self.sweep_envs(&live, &mut report);
            let (bytes, _) = self.usage()?;
            report.bytes_left = bytes + tree_size(&self.root.join("envs"));
            if bytes <= max_bytes || results.is_empty() {
                return Ok(report);
            }
            let (_, path, _) = results.pop().expect("not empty");
            let _ = fs::remove_file(path);
            report.results_evicted += 1;
            self.bump_generation();
        }
    }

    fn live_blobs<'r>(&self, results: impl Iterator<Item = &'r ActionResult>) -> std::collections::HashSet<Digest> {
        let mut live = std::collections::HashSet::new();
        for r in results {
            live.extend(r.log);
            for m in r.outputs.values() {
                live.insert(*m);
                if let Ok(tree) = self.get_tree(m) {
                    live.extend(tree.values().filter_map(|e| match e {
                        Entry::File { digest, .. } => Some(*digest),
                        _ => None,
                    }));
                }
            }
        }
        live
    }

    /// The reports `guard/` refers to: records of decisions, never evicted.
    fn guard_reports(&self) -> Vec<Digest> {
        let Ok(dir) = fs::read_dir(self.root.join("guard")) else { return Vec::new() };
        dir.filter_map(|e| Digest::parse(fs::read_to_string(e.ok()?.path()).ok()?.trim())).collect()
    }

    /// Removes the materialized environments (`envs/<rootfs digest>`) whose
    /// root file system no cached result names.
    fn sweep_envs(&self, live: &std::collections::HashSet<Digest>, report: &mut GcReport) {
        let Ok(entries) = fs::read_dir(self.root.join("envs")) else { return };
        for e in entries.filter_map(|e| e.ok()) {
            if Digest::parse(&e.file_name().to_string_lossy()).is_some_and(|d| live.contains(&d)) {
                continue;
            }
            report.bytes_removed += tree_size(&e.path());
            report.envs_removed += 1;
            remove_any(&e.path());
        }
    }

    fn sweep(&self, live: &std::collections::HashSet<Digest>, report: &mut GcReport) -> Result<()> {
        let blobs = self.root.join("blobs");
        for e in walkdir::WalkDir::new(&blobs).min_depth(2).into_iter().filter_map(|e| e.ok()) {
            let name = e.file_name().to_string_lossy();
            if let Some(d) = Digest::parse(&name) {
                if !live.contains(&d) {
                    report.bytes_removed += e.metadata().map(|m| m.len()).unwrap_or(0);
                    report.blobs_removed += 1;
                    let _ = fs::remove_file(e.path());
                }
            }
        }
        Ok(())
    }
}

/// Bytes of the regular files below `path` (or of `path` itself).
fn tree_size(path: &Path) -> u64 {
    walkdir::WalkDir::new(path)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

/// Removes a file or a whole directory, read-only ones included.
fn remove_any(path: &Path) {
    if path.is_dir() && !path.is_symlink() {
        make_writable(path);
        let _ = fs::remove_dir_all(path);
    } else {
        let _ = fs::remove_file(path);
    }
}

/// Blobs are stored read-only; directories must be writable to be removed.
fn make_writable(dir: &Path) {
    for e in walkdir::WalkDir::new(dir).into_iter().filter_map(|e| e.ok()) {
        if e.file_type().is_dir() {
            let _ = fs::set_permissions(e.path(), fs::Permissions::from_mode(0o755));
        }
    }
}

/// Locks `path` (created if needed), shared or exclusive, until the file is
/// dropped. When another process holds it, says so on stderr first (`what`
/// names who), so that waiting never looks like hanging.
pub fn lock_file(path: &Path, exclusive: bool, what: &str) -> std::io::Result<File> {
    let f = File::create(path)?;
    match if exclusive { f.try_lock() } else { f.try_lock_shared() } {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            eprintln!("waiting: {what} ...");
            if exclusive { f.lock() } else { f.lock_shared() }?;
        }
        Err(fs::TryLockError::Error(e)) => return Err(e),
    }
    Ok(f)
}

/// Holds a file lock until dropped.
pub struct KeyLock {
    _file: File,
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io_err(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        (d, s)
    }

    #[test]
    fn blobs_round_trip_and_corruption_is_detected_and_evicted() {
        let (_d, s) = store();
        let d = s.put_bytes(b"hello").unwrap();
        assert_eq!(d.hex(), "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
        assert_eq!(s.get(&d).unwrap(), b"hello");
        let p = s.blob_path(&d);
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        fs::write(&p, b"hellO").unwrap();
        assert!(matches!(s.get(&d), Err(StoreError::Corrupt { .. })));
        assert!(!p.exists(), "a corrupt blob is evicted");
        assert!(matches!(s.get(&d), Err(StoreError::Missing(_))));
    }

    #[test]
    fn trees_round_trip_without_owners_or_times() {
        let (_d, s) = store();
        let src = tempfile::tempdir().unwrap();
        fs::create_dir_all(src.path().join("usr/bin")).unwrap();
        fs::write(src.path().join("usr/bin/tool"), b"#!/bin/sh\n").unwrap();
        fs::set_permissions(src.path().join("usr/bin/tool"), fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::symlink("tool", src.path().join("usr/bin/alias")).unwrap();
        let m1 = s.put_tree(src.path()).unwrap();
        let out = tempfile::tempdir().unwrap();
        s.materialize(&m1, out.path()).unwrap();
        assert_eq!(fs::read(out.path().join("usr/bin/tool")).unwrap(), b"#!/bin/sh\n");
        assert_eq!(fs::metadata(out.path().join("usr/bin/tool")).unwrap().mode() & 0o777, 0o755);
        assert_eq!(fs::read_link(out.path().join("usr/bin/alias")).unwrap(), Path::new("tool"));
        // The same content stored from elsewhere has the same manifest digest.
        assert_eq!(s.put_tree(out.path()).unwrap(), m1);
    }

    #[test]
    fn gc_keeps_what_results_use_and_bounds_the_size() {
        let (_d, s) = store();
        let orphan = s.put_bytes(&[1u8; 1000]).unwrap();
        let used = s.put_bytes(&[2u8; 1000]).unwrap();
        let tree = Tree::from([("f".to_string(), Entry::File { digest: used, size: 1000, executable: false })]);
        let m = s.put_manifest(&tree).unwrap();
        s.ac_put(&Key([1; 32]), &ActionResult { outputs: BTreeMap::from([("runtime".into(), m)]), ..Default::default() }).unwrap();
        let r = s.gc(u64::MAX).unwrap();
        assert_eq!(r.blobs_removed, 1);
        assert!(!s.has(&orphan) && s.has(&used) && s.has(&m));
        let r = s.gc(0).unwrap();
        assert_eq!(r.results_evicted, 1);
        assert!(!s.has(&used));
        assert_eq!(r.bytes_left, 0);
    }

    #[test]
    fn a_corrupt_blob_that_cannot_be_removed_is_not_reported_as_evicted() {
        let (_d, s) = store();
        let d = s.put_bytes(b"the content").unwrap();
        let path = s.blob_path(&d);
        set_mode(&path, 0o644).unwrap();
        fs::write(&path, b"other bytes").unwrap();
        // An immutable file (chattr +i) cannot be removed, even by root.
        let chattr = |flag: &str| std::process::Command::new("chattr").arg(flag).arg(&path).status().is_ok_and(|s| s.success());
        assert!(chattr("+i"), "chattr +i (e2fsprogs, as root) makes the file immutable");
        let err = s.verify(&d).unwrap_err();
        chattr("-i");
        assert!(matches!(err, StoreError::CorruptKept { .. }), "{err}");
        assert!(err.to_string().contains("cannot be removed") && err.to_string().contains("delete"), "{err}");
        assert!(matches!(s.verify(&d), Err(StoreError::Corrupt { .. })), "removed once it can be");
    }

    #[test]
    fn gc_counts_and_collects_environments_and_what_killed_builds_left() {
        let (_d, s) = store();
        let used = s.put_bytes(&[2u8; 1000]).unwrap();
        let tree = Tree::from([("f".to_string(), Entry::File { digest: used, size: 1000, executable: false })]);
        let rootfs = s.put_manifest(&tree).unwrap();
        s.ac_put(&Key([1; 32]), &ActionResult { outputs: BTreeMap::from([("rootfs".into(), rootfs)]), ..Default::default() }).unwrap();
        let env = s.root().join("envs").join(rootfs.hex());
        let gone = s.root().join("envs").join(Digest::of(b"an old env").hex());
        for dir in [&env, &gone] {
            fs::create_dir_all(dir.join("usr/bin")).unwrap();
            fs::write(dir.join("usr/bin/tool"), [0u8; 5000]).unwrap();
            set_mode(&dir.join("usr/bin"), 0o555).unwrap();
        }
        fs::write(s.root().join("tmp/.tmpKILLED"), [0u8; 3000]).unwrap();
        let r = s.gc(u64::MAX).unwrap();
        assert_eq!(r.envs_removed, 1);
        assert!(env.join("usr/bin/tool").exists() && !gone.exists());
        assert!(!s.root().join("tmp/.tmpKILLED").exists());
        assert_eq!(r.bytes_removed, 8000);
        assert!(r.bytes_left >= 5000 + 1000, "the live environment counts: {}", r.bytes_left);
        let r = s.gc(0).unwrap();
        assert_eq!((r.results_evicted, r.envs_removed, r.bytes_left), (1, 1, 0));
    }

    #[test]
    fn guard_reports_are_found_by_archive_replaced_by_later_ones_and_kept_by_gc() {
        let (_d, s) = store();
        let archive = Digest::of(b"archive");
        assert!(s.guard_report(&archive).is_none());
        s.put_guard_report(&archive, b"{\"blocking\":1}").unwrap();
        let approved = s.put_guard_report(&archive, b"{\"blocking\":0}").unwrap();
        assert_eq!(s.guard_report(&archive), Some((approved, b"{\"blocking\":0}".to_vec())));
        s.gc(0).unwrap();
        assert_eq!(s.guard_report(&archive).map(|r| r.0), Some(approved));
    }

    #[test]
    fn action_cache_round_trips() {
        let (_d, s) = store();
        let key = Key([7; 32]);
        assert!(s.ac_get(&key).is_none());
        let r = ActionResult { outputs: BTreeMap::from([("runtime".into(), Digest::of(b"x"))]), ..Default::default() };
        s.ac_put(&key, &r).unwrap();
        assert_eq!(s.ac_get(&key), Some(r));
        s.ac_evict(&key);
        assert!(s.ac_get(&key).is_none());
    }
}
