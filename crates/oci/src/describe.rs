//! What an image in a layout is, as `dhib compare` shows it: its digest,
//! platforms, size, environment and labels, read from its manifests and
//! config without storing anything.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::{layout_blob, INDEX_TYPE};
use dhib_store::Digest;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Description {
    /// The image's manifest or, for a multi-platform image, its index.
    pub digest: Digest,
    /// `linux/amd64`, one per platform.
    pub platforms: Vec<String>,
    /// Bytes of the blobs of every platform: manifests, configs and the
    /// (compressed) layers, as a registry holds them.
    pub size: u64,
    /// Of the first platform's config.
    pub env: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
}

/// Describes the image `digest` of the layout at `layout` (the one
/// [`crate::attach::read`] finds).
pub fn describe(layout: &Path, digest: Digest) -> Result<Description, String> {
    let json = |d: &Digest| -> Result<(Value, u64), String> {
        let bytes = std::fs::read(layout_blob(layout, d)).map_err(|e| format!("blob sha256:{d}: {e}"))?;
        Ok((serde_json::from_slice(&bytes).map_err(|e| format!("blob sha256:{d}: {e}"))?, bytes.len() as u64))
    };
    let digest_of =
        |v: &Value| v["digest"].as_str().and_then(Digest::parse).ok_or_else(|| format!("a descriptor without a sha256 digest in {digest}"));
    let (top, top_size) = json(&digest)?;
    let mut size = 0;
    let manifests: Vec<(Digest, Option<String>)> = if top["mediaType"] == INDEX_TYPE {
        size += top_size;
        top["manifests"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| Ok((digest_of(m)?, Some(super::platform_of(&m["platform"])))))
            .collect::<Result<_, String>>()?
    } else {
        vec![(digest, None)]
    };
    let mut platforms = Vec::new();
    let mut first: Option<Value> = None;
    for (d, platform) in manifests {
        let (manifest, manifest_size) = json(&d)?;
        let (config, _) = json(&digest_of(&manifest["config"])?)?;
        size += manifest_size;
        size += std::iter::once(&manifest["config"])
            .chain(manifest["layers"].as_array().into_iter().flatten())
            .filter_map(|l| l["size"].as_u64())
            .sum::<u64>();
        platforms.push(platform.unwrap_or_else(|| super::platform_of(&config)));
        first.get_or_insert(config);
    }
    let config = first.ok_or_else(|| format!("the index sha256:{digest} lists no image"))?;
    let env = config["config"]["Env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e.as_str()?.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
        .collect();
    let labels = config["config"]["Labels"]
        .as_object()
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
        .unwrap_or_default();
    Ok(Description { digest, platforms, size, env, labels })
}
