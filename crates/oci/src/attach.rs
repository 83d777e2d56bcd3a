//! Signatures and attestations in an image layout, where both cosign and
//! OCI 1.1 clients find them: cosign's `sha256-<hex>.sig` and `.att` tags,
//! an OCI 1.1 artifact manifest per signature and attestation whose
//! `subject` is the image, and the referrers tag-schema fallback index
//! (`sha256-<hex>`) listing those artifacts.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Value};

use super::{layout_blob, INDEX_TYPE, MANIFEST_TYPE};
use dhib_store::Digest;

pub const SIMPLE_SIGNING_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
pub const DSSE_TYPE: &str = "application/vnd.dsse.envelope.v1+json";
/// The artifact type of a cosign signature stored as an OCI 1.1 referrer.
pub const SIGNATURE_ARTIFACT_TYPE: &str = "application/vnd.dev.cosign.artifact.sig.v1+json";
pub const PREDICATE_TYPE_ANNOTATION: &str = "in-toto.io/predicate-type";
pub const EMPTY_TYPE: &str = "application/vnd.oci.empty.v1+json";
const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// A cosign signature of the image: the simple-signing payload and the
/// base64 signature over it.
pub struct Signature {
    pub payload: Vec<u8>,
    pub signature_b64: String,
}

/// A signed attestation: a DSSE envelope (JSON) and its predicate type.
pub struct Attestation {
    pub envelope: Vec<u8>,
    pub predicate_type: String,
}

/// Adds the signature and attestations of the image tagged `tag` to the
/// layout at `layout`, replacing any this function added before.
pub fn attach(layout: &Path, tag: &str, signature: &Signature, attestations: &[Attestation], created: &str) -> std::io::Result<()> {
    let index_path = layout.join("index.json");
    let mut index: Value = serde_json::from_slice(&std::fs::read(&index_path)?).map_err(std::io::Error::other)?;
    let manifests = index["manifests"].as_array().cloned().unwrap_or_default();
    let image = manifests
        .iter()
        .find(|m| m["annotations"][REF_NAME] == tag)
        .cloned()
        .ok_or_else(|| std::io::Error::other(format!("the layout has no image tagged {tag}")))?;
    let image_digest = image["digest"].as_str().unwrap_or_default().to_string();
    let hex = image_digest.trim_start_matches("sha256:").to_string();
    let subject = json!({"mediaType": image["mediaType"], "digest": image_digest, "size": image["size"]});
    let put = |bytes: &[u8]| -> std::io::Result<Value> {
        let d = Digest::of(bytes);
        let path = layout_blob(layout, &d);
        if !path.exists() {
            std::fs::write(&path, bytes)?;
        }
        Ok(json!({"digest": format!("sha256:{d}"), "size": bytes.len()}))
    };
    let with = |mut descriptor: Value, media_type: &str, annotations: Value| {
        descriptor["mediaType"] = json!(media_type);
        if annotations.as_object().is_some_and(|a| !a.is_empty()) {
            descriptor["annotations"] = annotations;
        }
        descriptor
    };
    let sig_layer = with(put(&signature.payload)?, SIMPLE_SIGNING_TYPE, json!({ SIGNATURE_ANNOTATION: signature.signature_b64 }));
    let att_layers: Vec<Value> = attestations
        .iter()
        .map(|a| Ok(with(put(&a.envelope)?, DSSE_TYPE, json!({"predicateType": a.predicate_type}))))
        .collect::<std::io::Result<_>>()?;

    // cosign's tag scheme: image manifests whose config lists the layers.
    let cosign_manifest = |layers: &[Value]| -> std::io::Result<Value> {
        let diff_ids: Vec<&Value> = layers.iter().map(|l| &l["digest"]).collect();
        let config = json!({"architecture": "", "os": "", "config": {}, "rootfs": {"type": "layers", "diff_ids": diff_ids}});
        let config = with(put(&serde_json::to_vec(&config).expect("json"))?, super::CONFIG_TYPE, json!({}));
        let m = json!({"schemaVersion": 2, "mediaType": MANIFEST_TYPE, "config": config, "layers": layers});
        Ok(with(put(&serde_json::to_vec(&m).expect("json"))?, MANIFEST_TYPE, json!({})))
    };
    let sig_tag = cosign_manifest(std::slice::from_ref(&sig_layer))?;
    let att_tag = cosign_manifest(&att_layers)?;

    // OCI 1.1 referrers: one artifact per signature and attestation.
    let empty = with(put(b"{}")?, EMPTY_TYPE, json!({}));
    let referrer = |artifact_type: &str, layer: &Value, annotations: Value| -> std::io::Result<Value> {
        let m = json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "artifactType": artifact_type,
            "config": empty,
            "layers": [layer],
            "subject": subject,
            "annotations": annotations,
        });
        let mut d = with(put(&serde_json::to_vec(&m).expect("json"))?, MANIFEST_TYPE, annotations);
        d["artifactType"] = json!(artifact_type);
        Ok(d)
    };
    let mut referrers = vec![referrer(SIGNATURE_ARTIFACT_TYPE, &sig_layer, json!({"org.opencontainers.image.created": created}))?];
    for (a, layer) in attestations.iter().zip(&att_layers) {
        referrers.push(referrer(
            DSSE_TYPE,
            layer,
            json!({"org.opencontainers.image.created": created, PREDICATE_TYPE_ANNOTATION: a.predicate_type}),
        )?);
    }
    let fallback = json!({"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": referrers});
    let fallback_tag = with(put(&serde_json::to_vec(&fallback).expect("json"))?, INDEX_TYPE, json!({}));

    let tagged = |mut d: Value, name: String| {
        d["annotations"] = json!({ REF_NAME: name });
        d
    };
    let ours: BTreeMap<String, Value> =
        [(format!("sha256-{hex}.sig"), sig_tag), (format!("sha256-{hex}.att"), att_tag), (format!("sha256-{hex}"), fallback_tag)]
            .into_iter()
            .collect();
    // Keep the image and anything else, minus what an earlier run attached.
    let mut kept: Vec<Value> = manifests
        .into_iter()
        .filter(|m| {
            let name = m["annotations"][REF_NAME].as_str().unwrap_or_default();
            !ours.contains_key(name) && m["subject"].is_null() && m.get("artifactType").is_none()
        })
        .collect();
    kept.extend(ours.into_iter().map(|(name, d)| tagged(d, name)));
    kept.extend(referrers);
    index["manifests"] = json!(kept);
    let tmp = layout.join(".index.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec(&index).expect("json"))?;
    std::fs::rename(tmp, index_path)
}

/// What [`read`] finds in a layout.
pub struct Signed {
    /// The image's manifest (or index) digest.
    pub image: Digest,
    pub signature: Option<Signature>,
    /// The DSSE envelopes of the `.att` tag.
    pub attestations: Vec<Vec<u8>>,
}

/// The image of a layout (its entry tagged with a name other than cosign's
/// and the referrers fallback's), its signature and its attestations.
pub fn read(layout: &Path) -> Result<Signed, String> {
    let blob = |d: &Value| -> Result<Vec<u8>, String> {
        let digest = d.as_str().and_then(Digest::parse).ok_or("a descriptor without a sha256 digest")?;
        std::fs::read(layout_blob(layout, &digest)).map_err(|e| format!("blob sha256:{digest}: {e}"))
    };
    let json = |bytes: Vec<u8>| serde_json::from_slice::<Value>(&bytes).map_err(|e| e.to_string());
    let index = json(std::fs::read(layout.join("index.json")).map_err(|e| format!("{}/index.json: {e}", layout.display()))?)?;
    let manifests = index["manifests"].as_array().cloned().unwrap_or_default();
    let tag = |m: &Value| m["annotations"][REF_NAME].as_str().unwrap_or_default().to_string();
    // The image is the entry tagged with a name of its own, or (in a layout
    // pulled by digest) the one untagged entry that is no artifact.
    let images: Vec<&Value> = manifests.iter().filter(|m| !tag(m).is_empty() && !tag(m).starts_with("sha256-")).collect();
    let untagged: Vec<&Value> =
        manifests.iter().filter(|m| tag(m).is_empty() && m.get("artifactType").is_none() && m["subject"].is_null()).collect();
    let images = if images.is_empty() { untagged } else { images };
    let [image] = images[..] else {
        return Err(format!("the layout names {} images; dhib verify checks one", images.len()));
    };
    let digest = image["digest"].as_str().and_then(Digest::parse).ok_or("the image has no sha256 digest")?;
    let tagged = |suffix: &str| manifests.iter().find(|m| tag(m) == format!("sha256-{digest}{suffix}"));
    let layers_of =
        |m: &Value| -> Result<Vec<Value>, String> { Ok(json(blob(&m["digest"])?)?["layers"].as_array().cloned().unwrap_or_default()) };
    let signature = match tagged(".sig") {
        None => None,
        Some(m) => {
            let layer = layers_of(m)?.into_iter().next().ok_or("the signature manifest has no layer")?;
            Some(Signature {
                payload: blob(&layer["digest"])?,
                signature_b64: layer["annotations"][SIGNATURE_ANNOTATION].as_str().unwrap_or_default().to_string(),
            })
        }
    };
    let attestations = match tagged(".att") {
        None => Vec::new(),
        Some(m) => layers_of(m)?.iter().map(|l| blob(&l["digest"])).collect::<Result<_, _>>()?,
    };
    Ok(Signed { image: digest, signature, attestations })
}
