//! The files an image adds besides its packages: the CA bundle, the
//! user's passwd and group entries, and `file(...)`s checked against the
//! digests their key was computed from.

use std::collections::BTreeMap;

use crate::job::*;
use dhib_store::{Entry, Store, Tree};

/// `/etc/ssl/certs/ca-certificates.crt` as Debian's update-ca-certificates
/// writes it with every certificate enabled: each `*.crt` below
/// `/usr/share/ca-certificates` and then `/usr/local/share/ca-certificates`,
/// in path order, as the layers leave them (a later layer's file wins).
pub(crate) fn ca_bundle(store: &Store, layers: &[dhib_oci::Layer]) -> Result<Tree, String> {
    const DIRS: [&str; 2] = ["usr/share/ca-certificates/", "usr/local/share/ca-certificates/"];
    let mut certs: BTreeMap<(usize, String), Vec<u8>> = BTreeMap::new();
    for layer in layers {
        let found = dhib_oci::layer_files(store, layer, |p| p.ends_with(".crt") && DIRS.iter().any(|d| p.starts_with(d)))
            .map_err(|e| e.to_string())?;
        for (path, data) in found {
            let dir = DIRS.iter().position(|d| path.starts_with(d)).expect("filtered above");
            certs.insert((dir, path), data);
        }
    }
    if certs.is_empty() {
        return Err("`ca_certificates = true`, but no layer has a certificate below /usr/share/ca-certificates or \
                    /usr/local/share/ca-certificates: add a package that has them, such as Debian's ca-certificates"
            .into());
    }
    let mut bundle = Vec::new();
    for data in certs.values() {
        bundle.extend_from_slice(data);
        if !bundle.ends_with(b"\n") {
            bundle.push(b'\n');
        }
    }
    let file = Entry::File { digest: store.put_bytes(&bundle).map_err(|e| e.to_string())?, size: bundle.len() as u64, executable: false };
    Ok(Tree::from([
        ("etc".to_string(), Entry::Dir),
        ("etc/ssl".into(), Entry::Dir),
        ("etc/ssl/certs".into(), Entry::Dir),
        ("etc/ssl/certs/ca-certificates.crt".into(), file),
    ]))
}

/// `/etc/passwd` and `/etc/group` naming root and, for another uid, `nonroot`.
pub(crate) fn passwd_tree(store: &Store, uid: u32) -> Result<Tree, BuildError> {
    let mut passwd = String::from("root:x:0:0:root:/root:/sbin/nologin\n");
    let mut group = String::from("root:x:0:\n");
    if uid != 0 {
        passwd.push_str(&format!("nonroot:x:{uid}:{uid}::/home/nonroot:/sbin/nologin\n"));
        group.push_str(&format!("nonroot:x:{uid}:\n"));
    }
    let file = |text: &str| -> Result<Entry, BuildError> {
        Ok(Entry::File { digest: store.put_bytes(text.as_bytes())?, size: text.len() as u64, executable: false })
    };
    Ok(Tree::from([("etc".to_string(), Entry::Dir), ("etc/group".into(), file(&group)?), ("etc/passwd".into(), file(&passwd)?)]))
}

/// The tree of `file(...)` entries placed at their `to` paths (default: the
/// file's name at `/`), with their modes (default 0644). Each file must still
/// have the content its key was computed from (see [`keyed_file`]).
pub(crate) fn files_tree(cx: &Context<'_>, files: &[&dhib_lang::value::FileRef]) -> Result<(Tree, BTreeMap<String, u32>), BuildError> {
    let mut tree = Tree::new();
    let mut modes = BTreeMap::new();
    for f in files {
        let bytes = keyed_file(cx, &f.file)?;
        let name = f.file.rsplit('/').next().unwrap_or(&f.file);
        let to = f.to.clone().unwrap_or_else(|| format!("/{name}"));
        // Analysis checked that `to` is a clean absolute path.
        let rel = to.trim_start_matches('/');
        let mut parent = String::new();
        for dir in rel.split('/').collect::<Vec<_>>().split_last().map(|(_, d)| d.to_vec()).unwrap_or_default() {
            parent = if parent.is_empty() { dir.to_string() } else { format!("{parent}/{dir}") };
            tree.insert(parent.clone(), Entry::Dir);
        }
        let mode = f.mode.map(|m| m as u32).unwrap_or(0o644);
        tree.insert(
            rel.to_string(),
            Entry::File { digest: cx.store.put_bytes(&bytes)?, size: bytes.len() as u64, executable: mode & 0o111 != 0 },
        );
        modes.insert(rel.to_string(), mode);
    }
    Ok((tree, modes))
}
