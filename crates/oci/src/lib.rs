//! OCI images: deterministic layers from stored trees, image configs,
//! manifests and image layouts, and pushing them to registries.
//!
//! # Architecture invariant
//! The only crate that knows the OCI wire formats (media types, manifests,
//! indexes, layouts, the distribution API); it stores through `dhib-store`
//! and speaks HTTP through `dhib-net`, and knows nothing of the graph.
//!
//! JSON is written with `serde_json` maps, whose keys are sorted, so the same
//! image always serializes to the same bytes and digest.

// A `Diag` is returned once per failure, never on a hot path.
#![allow(clippy::result_large_err)]

pub mod attach;
pub mod describe;
pub mod registry;
pub mod rootfs;

use std::io::Write;
use std::path::Path;

use serde_json::{json, Value};

use dhib_core::diag::Diag;
use dhib_store::{Digest, Entry, LayerMemo, Store, StoreError, Tree};

pub const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const CONFIG_TYPE: &str = "application/vnd.oci.image.config.v1+json";
pub const INDEX_TYPE: &str = "application/vnd.oci.image.index.v1+json";

/// How a layer blob is compressed; gzip unless an image asks for zstd.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    #[default]
    Gzip,
    Zstd,
}

impl Compression {
    pub fn media_type(self) -> &'static str {
        match self {
            Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }

    fn of_media_type(t: &str) -> Option<Compression> {
        [Compression::Gzip, Compression::Zstd].into_iter().find(|c| c.media_type() == t)
    }
}

/// Whether a layer entry's file name is a whiteout: a marker deleting a
/// file of the layers below (which dhib never writes).
pub fn is_whiteout(file_name: &str) -> bool {
    file_name.starts_with(".wh.")
}

/// A layer as stored: the compressed blob and its uncompressed digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    pub digest: Digest,
    pub size: u64,
    pub diff_id: Digest,
    pub compression: Compression,
}

/// Writes a tree as a deterministic tar: entries sorted by path, parents
/// before children, owner 0:0, modes 0755/0644 unless `modes` names the path,
/// every time `mtime`, repeated contents as hard links.
pub fn layer_tar(store: &Store, tree: &Tree, mtime: u64, modes: &std::collections::BTreeMap<String, u32>) -> Result<Vec<u8>, StoreError> {
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
    // Files of one content and mode after the first are hard links to it:
    // the hard links packages ship come out as hard links, and copies share
    // their bytes.
    let mut first: std::collections::HashMap<(Digest, u32), &str> = std::collections::HashMap::new();
    for (path, entry) in tree {
        match entry {
            Entry::Dir => {
                let mut h = header(tar::EntryType::Directory, 0o755, 0);
                b.append_data(&mut h, format!("{path}/"), std::io::empty()).map_err(io)?;
            }
            Entry::File { digest, executable, size } => {
                let mode = modes.get(path).copied().unwrap_or(if *executable { 0o755 } else { 0o644 });
                if *size > 0 {
                    if let Some(target) = first.get(&(*digest, mode)) {
                        let mut h = header(tar::EntryType::Link, mode, 0);
                        b.append_link(&mut h, path, target).map_err(io)?;
                        continue;
                    }
                    first.insert((*digest, mode), path);
                }
                let bytes = store.get(digest)?;
                let mut h = header(tar::EntryType::Regular, mode, bytes.len() as u64);
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

/// Compresses a layer tar and stores it. Both encoders are deterministic for
/// one crate version: gzip without name or time in its header, zstd on one
/// thread (its multi-threaded output differs).
pub fn store_layer(store: &Store, tar: &[u8], compression: Compression) -> Result<Layer, StoreError> {
    let diff_id = Digest::of(tar);
    let io = |e: std::io::Error| StoreError::Unsupported { path: "layer".into(), why: e.to_string() };
    let compressed = match compression {
        Compression::Gzip => {
            let mut gz = flate2::GzBuilder::new().mtime(0).write(Vec::new(), flate2::Compression::new(6));
            gz.write_all(tar).map_err(io)?;
            gz.finish().map_err(io)?
        }
        Compression::Zstd => zstd::encode_all(tar, 3).map_err(io)?,
    };
    let digest = store.put_bytes(&compressed)?;
    Ok(Layer { digest, size: compressed.len() as u64, diff_id, compression })
}

/// The layer of the tree that `source` identifies (`what`: a stored tree, a
/// .deb), made once per store: it is remembered by the store under a hash
/// of `source`, the time and the compression, so assembling an
/// image again after one package changed compresses only that package's
/// layer. `tree` makes the tree when the layer is not known yet.
pub fn cached_layer<E: From<StoreError>>(
    store: &Store,
    what: &str,
    source: &Digest,
    mtime: u64,
    compression: Compression,
    tree: impl FnOnce() -> Result<Tree, E>,
) -> Result<Layer, E> {
    // Bump the version whenever `layer_tar`, the compressors or unpacking a
    // .deb change.
    let mut h = blake3::Hasher::new_derive_key("dhib layer cache v4");
    h.update(what.as_bytes());
    h.update(&source.0);
    h.update(&mtime.to_le_bytes());
    h.update(compression.media_type().as_bytes());
    let id = *h.finalize().as_bytes();
    if let Some(m) = store.layer_memo(&id) {
        return Ok(Layer { digest: m.blob, size: m.size, diff_id: m.diff_id, compression });
    }
    let layer = store_layer(store, &layer_tar(store, &tree()?, mtime, &Default::default())?, compression)?;
    store.remember_layer(&id, &LayerMemo { blob: layer.digest, diff_id: layer.diff_id, size: layer.size })?;
    Ok(layer)
}

/// The blobs and manifests below manifest `digest` of the layout at
/// `layout`, each once, in push order: an index's children before the index
/// itself. A manifest that is not in the layout is an error.
pub fn layout_closure(
    layout: &Path,
    digest: Digest,
    media_type: Option<&str>,
    blobs: &mut Vec<Digest>,
    manifests: &mut Vec<(Digest, String)>,
) -> Result<(), Diag> {
    if manifests.iter().any(|(d, _)| *d == digest) {
        return Ok(());
    }
    let bytes = read_layout_blob(layout, &digest)?;
    let m: Value = serde_json::from_slice(&bytes)
        .map_err(|e| Diag::plain("E0703", format!("manifest sha256:{digest} in {} is not JSON: {e}", layout.display())))?;
    let media_type = m["mediaType"].as_str().or(media_type).unwrap_or(MANIFEST_TYPE).to_string();
    let digest_of = |d: &Value| {
        d["digest"].as_str().and_then(|s| s.strip_prefix("sha256:")).and_then(Digest::parse).ok_or_else(|| {
            Diag::plain("E0703", format!("manifest sha256:{digest} in {} has a descriptor without a sha256 digest", layout.display()))
        })
    };
    if let Some(children) = m["manifests"].as_array() {
        for child in children {
            layout_closure(layout, digest_of(child)?, child["mediaType"].as_str(), blobs, manifests)?;
        }
    } else {
        let config = std::iter::once(&m["config"]).filter(|c| !c.is_null());
        for d in config.chain(m["layers"].as_array().into_iter().flatten()) {
            let d = digest_of(d)?;
            if !blobs.contains(&d) {
                blobs.push(d);
            }
        }
    }
    manifests.push((digest, media_type));
    Ok(())
}

pub fn read_layout_blob(layout: &Path, digest: &Digest) -> Result<Vec<u8>, Diag> {
    let path = layout_blob(layout, digest);
    std::fs::read(&path).map_err(|e| {
        Diag::plain("E0703", format!("cannot read {}: {e}", path.display())).with_help("rebuild the image: dhib build PATTERN")
    })
}

/// Where an OCI image layout keeps the blob `digest`.
pub fn layout_blob(layout: &std::path::Path, digest: &Digest) -> std::path::PathBuf {
    layout.join("blobs/sha256").join(digest.hex())
}

/// The layers of the image in an OCI image layout (the directory of
/// `index.json`; its only manifest, or its only one for `arch`), each blob
/// checked against its digest and stored. Made by any tool: umoci, skopeo,
/// another dhib.
pub fn import_layout(store: &Store, layout: &std::path::Path, arch: &str) -> Result<Vec<Layer>, String> {
    let read = |d: &str| -> Result<Vec<u8>, String> {
        let digest = Digest::parse(d).ok_or_else(|| format!("`{d}` is not a sha256 digest"))?;
        let path = layout_blob(layout, &digest);
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        if Digest::of(&bytes) != digest {
            return Err(format!("{} does not match its digest", path.display()));
        }
        Ok(bytes)
    };
    let parse = |bytes: &[u8]| serde_json::from_slice::<Value>(bytes).map_err(|e| e.to_string());
    let mut node = parse(&std::fs::read(layout.join("index.json")).map_err(|e| format!("{}/index.json: {e}", layout.display()))?)?;
    // Down through indexes to the one manifest for this architecture.
    loop {
        let manifests: Vec<&Value> = node["manifests"].as_array().map(|m| m.iter().collect()).unwrap_or_default();
        let fitting: Vec<&Value> =
            manifests.iter().copied().filter(|m| m["platform"]["architecture"].as_str().is_none_or(|a| a == arch)).collect();
        let [one] = fitting[..] else {
            return Err(format!("the layout names {} images for {arch}; it must name one", fitting.len()));
        };
        node = parse(&read(one["digest"].as_str().unwrap_or_default())?)?;
        if node["layers"].is_array() {
            break;
        }
    }
    let config = parse(&read(node["config"]["digest"].as_str().unwrap_or_default())?)?;
    let diff_ids = config["rootfs"]["diff_ids"].as_array().cloned().unwrap_or_default();
    let layers = node["layers"].as_array().cloned().unwrap_or_default();
    if layers.len() != diff_ids.len() {
        return Err("the image's config lists another number of layers than its manifest".into());
    }
    layers
        .iter()
        .zip(&diff_ids)
        .map(|(l, d)| {
            let media_type = l["mediaType"].as_str().unwrap_or_default();
            let compression =
                Compression::of_media_type(media_type).ok_or_else(|| format!("layer media type `{media_type}` is not gzip or zstd"))?;
            let bytes = read(l["digest"].as_str().unwrap_or_default())?;
            let digest = store.put_bytes(&bytes).map_err(|e| e.to_string())?;
            let diff_id = d.as_str().and_then(Digest::parse).ok_or("a layer without a diff_id")?;
            Ok(Layer { digest, size: bytes.len() as u64, diff_id, compression })
        })
        .collect()
}

/// Called with each entry of a layer: its type, path, link target and data.
type EntryVisitor<'a> = dyn FnMut(tar::EntryType, String, Option<String>, &mut dyn std::io::Read) -> std::io::Result<()> + 'a;

/// The regular files of a stored layer whose paths `wanted` accepts, by
/// path (no leading `/`), in the layer's order; a hard link reads as the file
/// it links to.
pub fn layer_files(store: &Store, layer: &Layer, wanted: impl Fn(&str) -> bool) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
    let bytes = store.get(&layer.digest)?;
    let io = |e: std::io::Error| StoreError::BadManifest(layer.digest, format!("unreadable layer: {e}"));
    let each = |visit: &mut EntryVisitor<'_>| {
        let reader: Box<dyn std::io::Read> = match layer.compression {
            Compression::Gzip => Box::new(flate2::read::GzDecoder::new(&bytes[..])),
            Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(&bytes[..])?),
        };
        let clean = |p: &std::path::Path| p.to_string_lossy().trim_start_matches("./").trim_start_matches('/').to_string();
        let mut archive = tar::Archive::new(reader);
        for entry in archive.entries()? {
            let mut entry = entry?;
            let kind = entry.header().entry_type();
            let path = clean(&entry.path()?);
            let link = entry.link_name()?.map(|l| clean(&l));
            visit(kind, path, link, &mut entry)?;
        }
        Ok(())
    };
    // First pass: the files that wanted hard links point at.
    let mut targets: std::collections::BTreeMap<String, Vec<String>> = std::collections::BTreeMap::new();
    each(&mut |kind, path, link, _| {
        if let (tar::EntryType::Link, Some(target)) = (kind, link) {
            if wanted(&path) {
                targets.entry(target).or_default().push(path);
            }
        }
        Ok(())
    })
    .map_err(io)?;
    let mut out = Vec::new();
    each(&mut |kind, path, _, data| {
        let links = targets.get(&path);
        if kind == tar::EntryType::Regular && (wanted(&path) || links.is_some()) {
            let mut content = Vec::new();
            data.read_to_end(&mut content)?;
            for l in links.into_iter().flatten() {
                out.push((l.clone(), content.clone()));
            }
            if wanted(&path) {
                out.push((path, content));
            }
        }
        Ok(())
    })
    .map_err(io)?;
    Ok(out)
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
    let created = dhib_core::rfc3339(created);
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
        "layers": layers.iter().map(|l| json!({"mediaType": l.compression.media_type(), "digest": format!("sha256:{}", l.digest), "size": l.size})).collect::<Vec<_>>(),
        "annotations": annotations,
    });
    let bytes = serde_json::to_vec(&manifest).expect("json serializes");
    Ok((store.put_bytes(&bytes)?, bytes.len() as u64))
}

fn stored_json(store: &Store, digest: &Digest) -> Result<Value, StoreError> {
    serde_json::from_slice(&store.get(digest)?).map_err(|e| StoreError::BadManifest(*digest, e.to_string()))
}

/// The config blob of a stored manifest, parsed.
fn manifest_config(store: &Store, manifest: &Digest) -> Result<Value, StoreError> {
    let m = stored_json(store, manifest)?;
    let config = m["config"]["digest"]
        .as_str()
        .and_then(Digest::parse)
        .ok_or_else(|| StoreError::BadManifest(*manifest, "no config digest".into()))?;
    stored_json(store, &config)
}

/// What a stored image says about running it, and its architecture.
pub fn image_config(store: &Store, manifest: &Digest) -> Result<(RunConfig, String), StoreError> {
    let c = manifest_config(store, manifest)?;
    let strs = |v: &Value| v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect::<Vec<_>>());
    let cfg = &c["config"];
    let run = RunConfig {
        user: cfg["User"].as_str().map(str::to_string),
        env: strs(&cfg["Env"]).unwrap_or_default(),
        entrypoint: strs(&cfg["Entrypoint"]),
        cmd: strs(&cfg["Cmd"]),
        workdir: cfg["WorkingDir"].as_str().map(str::to_string),
        labels: cfg["Labels"]
            .as_object()
            .map(|m| m.iter().filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string()))).collect())
            .unwrap_or_default(),
        ports: cfg["ExposedPorts"].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default(),
    };
    Ok((run, c["architecture"].as_str().unwrap_or("amd64").to_string()))
}

/// The image manifests below a stored manifest or index, each with its
/// platform (`linux/amd64`): the manifest itself, or the index's entries.
pub fn platform_manifests(store: &Store, digest: &Digest) -> Result<Vec<(Digest, String)>, StoreError> {
    let top = stored_json(store, digest)?;
    if top["mediaType"] != INDEX_TYPE {
        let arch = image_config(store, digest)?.1;
        return Ok(vec![(*digest, format!("linux/{arch}"))]);
    }
    let entries = top["manifests"].as_array().cloned().unwrap_or_default();
    entries
        .iter()
        .map(|m| {
            let d = m["digest"]
                .as_str()
                .and_then(Digest::parse)
                .ok_or_else(|| StoreError::BadManifest(*digest, "an entry without digest".into()))?;
            Ok((d, platform_of(&m["platform"])))
        })
        .collect()
}

/// `os/architecture[/variant]` of an index entry's `platform`.
fn platform_of(p: &Value) -> String {
    let mut platform = format!("{}/{}", p["os"].as_str().unwrap_or("linux"), p["architecture"].as_str().unwrap_or("amd64"));
    if let Some(v) = p["variant"].as_str() {
        platform = format!("{platform}/{v}");
    }
    platform
}

/// The annotations of a stored manifest or index.
pub fn annotations(store: &Store, digest: &Digest) -> Result<std::collections::BTreeMap<String, String>, StoreError> {
    let m = stored_json(store, digest)?;
    Ok(m["annotations"]
        .as_object()
        .map(|a| a.iter().filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string()))).collect())
        .unwrap_or_default())
}

/// The layers a stored manifest lists.
pub fn manifest_layers(store: &Store, manifest: &Digest) -> Result<Vec<Layer>, StoreError> {
    let m = stored_json(store, manifest)?;
    let config = manifest_config(store, manifest)?;
    let diff_ids = config["rootfs"]["diff_ids"].as_array().cloned().unwrap_or_default();
    let layers = m["layers"].as_array().cloned().unwrap_or_default();
    layers
        .iter()
        .zip(diff_ids.iter())
        .map(|(l, d)| {
            let parse = |v: &Value| v.as_str().and_then(Digest::parse);
            let compression = l["mediaType"].as_str().and_then(Compression::of_media_type);
            match (parse(&l["digest"]), l["size"].as_u64(), parse(d), compression) {
                (Some(digest), Some(size), Some(diff_id), Some(compression)) => Ok(Layer { digest, size, diff_id, compression }),
                _ => Err(StoreError::BadManifest(*manifest, "a layer without digest, size, diff_id or known media type".into())),
            }
        })
        .collect()
}

/// An image index over per-platform manifests (`linux/arm64`, with its
/// variant if any), stored; returns its digest and size.
pub fn store_index(
    store: &Store,
    manifests: &[(Digest, u64, String)],
    annotations: &std::collections::BTreeMap<String, String>,
) -> Result<(Digest, u64), StoreError> {
    let entries: Vec<Value> = manifests
        .iter()
        .map(|(digest, size, platform)| {
            let mut parts = platform.split('/');
            let mut p = serde_json::Map::new();
            p.insert("os".into(), json!(parts.next().unwrap_or("linux")));
            p.insert("architecture".into(), json!(parts.next().unwrap_or("amd64")));
            if let Some(v) = parts.next() {
                p.insert("variant".into(), json!(v));
            }
            json!({"mediaType": MANIFEST_TYPE, "digest": format!("sha256:{digest}"), "size": size, "platform": p})
        })
        .collect();
    let index = json!({"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": entries, "annotations": annotations});
    let bytes = serde_json::to_vec(&index).expect("json serializes");
    Ok((store.put_bytes(&bytes)?, bytes.len() as u64))
}

/// An OCI image layout holding one image (a manifest, or an index over
/// per-platform manifests), as a tree (for the store and for writing out
/// with `Store::materialize`).
pub fn layout_tree(store: &Store, root: &Digest, root_size: u64, tag: &str) -> Result<Tree, StoreError> {
    let mut tree = Tree::new();
    let add = |tree: &mut Tree, d: &Digest| {
        let size = std::fs::metadata(store.blob_path(d)).map(|m| m.len()).unwrap_or(0);
        tree.insert(format!("blobs/sha256/{d}"), Entry::File { digest: *d, size, executable: false });
    };
    tree.insert("blobs".into(), Entry::Dir);
    tree.insert("blobs/sha256".into(), Entry::Dir);
    add(&mut tree, root);
    let top = stored_json(store, root)?;
    let digests = |v: &Value, key: &str| -> Vec<Digest> {
        v[key].as_array().into_iter().flatten().filter_map(|l| l["digest"].as_str().and_then(Digest::parse)).collect()
    };
    let is_index = top["mediaType"] == INDEX_TYPE;
    let manifests = if is_index { digests(&top, "manifests") } else { vec![*root] };
    for m in &manifests {
        add(&mut tree, m);
        let manifest = stored_json(store, m)?;
        for d in digests(&manifest, "layers") {
            add(&mut tree, &d);
        }
        if let Some(c) = manifest["config"]["digest"].as_str().and_then(Digest::parse) {
            add(&mut tree, &c);
        }
    }
    let oci_layout = store.put_bytes(br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    tree.insert("oci-layout".into(), Entry::File { digest: oci_layout, size: 30, executable: false });
    let index = json!({
        "schemaVersion": 2,
        "mediaType": INDEX_TYPE,
        "manifests": [{
            "mediaType": if is_index { INDEX_TYPE } else { MANIFEST_TYPE },
            "digest": format!("sha256:{root}"),
            "size": root_size,
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }],
    });
    let bytes = serde_json::to_vec(&index).expect("json serializes");
    let index_digest = store.put_bytes(&bytes)?;
    tree.insert("index.json".into(), Entry::File { digest: index_digest, size: bytes.len() as u64, executable: false });
    Ok(tree)
}
