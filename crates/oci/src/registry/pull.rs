//! An image pulled from a registry into a new OCI image layout, every
//! manifest and blob checked against its digest.

use std::collections::HashSet;
use std::path::Path;

use serde_json::Value;

use dhib_core::diag::Diag;
use dhib_store::Digest;

use super::*;

/// Downloads the image `reference` (`HOST[:PORT]/REPO@sha256:HEX`, an image
/// or an index) into a new OCI image layout at `dest`, checking every blob
/// against its digest. Plain http only for the hosts in `insecure_hosts`.
pub fn pull_layout(reference: &str, insecure_hosts: &[String], dest: &Path) -> Result<(), Diag> {
    let (mut pull, wanted) = Pull::open(reference, insecure_hosts, dest, false)?;
    let (_, descriptor) = pull.image(&wanted)?;
    pull.finish(vec![descriptor])
}

/// What to pull: a manifest by digest, or the one a tag names.
pub(super) enum Wanted {
    Digest(Digest),
    Tag(String),
}

/// A repository being read into a new OCI image layout, every blob checked
/// against its digest and written once.
pub(super) struct Pull<'a> {
    pub(super) client: Client,
    pub(super) repo: String,
    pub(super) insecure: bool,
    pub(super) reference: &'a str,
    pub(super) dest: &'a Path,
    pub(super) written: HashSet<Digest>,
}

impl<'a> Pull<'a> {
    /// Reads `HOST[:PORT]/REPO@sha256:HEX`, or `HOST[:PORT]/REPO:TAG` when
    /// `tags` allows them.
    pub(super) fn open(reference: &'a str, insecure_hosts: &[String], dest: &'a Path, tags: bool) -> Result<(Pull<'a>, Wanted), Diag> {
        let bad = |why: &str| Diag::plain("E0706", format!("cannot pull `{reference}`: {why}"));
        let (host, path) = reference.split_once('/').ok_or_else(|| bad("it names no repository"))?;
        let (repo, wanted) = match path.split_once("@sha256:") {
            Some((repo, hex)) => (repo, Wanted::Digest(Digest::parse(hex).ok_or_else(|| bad("the digest is not 64 hex digits"))?)),
            None if !tags => return Err(bad("it is not pinned by digest")),
            None => {
                let (repo, tag) = path.rsplit_once(':').ok_or_else(|| bad("it names neither a tag nor a digest"))?;
                if !valid_tag(tag) {
                    return Err(bad(&format!("`{tag}` is not a valid tag")));
                }
                (repo, Wanted::Tag(tag.to_string()))
            }
        };
        if !valid_repository(repo) {
            return Err(bad(&format!("`{repo}` is not a valid repository name")));
        }
        let insecure = insecure_hosts.iter().any(|h| h == host);
        let client = Client::new(&Registry { host: host.to_string(), namespace: String::new(), insecure })?;
        Ok((Pull { client, repo: repo.to_string(), insecure, reference, dest, written: HashSet::new() }, wanted))
    }

    pub(super) fn bad(&self, why: impl std::fmt::Display) -> Diag {
        Diag::plain("E0706", format!("cannot pull `{}`: {why}", self.reference))
    }

    /// The manifest or index `wanted` names, with everything below it: its
    /// digest and descriptor. It is the first request, so a failure hints at
    /// plain http.
    pub(super) fn image(&mut self, wanted: &Wanted) -> Result<(Digest, Value), Diag> {
        let fetched = match wanted {
            Wanted::Digest(d) => self.client.get(&self.repo, "manifests", d).map(|bytes| Some((*d, bytes))),
            Wanted::Tag(tag) => self.client.get_tagged(&self.repo, tag),
        };
        let fetched = fetched.map_err(|d| {
            if self.insecure {
                d
            } else {
                self.bad(format!("{d} (if {} serves plain http, name it in DHIB_INSECURE_REGISTRIES)", self.client.host))
            }
        })?;
        let (digest, bytes) = fetched.ok_or_else(|| self.bad(format!("{} has no such tag", self.repo)))?;
        let (descriptor, _) = self.below(digest, bytes)?;
        Ok((digest, descriptor))
    }

    /// Manifest `digest`, fetched, with everything below it.
    pub(super) fn manifest(&mut self, digest: Digest) -> Result<(Value, Value), Diag> {
        let bytes = self.client.get(&self.repo, "manifests", &digest)?;
        self.below(digest, bytes)
    }

    /// Writes manifest `digest` (its `bytes`) and everything below it: an
    /// index's manifests, a manifest's config and layers. Returns its
    /// descriptor and its parsed content.
    pub(super) fn below(&mut self, digest: Digest, bytes: Vec<u8>) -> Result<(Value, Value), Diag> {
        let manifest: Value = serde_json::from_slice(&bytes).map_err(|e| self.bad(format!("manifest sha256:{digest} is not JSON: {e}")))?;
        let descriptor = descriptor(&digest, &bytes, &manifest);
        self.write(&digest, &bytes)?;
        let digests = |key: &str| -> Vec<Digest> {
            manifest[key].as_array().into_iter().flatten().filter_map(|l| l["digest"].as_str().and_then(Digest::parse)).collect()
        };
        for child in digests("manifests") {
            self.manifest(child)?;
        }
        let config = manifest["config"]["digest"].as_str().and_then(Digest::parse);
        for blob in config.into_iter().chain(digests("layers")) {
            if !self.written.contains(&blob) {
                let bytes = self.client.get(&self.repo, "blobs", &blob)?;
                self.write(&blob, &bytes)?;
            }
        }
        Ok((descriptor, manifest))
    }

    pub(super) fn write(&mut self, digest: &Digest, bytes: &[u8]) -> Result<(), Diag> {
        let path = crate::layout_blob(self.dest, digest);
        std::fs::create_dir_all(path.parent().expect("blobs/sha256")).map_err(|e| self.bad(e))?;
        std::fs::write(&path, bytes).map_err(|e| self.bad(e))?;
        self.written.insert(*digest);
        Ok(())
    }

    /// Writes `oci-layout` and an `index.json` listing `manifests`.
    pub(super) fn finish(self, manifests: Vec<Value>) -> Result<(), Diag> {
        std::fs::write(self.dest.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).map_err(|e| self.bad(e))?;
        let index = serde_json::json!({"schemaVersion": 2, "mediaType": crate::INDEX_TYPE, "manifests": manifests});
        std::fs::write(self.dest.join("index.json"), index.to_string()).map_err(|e| self.bad(e))
    }
}

/// The descriptor of manifest `digest`: its media type (a manifest unless it
/// says or lists manifests), digest and size.
pub(super) fn descriptor(digest: &Digest, bytes: &[u8], manifest: &Value) -> Value {
    let fallback = if manifest["manifests"].is_array() { crate::INDEX_TYPE } else { crate::MANIFEST_TYPE };
    let media_type = manifest["mediaType"].as_str().unwrap_or(fallback);
    serde_json::json!({"mediaType": media_type, "digest": format!("sha256:{digest}"), "size": bytes.len()})
}
