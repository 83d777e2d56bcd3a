//! Signatures and attestations next to an image: cosign's tags
//! (`sha256-<hex>.sig`, `.att`) and OCI 1.1 referrers, manifests whose
//! `subject` is the image. A registry with the referrers API lists those
//! itself; on one without it the client keeps the list, an image index at
//! the fallback tag `sha256-<hex>`.

use std::collections::HashSet;
use std::path::Path;

use serde::Serialize;
use serde_json::{json, Value};

use super::pull::{descriptor, Pull, Wanted};
use super::{Client, Counts, Image};
use crate::read_layout_blob;
use crate::INDEX_TYPE;
use dhib_core::diag::Diag;
use dhib_store::Digest;

const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// How a registry lists an image's referrers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ReferrersVia {
    #[serde(rename = "referrers API")]
    Api,
    #[serde(rename = "tag fallback")]
    TagFallback,
}

impl std::fmt::Display for ReferrersVia {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ReferrersVia::Api => "referrers API",
            ReferrersVia::TagFallback => "tag fallback",
        })
    }
}

/// What an image's layout lists besides the image, in its order.
pub(super) struct Extras {
    /// The manifests whose subject is the image, with their descriptors as
    /// a referrers list has them.
    pub(super) referrers: Vec<(Digest, Value)>,
    /// cosign's tags and the manifests they name.
    pub(super) tagged: Vec<(String, Digest)>,
}

impl Extras {
    /// Reads `layout`'s index.json. The fallback index it may hold is left
    /// out: the registry's is merged with the referrers instead.
    pub(super) fn read(layout: &Path, image: &Digest) -> Result<Extras, Diag> {
        let path = layout.join("index.json");
        let bad =
            |why: String| Diag::plain("E0703", format!("{}: {why}", path.display())).with_help("rebuild the image: dhib build PATTERN");
        let text = std::fs::read(&path).map_err(|e| bad(e.to_string()))?;
        let index: Value = serde_json::from_slice(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
        let fallback = fallback_tag(image);
        let mut extras = Extras { referrers: Vec::new(), tagged: Vec::new() };
        for entry in index["manifests"].as_array().into_iter().flatten() {
            let digest =
                entry["digest"].as_str().and_then(Digest::parse).ok_or_else(|| bad("a manifest without a sha256 digest".into()))?;
            let tag = entry["annotations"][REF_NAME].as_str();
            if digest == *image || tag == Some(fallback.as_str()) || extras.referrers.iter().any(|(d, _)| *d == digest) {
                continue;
            }
            if let Some(tag) = tag.filter(|t| is_cosign_tag(t, &fallback)) {
                extras.tagged.push((tag.to_string(), digest));
                continue;
            }
            let bytes = read_layout_blob(layout, &digest)?;
            let manifest: Value = serde_json::from_slice(&bytes).map_err(|e| bad(format!("manifest sha256:{digest} is not JSON: {e}")))?;
            if subject_of(&manifest) != Some(*image) {
                let tagged = tag.map(|t| format!(" (tagged {t})")).unwrap_or_default();
                return Err(bad(format!(
                    "it lists sha256:{digest}{tagged}, which is neither the image sha256:{image}, \
                     one of its cosign tags, nor a manifest whose subject it is"
                )));
            }
            extras.referrers.push((digest, referrer_descriptor(descriptor(&digest, &bytes, &manifest), &manifest)));
        }
        Ok(extras)
    }

    /// Pushes the referrers by digest, then cosign's tags, then, where the
    /// registry has no referrers API, merges the referrers into the index at
    /// the fallback tag. Returns how the registry lists them, if there are any.
    pub(super) fn publish(&self, client: &mut Client, img: &Image, counts: &mut Counts) -> Result<Option<ReferrersVia>, Diag> {
        let repo = img.repository.as_str();
        let image = format!("sha256:{}", img.manifest);
        // A registry with the API says so when it takes a manifest with a subject.
        let mut answered_subject = false;
        for (digest, _) in &self.referrers {
            let (_, subject) = client.push_tree(repo, &img.layout, *digest, counts)?;
            answered_subject |= subject.as_deref() == Some(image.as_str());
        }
        for (tag, digest) in &self.tagged {
            let (media_type, _) = client.push_tree(repo, &img.layout, *digest, counts)?;
            client.put_manifest(repo, tag, &media_type, &read_layout_blob(&img.layout, digest)?, digest)?;
        }
        counts.referrers += self.referrers.len();
        counts.tags += self.tagged.len();
        if self.referrers.is_empty() {
            return Ok(None);
        }
        if answered_subject || client.referrers(repo, &img.manifest)?.is_some() {
            return Ok(Some(ReferrersVia::Api));
        }
        let tag = fallback_tag(&img.manifest);
        let existing = client.get_tagged(repo, &tag)?;
        let merged = merged_index(existing.as_ref().map(|(_, bytes)| bytes.as_slice()), &self.referrers).map_err(|why| {
            Diag::plain("E0704", format!("{repo}:{tag} {why}, so dhib will not replace it with the list of referrers"))
                .with_help("a registry without the referrers API keeps an image's referrers in an index at that tag; delete what is there")
        })?;
        if let Some(bytes) = merged {
            client.put_manifest(repo, &tag, INDEX_TYPE, &bytes, &Digest::of(&bytes))?;
        }
        Ok(Some(ReferrersVia::TagFallback))
    }
}

/// Downloads the image `reference` (`HOST[:PORT]/REPO:TAG` or
/// `HOST[:PORT]/REPO@sha256:HEX`) with what verifying it needs into a new
/// OCI image layout at `dest`: the image (index, manifests, configs,
/// layers), cosign's `sha256-<hex>.sig` and `.att` tags where they exist,
/// and its referrers (from the referrers API, else the fallback tag) with
/// their blobs. The layout lists them as `dhib publish` reads them: tags as
/// `org.opencontainers.image.ref.name`, referrers untagged and in an index
/// at the fallback tag. Returns the image's digest.
pub fn pull_signed_layout(reference: &str, insecure_hosts: &[String], dest: &Path) -> Result<Digest, Diag> {
    let (mut pull, wanted) = Pull::open(reference, insecure_hosts, dest, true)?;
    let (image, mut image_descriptor) = pull.image(&wanted)?;
    if let Wanted::Tag(tag) = &wanted {
        image_descriptor["annotations"] = json!({REF_NAME: tag});
    }
    let mut entries = vec![image_descriptor];
    let fallback = fallback_tag(&image);
    for tag in [format!("{fallback}.sig"), format!("{fallback}.att")] {
        if let Some((digest, bytes)) = pull.client.get_tagged(&pull.repo, &tag)? {
            let (mut tagged, _) = pull.below(digest, bytes)?;
            tagged["annotations"] = json!({REF_NAME: tag});
            entries.push(tagged);
        }
    }
    let listed = match pull.client.referrers(&pull.repo, &image)? {
        Some(listed) => listed,
        None => match pull.client.get_tagged(&pull.repo, &fallback)? {
            None => Vec::new(),
            Some((_, bytes)) => serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|index| index["manifests"].as_array().cloned())
                .ok_or_else(|| pull.bad(format!("the tag {fallback} holds something that is not an image index")))?,
        },
    };
    let mut referrers: Vec<(Digest, Value)> = Vec::new();
    for listed in listed {
        let digest =
            listed["digest"].as_str().and_then(Digest::parse).ok_or_else(|| pull.bad("a referrer is listed without a sha256 digest"))?;
        if referrers.iter().any(|(d, _)| *d == digest) {
            continue;
        }
        let (found, manifest) = pull.manifest(digest)?;
        if subject_of(&manifest) != Some(image) {
            return Err(pull.bad(format!("the registry lists sha256:{digest} as a referrer, but its subject is not sha256:{image}")));
        }
        referrers.push((digest, referrer_descriptor(found, &manifest)));
    }
    if !referrers.is_empty() {
        let bytes = referrers_index(&referrers);
        let digest = Digest::of(&bytes);
        pull.write(&digest, &bytes)?;
        entries.extend(referrers.into_iter().map(|(_, d)| d));
        let size = bytes.len();
        entries.push(
            json!({"mediaType": INDEX_TYPE, "digest": format!("sha256:{digest}"), "size": size, "annotations": {REF_NAME: fallback}}),
        );
    }
    pull.finish(entries)?;
    Ok(image)
}

impl Client {
    /// The referrers of `digest` through the referrers API, or None where the
    /// registry does not have it: a 404, or an answer that is no index.
    fn referrers(&mut self, repo: &str, digest: &Digest) -> Result<Option<Vec<Value>>, Diag> {
        let url = format!("{}/v2/{repo}/referrers/sha256:{digest}", self.base);
        let body = self.get_optional(repo, &url, INDEX_TYPE)?;
        Ok(body.and_then(|b| serde_json::from_slice::<Value>(&b).ok()).and_then(|index| index["manifests"].as_array().cloned()))
    }
}

/// The tag a registry without the referrers API keeps `image`'s referrers
/// at; cosign's tags add `.sig` and `.att` to it.
fn fallback_tag(image: &Digest) -> String {
    format!("sha256-{image}")
}

fn is_cosign_tag(tag: &str, fallback: &str) -> bool {
    tag.strip_prefix(fallback)
        .and_then(|rest| rest.strip_prefix('.'))
        .is_some_and(|suffix| !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_lowercase()))
}

fn subject_of(manifest: &Value) -> Option<Digest> {
    manifest["subject"]["digest"].as_str().and_then(Digest::parse)
}

/// A manifest's descriptor as a referrers list has it: with its
/// `artifactType` (its config's media type when it sets none) and its
/// annotations.
fn referrer_descriptor(mut descriptor: Value, manifest: &Value) -> Value {
    let artifact_type = manifest["artifactType"].as_str().or(manifest["config"]["mediaType"].as_str());
    if let Some(t) = artifact_type {
        descriptor["artifactType"] = json!(t);
    }
    if manifest["annotations"].is_object() {
        descriptor["annotations"] = manifest["annotations"].clone();
    }
    descriptor
}

fn referrers_index(referrers: &[(Digest, Value)]) -> Vec<u8> {
    let manifests: Vec<&Value> = referrers.iter().map(|(_, d)| d).collect();
    serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": manifests})).expect("json serializes")
}

/// The referrers index at the fallback tag (`existing`, if there is one)
/// with `ours` added: what it listed first, then what it lacked. None when
/// it lacks nothing.
fn merged_index(existing: Option<&[u8]>, ours: &[(Digest, Value)]) -> Result<Option<Vec<u8>>, &'static str> {
    let Some(existing) = existing else {
        return Ok(Some(referrers_index(ours)));
    };
    let mut index: Value = serde_json::from_slice(existing).map_err(|_| "holds something that is not JSON")?;
    let listed = index["manifests"].as_array_mut().ok_or("holds something that is not an image index")?;
    let had: HashSet<Digest> = listed.iter().filter_map(|m| m["digest"].as_str().and_then(Digest::parse)).collect();
    let lacking: Vec<Value> = ours.iter().filter(|(d, _)| !had.contains(d)).map(|(_, v)| v.clone()).collect();
    if lacking.is_empty() {
        return Ok(None);
    }
    listed.extend(lacking);
    Ok(Some(serde_json::to_vec(&index).expect("json serializes")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn referrer(n: u8) -> (Digest, Value) {
        let d = Digest([n; 32]);
        (d, json!({"digest": format!("sha256:{d}"), "artifactType": format!("application/x-{n}")}))
    }

    #[test]
    fn the_fallback_index_keeps_what_it_listed_and_adds_what_it_lacked() {
        let first = referrers_index(&[referrer(1), referrer(2)]);
        let merged: Value = serde_json::from_slice(&merged_index(Some(&first), &[referrer(3), referrer(2)]).unwrap().unwrap()).unwrap();
        let order: Vec<&str> = merged["manifests"].as_array().unwrap().iter().map(|m| m["artifactType"].as_str().unwrap()).collect();
        assert_eq!(order, ["application/x-1", "application/x-2", "application/x-3"]);
        assert_eq!(merged["mediaType"], INDEX_TYPE);
        assert_eq!(merged_index(Some(&first), &[referrer(1)]), Ok(None), "nothing new: nothing to push");
        assert!(merged_index(Some(b"{\"layers\":[]}"), &[referrer(1)]).is_err());
        assert_eq!(merged_index(None, &[referrer(1)]).unwrap().unwrap(), referrers_index(&[referrer(1)]));
    }

    #[test]
    fn cosign_tags_are_the_fallback_tag_with_a_suffix() {
        let fallback = fallback_tag(&Digest([0xab; 32]));
        assert!(is_cosign_tag(&format!("{fallback}.sig"), &fallback) && is_cosign_tag(&format!("{fallback}.att"), &fallback));
        assert!(!is_cosign_tag(&fallback, &fallback) && !is_cosign_tag(&format!("{fallback}."), &fallback));
        assert!(!is_cosign_tag("sha256-00.sig", &fallback));
    }
}
