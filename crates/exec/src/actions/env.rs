//! A build environment: the closure of its debs (and package outputs)
//! unpacked into a root file system, stored as a tree and materialized once.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use super::dpkg;
use crate::deb;
use crate::job::*;
use crate::sandbox::{self};
use dhib_lang::value::Value;
use dhib_store::{ActionResult, Digest, Store};

/// Directories every root file system gets before anything is unpacked:
/// Debian 12's merged /usr links and the sandbox's mount points.
pub(crate) fn prepare_root(root: &Path) -> Result<(), BuildError> {
    for dir in ["usr/bin", "usr/lib", "usr/lib64", "usr/sbin", "proc", "dev", "tmp", "build", "out", "opt/deps", "etc"] {
        fs::create_dir_all(root.join(dir)).map_err(io(root.join(dir).display()))?;
    }
    merged_usr(root)
}

/// Debian 12's merged /usr: `bin`, `lib`, `lib64` and `sbin` link into `usr/`,
/// so packages' files land where Debian itself puts them.
pub(crate) fn merged_usr(root: &Path) -> Result<(), BuildError> {
    for (link, target) in [("bin", "usr/bin"), ("lib", "usr/lib"), ("lib64", "usr/lib64"), ("sbin", "usr/sbin")] {
        fs::create_dir_all(root.join(target)).map_err(io(root.join(target).display()))?;
        if root.join(link).symlink_metadata().is_err() {
            std::os::unix::fs::symlink(target, root.join(link)).map_err(io(root.join(link).display()))?;
        }
    }
    Ok(())
}

/// Every deb and package output an environment installs: its packages and,
/// through their results, what they depend on.
pub(crate) fn env(cx: &Context<'_>, job: &Job<'_>, work: &Path) -> Result<ActionResult, BuildError> {
    let root = work.join("rootfs");
    prepare_root(&root)?;
    // Debs first (sorted, so the result does not depend on scheduling), then
    // from-source packages on top.
    let mut debs: BTreeMap<String, Digest> = BTreeMap::new();
    let mut trees = Vec::new();
    for (_, _, r) in &job.deps {
        collect_debs(cx.store, r, &mut debs)?;
        for out in ["runtime", "dev"] {
            if let Some(t) = r.outputs.get(out) {
                trees.push(*t);
            }
        }
    }
    let mut db = dpkg::Database::default();
    for digest in debs.values() {
        let path = cx.store.blob_path(digest);
        let unpacked = deb::unpack(&path, &root)?;
        db.add(&path, &unpacked)?;
    }
    for t in trees {
        cx.store.materialize(&t, &root)?;
    }
    db.write(&root)?;
    dpkg::configure(&root, &db)?;
    link_alternatives(&root)?;
    let manifest = cx.store.put_tree(&root)?;
    let mut r = ActionResult { outputs: BTreeMap::from([("rootfs".to_string(), manifest)]), ..Default::default() };
    // Variables every step built in this environment gets.
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    if let Some(Value::Map(m)) = job.def.attrs.get("env") {
        vars.extend(m.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string()))));
    }
    if let Some(Value::List(extra)) = job.def.attrs.get("path") {
        let extra: Vec<&str> = extra.iter().filter_map(Value::as_str).collect();
        let base = sandbox::base_env(0).remove("PATH").unwrap_or_default();
        vars.insert("PATH".into(), format!("{}:{base}", extra.join(":")));
    }
    crate::facts::set_env_vars(&mut r, &vars);
    Ok(r)
}

/// Commands Debian makes available through maintainer scripts (`/bin/sh`)
/// or update-alternatives, which an unpacked root never runs: each name is
/// linked to the first provider present.
const ALTERNATIVES: &[(&str, &[&str])] = &[
    ("sh", &["dash", "bash", "busybox"]),
    ("awk", &["gawk", "mawk", "original-awk", "busybox"]),
    ("cc", &["gcc"]),
    ("c++", &["g++"]),
    ("tclsh", &["tclsh8.6"]),
];

pub(crate) fn link_alternatives(root: &Path) -> Result<(), BuildError> {
    let bin = root.join("usr/bin");
    for (name, providers) in ALTERNATIVES {
        let link = bin.join(name);
        if link.symlink_metadata().is_ok() {
            continue;
        }
        // symlink_metadata, not exists(): a link in the root must not be
        // resolved against the host.
        if let Some(p) = providers.iter().find(|p| bin.join(p).symlink_metadata().is_ok()) {
            std::os::unix::fs::symlink(p, &link).map_err(io(link.display()))?;
        }
    }
    Ok(())
}

/// A deb's result records its own .deb and those of its `depends`, so an
/// environment gets the whole closure from its direct packages.
pub(crate) fn collect_debs(store: &Store, r: &ActionResult, out: &mut BTreeMap<String, Digest>) -> Result<(), BuildError> {
    if let Some(closure) = crate::facts::closure(r) {
        out.extend(closure.map_err(BuildError::Invalid)?);
    } else if r.outputs.contains_key("file") {
        let (name, d) = the_file(store, r)?;
        out.insert(name, d);
    }
    Ok(())
}

/// An environment's root file system, materialized once per digest under the
/// store and reused read-only by every step that builds in it.
pub(crate) fn materialized_env(store: &Store, rootfs: &Digest) -> Result<PathBuf, BuildError> {
    let dir = store.root().join("envs").join(rootfs.hex());
    if dir.join(".complete").exists() {
        return Ok(dir);
    }
    // Unique per call: two packages of one build may need the same env at once.
    let scratch = store.root().join("tmp");
    let tmp =
        tempfile::Builder::new().prefix(&format!("env-{}-", rootfs.hex())).tempdir_in(&scratch).map_err(io(scratch.display()))?.keep();
    store.materialize(rootfs, &tmp)?;
    File::create(tmp.join(".complete")).map_err(io(tmp.display()))?;
    fs::create_dir_all(dir.parent().expect("envs/ has a parent")).map_err(io(dir.display()))?;
    // Another process may have finished first; its copy is as good as ours.
    if fs::rename(&tmp, &dir).is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    Ok(dir)
}
