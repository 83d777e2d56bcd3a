//! OCI images: deterministic layers from stored trees, image configs,
//! manifests and image layouts, and pushing them to registries. The only
//! module that knows the OCI wire formats.
//!
//! JSON is written with `serde_json` maps, whose keys are sorted, so the same
//! image always serializes to the same bytes and digest.

pub mod registry;

use std::io::Write;

use serde_json::{json, Value};

use crate::store::{Digest, Entry, Store, StoreError, Tree};

pub const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const CONFIG_TYPE: &str = "application/vnd.oci.image.config.v1+json";
pub const LAYER_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const INDEX_TYPE: &str = "application/vnd.oci.image.index.v1+json";

/// A layer as stored: the compressed blob and its uncompressed digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    pub digest: Digest,
    pub size: u64,
    pub diff_id: Digest,
}

/// Writes a tree as a deterministic tar: entries sorted by path, parents
/// before children, owner 0:0, modes 0755/0644, every time `mtime`.
pub fn layer_tar(store: &Store, tree: &Tree, mtime: u64) -> Result<Vec<u8>, StoreError> {
    let mut b = tar::Builder::new(Vec::new());
    b.mode(tar::HeaderMode::Complete);
    let header = |kind: tar::EntryType, mode: u32, size: u64| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(mtime);
        h
    };
    let io = |e: std::io::Error| StoreError::Unsupported { path: "layer".into(), why: e.to_string() };
    for (path, entry) in tree {
        match entry {
            Entry::Dir => {
                let mut h = header(tar::EntryType::Directory, 0o755, 0);
                b.append_data(&mut h, format!("{path}/"), std::io::empty()).map_err(io)?;
            }
            Entry::File { digest, executable, .. } => {
                let bytes = store.get(digest)?;
                let mut h = header(tar::EntryType::Regular, if *executable { 0o755 } else { 0o644 }, bytes.len() as u64);
                b.append_data(&mut h, path, bytes.as_slice()).map_err(io)?;
            }
            Entry::Symlink { target } => {
                let mut h = header(tar::EntryType::Symlink, 0o777, 0);
                b.append_link(&mut h, path, target).map_err(io)?;
            }
        }
    }
    b.into_inner().map_err(io)
}

/// Compresses a layer tar (gzip, no name or time in its header) and stores it.
pub fn store_layer(store: &Store, tar: &[u8]) -> Result<Layer, StoreError> {
    let diff_id = Digest::of(tar);
    let mut gz = flate2::GzBuilder::new().mtime(0).write(Vec::new(), flate2::Compression::new(6));
    let io = |e: std::io::Error| StoreError::Unsupported { path: "layer".into(), why: e.to_string() };
    gz.write_all(tar).map_err(io)?;
    let compressed = gz.finish().map_err(io)?;
    let digest = store.put_bytes(&compressed)?;
    Ok(Layer { digest, size: compressed.len() as u64, diff_id })
}

/// What the image config says about running the image.
#[derive(Debug, Clone, Default)]
pub struct RunConfig {
    pub user: Option<String>,
    pub env: Vec<String>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub workdir: Option<String>,
    pub labels: std::collections::BTreeMap<String, String>,
    pub ports: Vec<String>,
}

/// RFC 3339 for a Unix time, without a date library: days from the civil
/// calendar algorithm (Howard Hinnant's `civil_from_days`).
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// The image config and manifest for `layers`, stored; returns the manifest
/// digest and size.
pub fn store_image(
    store: &Store,
    arch: &str,
    layers: &[Layer],
    run: &RunConfig,
    created: u64,
    annotations: &std::collections::BTreeMap<String, String>,
) -> Result<(Digest, u64), StoreError> {
    let mut config = serde_json::Map::new();
    if let Some(u) = &run.user {
        config.insert("User".into(), json!(u));
    }
    if !run.env.is_empty() {
        config.insert("Env".into(), json!(run.env));
    }
    if let Some(e) = &run.entrypoint {
        config.insert("Entrypoint".into(), json!(e));
    }
    if let Some(c) = &run.cmd {
        config.insert("Cmd".into(), json!(c));
    }
    if let Some(w) = &run.workdir {
        config.insert("WorkingDir".into(), json!(w));
    }
    if !run.labels.is_empty() {
        config.insert("Labels".into(), json!(run.labels));
    }
    if !run.ports.is_empty() {
        let ports: serde_json::Map<String, Value> = run.ports.iter().map(|p| (p.clone(), json!({}))).collect();
        config.insert("ExposedPorts".into(), Value::Object(ports));
    }
    let created = rfc3339(created);
    let image = json!({
        "architecture": arch,
        "os": "linux",
        "created": created,
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| format!("sha256:{}", l.diff_id)).collect::<Vec<_>>()},
        "history": layers.iter().map(|_| json!({"created": created, "created_by": "dhib"})).collect::<Vec<_>>(),
    });
    let config_bytes = serde_json::to_vec(&image).expect("json serializes");
    let config_digest = store.put_bytes(&config_bytes)?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": CONFIG_TYPE, "digest": format!("sha256:{config_digest}"), "size": config_bytes.len()},
        "layers": layers.iter().map(|l| json!({"mediaType": LAYER_TYPE, "digest": format!("sha256:{}", l.digest), "size": l.size})).collect::<Vec<_>>(),
        "annotations": annotations,
    });
    let bytes = serde_json::to_vec(&manifest).expect("json serializes");
    Ok((store.put_bytes(&bytes)?, bytes.len() as u64))
}

/// The layers a stored manifest lists.
pub fn manifest_layers(store: &Store, manifest: &Digest) -> Result<Vec<Layer>, StoreError> {
    let m: Value = serde_json::from_slice(&store.get(manifest)?)
        .map_err(|e| StoreError::BadManifest(*manifest, e.to_string()))?;
    let config: Value = m["config"]["digest"]
        .as_str()
        .and_then(Digest::parse)
        .map(|d| store.get(&d))
        .transpose()?
        .map(|b| serde_json::from_slice(&b).unwrap_or(Value::Null))
        .unwrap_or(Value::Null);
    let diff_ids = config["rootfs"]["diff_ids"].as_array().cloned().unwrap_or_default();
    let layers = m["layers"].as_array().cloned().unwrap_or_default();
    layers
        .iter()
        .zip(diff_ids.iter())
        .map(|(l, d)| {
            let parse = |v: &Value| v.as_str().and_then(Digest::parse);
            match (parse(&l["digest"]), l["size"].as_u64(), parse(d)) {
                (Some(digest), Some(size), Some(diff_id)) => Ok(Layer { digest, size, diff_id }),
                _ => Err(StoreError::BadManifest(*manifest, "a layer without digest, size or diff_id".into())),
            }
        })
        .collect()
}

/// An OCI image layout holding one image, as a tree (for the store and for
/// writing out with `Store::materialize`).
pub fn layout_tree(store: &Store, manifest: &Digest, manifest_size: u64, tag: &str) -> Result<Tree, StoreError> {
    let mut tree = Tree::new();
    let add = |tree: &mut Tree, d: &Digest| -> Result<(), StoreError> {
        let size = std::fs::metadata(store.blob_path(d)).map(|m| m.len()).unwrap_or(0);
        tree.insert(format!("blobs/sha256/{d}"), Entry::File { digest: *d, size, executable: false });
        Ok(())
    };
    tree.insert("blobs".into(), Entry::Dir);
    tree.insert("blobs/sha256".into(), Entry::Dir);
    add(&mut tree, manifest)?;
    let m: Value = serde_json::from_slice(&store.get(manifest)?).map_err(|e| StoreError::BadManifest(*manifest, e.to_string()))?;
    let mut blobs: Vec<Digest> = m["layers"].as_array().into_iter().flatten().filter_map(|l| l["digest"].as_str().and_then(Digest::parse)).collect();
    blobs.extend(m["config"]["digest"].as_str().and_then(Digest::parse));
    for d in blobs {
        add(&mut tree, &d)?;
    }
    let oci_layout = store.put_bytes(br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    tree.insert("oci-layout".into(), Entry::File { digest: oci_layout, size: 30, executable: false });
    let index = json!({
        "schemaVersion": 2,
        "mediaType": INDEX_TYPE,
        "manifests": [{
            "mediaType": MANIFEST_TYPE,
            "digest": format!("sha256:{manifest}"),
            "size": manifest_size,
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }],
    });
    let bytes = serde_json::to_vec(&index).expect("json serializes");
    let index_digest = store.put_bytes(&bytes)?;
    tree.insert("index.json".into(), Entry::File { digest: index_digest, size: bytes.len() as u64, executable: false });
    Ok(tree)
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_of_known_times() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(1_704_067_200), "2024-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(951_782_400 + 3_661), "2000-02-29T01:01:01Z");
    }
}
