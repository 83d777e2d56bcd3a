//! Publishing image layouts to a registry over the OCI distribution API:
//! blobs (skipped when present, mounted from a repository pushed earlier in
//! the same run, uploaded otherwise), then manifests by digest with their
//! exact bytes, then tags; then what the layout holds next to the image
//! (signatures, attestations: see `referrers`). Credentials come from
//! docker's `config.json`, answered to Basic and Bearer challenges. And the
//! reverse: an image pulled into a layout (alone, or with its signatures and
//! referrers), every blob checked.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use serde::Serialize;
use serde_json::Value;
use ureq::http::{Response, StatusCode};

use crate::graph::NodeId;
use crate::lang::diag::Diag;
use crate::lang::label::Pattern;
use crate::store::Digest;

mod referrers;
pub use referrers::{pull_signed_layout, ReferrersVia};

/// Attempts per request when the registry answers 5xx or the connection
/// fails, with the delay doubling from `FIRST_DELAY` between them.
const ATTEMPTS: u32 = 5;
const FIRST_DELAY: Duration = Duration::from_millis(100);

/// Where images go: `HOST[:PORT]/NAMESPACE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registry {
    pub host: String,
    pub namespace: String,
    pub insecure: bool,
}

impl Registry {
    pub fn parse(text: &str, insecure: bool) -> Result<Registry, Diag> {
        let bad = |why: &str| {
            Diag::plain("E0701", format!("`{text}` is not a registry: {why}")).with_help(
                "write HOST[:PORT]/NAMESPACE, e.g. registry.example.com/hardened or 127.0.0.1:5000/test (add --insecure for plain http)",
            )
        };
        if text.contains("://") {
            return Err(bad("no scheme is written; dhib uses https, or http with --insecure"));
        }
        let (host, namespace) = text.split_once('/').unwrap_or((text, ""));
        let namespace = namespace.trim_end_matches('/');
        let (name, port) = host.rsplit_once(':').map_or((host, None), |(h, p)| (h, Some(p)));
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-') {
            return Err(bad("the host must be a name or an IPv4 address"));
        }
        if port.is_some_and(|p| p.parse::<u16>().is_err()) {
            return Err(bad("the port must be a number up to 65535"));
        }
        if !namespace.is_empty() && !valid_repository(namespace) {
            return Err(bad("the namespace must be lowercase letters, digits and separators (`.`, `_`, `-`, `/`)"));
        }
        Ok(Registry { host: host.to_string(), namespace: namespace.to_string(), insecure })
    }

    /// The host the API is served from (docker.io's lives elsewhere).
    fn api_host(&self) -> &str {
        if self.host == "docker.io" {
            "registry-1.docker.io"
        } else {
            &self.host
        }
    }
}

/// Downloads the image `reference` (`HOST[:PORT]/REPO@sha256:HEX`, an image
/// or an index) into a new OCI image layout at `dest`, checking every blob
/// against its digest. Plain http only for the hosts in `insecure_hosts`.
pub fn pull_layout(reference: &str, insecure_hosts: &[String], dest: &Path) -> Result<(), Diag> {
    let (mut pull, wanted) = Pull::open(reference, insecure_hosts, dest, false)?;
    let (_, descriptor) = pull.image(&wanted)?;
    pull.finish(vec![descriptor])
}

/// What to pull: a manifest by digest, or the one a tag names.
enum Wanted {
    Digest(Digest),
    Tag(String),
}

/// A repository being read into a new OCI image layout, every blob checked
/// against its digest and written once.
struct Pull<'a> {
    client: Client,
    repo: String,
    insecure: bool,
    reference: &'a str,
    dest: &'a Path,
    written: HashSet<Digest>,
}

impl<'a> Pull<'a> {
    /// Reads `HOST[:PORT]/REPO@sha256:HEX`, or `HOST[:PORT]/REPO:TAG` when
    /// `tags` allows them.
    fn open(reference: &'a str, insecure_hosts: &[String], dest: &'a Path, tags: bool) -> Result<(Pull<'a>, Wanted), Diag> {
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

    fn bad(&self, why: impl std::fmt::Display) -> Diag {
        Diag::plain("E0706", format!("cannot pull `{}`: {why}", self.reference))
    }

    /// The manifest or index `wanted` names, with everything below it: its
    /// digest and descriptor. It is the first request, so a failure hints at
    /// plain http.
    fn image(&mut self, wanted: &Wanted) -> Result<(Digest, Value), Diag> {
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
    fn manifest(&mut self, digest: Digest) -> Result<(Value, Value), Diag> {
        let bytes = self.client.get(&self.repo, "manifests", &digest)?;
        self.below(digest, bytes)
    }

    /// Writes manifest `digest` (its `bytes`) and everything below it: an
    /// index's manifests, a manifest's config and layers. Returns its
    /// descriptor and its parsed content.
    fn below(&mut self, digest: Digest, bytes: Vec<u8>) -> Result<(Value, Value), Diag> {
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

    fn write(&mut self, digest: &Digest, bytes: &[u8]) -> Result<(), Diag> {
        let path = super::layout_blob(self.dest, digest);
        std::fs::create_dir_all(path.parent().expect("blobs/sha256")).map_err(|e| self.bad(e))?;
        std::fs::write(&path, bytes).map_err(|e| self.bad(e))?;
        self.written.insert(*digest);
        Ok(())
    }

    /// Writes `oci-layout` and an `index.json` listing `manifests`.
    fn finish(self, manifests: Vec<Value>) -> Result<(), Diag> {
        std::fs::write(self.dest.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).map_err(|e| self.bad(e))?;
        let index = serde_json::json!({"schemaVersion": 2, "mediaType": super::INDEX_TYPE, "manifests": manifests});
        std::fs::write(self.dest.join("index.json"), index.to_string()).map_err(|e| self.bad(e))
    }
}

/// The descriptor of manifest `digest`: its media type (a manifest unless it
/// says or lists manifests), digest and size.
fn descriptor(digest: &Digest, bytes: &[u8], manifest: &Value) -> Value {
    let fallback = if manifest["manifests"].is_array() { super::INDEX_TYPE } else { super::MANIFEST_TYPE };
    let media_type = manifest["mediaType"].as_str().unwrap_or(fallback);
    serde_json::json!({"mediaType": media_type, "digest": format!("sha256:{digest}"), "size": bytes.len()})
}

/// One built image to publish, and where it goes.
#[derive(Debug, Clone)]
pub struct Image {
    pub node: String,
    pub layout: PathBuf,
    pub manifest: Digest,
    pub repository: String,
    pub tag: String,
}

/// One image as pushed, with what its layout held besides it.
#[derive(Debug, Clone, Serialize)]
pub struct Pushed {
    pub node: String,
    pub reference: String,
    pub digest: String,
    /// Manifests whose `subject` is the image (signatures, attestations).
    #[serde(skip_serializing_if = "is_zero")]
    pub referrers: usize,
    /// How the registry lists them, when there are any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referrers_via: Option<ReferrersVia>,
    /// cosign's tags: `sha256-<hex>.sig`, `sha256-<hex>.att`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

/// What happened to the blobs, each counted once per repository, and to
/// the manifests that go with the images.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    pub images: usize,
    pub uploaded: usize,
    pub mounted: usize,
    pub skipped: usize,
    #[serde(skip_serializing_if = "is_zero")]
    pub referrers: usize,
    #[serde(skip_serializing_if = "is_zero")]
    pub tags: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The images under `out` (written by `dhib build`, named by
/// `out/index.json`) that match `patterns`. `//dir/sub:name` goes to the
/// repository `NAMESPACE/dir/sub` with the tag `name`, or `tag` when given.
pub fn select(out: &Path, patterns: &[String], registry: &Registry, tag: Option<&str>) -> Result<Vec<Image>, Diag> {
    let index_path = out.join("index.json");
    let text = std::fs::read_to_string(&index_path).map_err(|e| {
        Diag::plain("E0702", format!("cannot read {}: {e}", index_path.display())).with_help("build the images first: dhib build PATTERN")
    })?;
    let index: Value = serde_json::from_str(&text)
        .map_err(|e| Diag::plain("E0703", format!("{} is not an image index written by dhib: {e}", index_path.display())))?;
    let parsed: Vec<Pattern> = patterns
        .iter()
        .map(|p| {
            Pattern::parse(p).map_err(|why| {
                Diag::plain("E0411", format!("`{p}` is not a target pattern: {why}")).with_help("write //dir:name, //dir/... or //...")
            })
        })
        .collect::<Result<_, _>>()?;
    let mut images = Vec::new();
    let mut matched = vec![false; parsed.len()];
    for (node, entry) in index["images"].as_object().into_iter().flatten() {
        let Ok(id) = NodeId::parse(node) else {
            continue;
        };
        let hits: Vec<usize> = (0..parsed.len()).filter(|&i| parsed[i].matches(&id.label)).collect();
        if hits.is_empty() {
            continue;
        }
        hits.iter().for_each(|&i| matched[i] = true);
        let bad_entry = || Diag::plain("E0703", format!("{} has no layout and manifest for {node}", index_path.display()));
        let layout = entry["layout"].as_str().ok_or_else(bad_entry)?;
        let manifest = entry["manifest"].as_str().and_then(|d| d.strip_prefix("sha256:")).and_then(Digest::parse).ok_or_else(bad_entry)?;
        let repository =
            [registry.namespace.as_str(), id.label.pkg.as_str()].iter().filter(|s| !s.is_empty()).copied().collect::<Vec<_>>().join("/");
        if repository.is_empty() {
            return Err(Diag::plain("E0701", format!("{node} is at the workspace root, so it needs a namespace to go to"))
                .with_help(format!("name one: --registry {}/NAMESPACE", registry.host)));
        }
        if !valid_repository(&repository) {
            return Err(Diag::plain("E0701", format!("`{repository}` (for {node}) is not a valid repository name"))
                .with_help("repository names are lowercase letters, digits and separators; rename the directory"));
        }
        let tag = tag.unwrap_or(&id.label.name).to_string();
        if !valid_tag(&tag) {
            return Err(Diag::plain("E0701", format!("`{tag}` (for {node}) is not a valid tag"))
                .with_help("a tag is up to 128 letters, digits, `_`, `.` and `-`, not starting with `.` or `-`; choose one with --tag"));
        }
        images.push(Image { node: node.clone(), layout: out.join(layout), manifest, repository, tag });
    }
    if let Some(i) = matched.iter().position(|m| !m) {
        return Err(Diag::plain("E0702", format!("no built image matches `{}`", patterns[i]))
            .with_help(format!("build it first: dhib build {}", patterns[i])));
    }
    let mut seen = HashMap::new();
    for img in &images {
        if let Some(other) = seen.insert((img.repository.clone(), img.tag.clone()), img.node.clone()) {
            return Err(Diag::plain("E0701", format!("{other} and {} would both be pushed as {}:{}", img.node, img.repository, img.tag))
                .with_help("publish them separately, or without --tag"));
        }
    }
    Ok(images)
}

/// Pushes `images`, reporting each through `on_pushed` once its tag is set.
/// What each layout lists besides its image goes after it: referrers by
/// digest, then cosign's tags, then the referrers tag fallback where the
/// registry has no referrers API.
pub fn publish(registry: &Registry, images: &[Image], on_pushed: &dyn Fn(&Pushed)) -> Result<Counts, Diag> {
    let mut client = Client::new(registry)?;
    client.ping()?;
    let mut counts = Counts::default();
    for img in images {
        let extras = referrers::Extras::read(&img.layout, &img.manifest)?;
        let (media_type, _) = client.push_tree(&img.repository, &img.layout, img.manifest, &mut counts)?;
        client.put_manifest(
            &img.repository,
            &img.tag,
            &media_type,
            &super::read_layout_blob(&img.layout, &img.manifest)?,
            &img.manifest,
        )?;
        client.pushed_repositories.insert(img.repository.clone());
        let referrers_via = extras.publish(&mut client, img, &mut counts)?;
        counts.images += 1;
        on_pushed(&Pushed {
            node: img.node.clone(),
            reference: format!("{}/{}:{}", registry.host, img.repository, img.tag),
            digest: format!("sha256:{}", img.manifest),
            referrers: extras.referrers.len(),
            referrers_via,
            tags: extras.tagged.iter().map(|(tag, _)| tag.clone()).collect(),
        });
    }
    Ok(counts)
}

/// `a/b-c/d.e`: lowercase letters and digits, separated inside a component
/// by `.`, `_` or dashes.
fn valid_repository(name: &str) -> bool {
    name.len() <= 255
        && name.split('/').all(|c| {
            let b = c.as_bytes();
            !b.is_empty()
                && b.first().is_some_and(u8::is_ascii_alphanumeric)
                && b.last().is_some_and(u8::is_ascii_alphanumeric)
                && b.iter().all(|&x| x.is_ascii_lowercase() || x.is_ascii_digit() || matches!(x, b'.' | b'_' | b'-'))
        })
}

fn valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    (1..=128).contains(&b.len())
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter().all(|&x| x.is_ascii_alphanumeric() || matches!(x, b'.' | b'_' | b'-'))
}

/// A request body: bytes, or a blob file opened afresh for each attempt.
enum Payload<'a> {
    Bytes(&'a [u8]),
    File(&'a Path),
}

struct Client {
    agent: ureq::Agent,
    base: String,
    host: String,
    /// base64 `user:password` from docker's config.json.
    credentials: Option<String>,
    /// The `Authorization` value per repository, once a challenge was met.
    authorization: HashMap<String, String>,
    /// Where each blob is known to be, for cross-repository mounts.
    located: HashMap<Digest, String>,
    present: HashSet<(String, Digest)>,
    pushed_repositories: BTreeSet<String>,
    /// The upload a declined mount started.
    mount_started: Option<String>,
}

impl Client {
    fn new(registry: &Registry) -> Result<Client, Diag> {
        let scheme = if registry.insecure { "http" } else { "https" };
        Ok(Client {
            agent: crate::exec::fetch::agent(),
            base: format!("{scheme}://{}", registry.api_host()),
            host: registry.host.clone(),
            credentials: credentials(&registry.host)?,
            authorization: HashMap::new(),
            located: HashMap::new(),
            present: HashSet::new(),
            pushed_repositories: BTreeSet::new(),
            mount_started: None,
        })
    }

    /// A manifest or blob by digest, checked against it.
    fn get(&mut self, repo: &str, what: &str, digest: &Digest) -> Result<Vec<u8>, Diag> {
        let url = format!("{}/v2/{repo}/{what}/sha256:{digest}", self.base);
        let bytes = self
            .get_optional(repo, &url, &manifest_types())?
            .ok_or_else(|| Diag::plain("E0704", format!("GET {url}: the registry answered 404 Not Found")))?;
        if Digest::of(&bytes) != *digest {
            return Err(Diag::plain("E0704", format!("{url} answered content that is not sha256:{digest}")));
        }
        Ok(bytes)
    }

    /// The manifest `tag` names and its digest, or None when there is no such tag.
    fn get_tagged(&mut self, repo: &str, tag: &str) -> Result<Option<(Digest, Vec<u8>)>, Diag> {
        let url = format!("{}/v2/{repo}/manifests/{tag}", self.base);
        Ok(self.get_optional(repo, &url, &manifest_types())?.map(|bytes| (Digest::of(&bytes), bytes)))
    }

    /// The body `url` answers, or None for a 404.
    fn get_optional(&mut self, repo: &str, url: &str, accept: &str) -> Result<Option<Vec<u8>>, Diag> {
        let resp = self.send(repo, "GET", url, &[("accept", accept)], None)?;
        match resp.status() {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => resp
                .into_body()
                .with_config()
                .limit(u64::MAX)
                .read_to_vec()
                .map(Some)
                .map_err(|e| Diag::plain("E0704", format!("GET {url}: {e}"))),
            s => Err(self.refused("GET", url, s, resp)),
        }
    }

    /// Checks that the host speaks the distribution API before anything is
    /// read or sent.
    fn ping(&mut self) -> Result<(), Diag> {
        let url = format!("{}/v2/", self.base);
        let resp = self.send("", "GET", &url, &[], None)?;
        match resp.status() {
            s if s.is_success() => Ok(()),
            s => Err(self.refused("GET", &url, s, resp)),
        }
    }

    fn push_blob(&mut self, repo: &str, layout: &Path, digest: &Digest, counts: &mut Counts) -> Result<(), Diag> {
        if self.present.contains(&(repo.to_string(), *digest)) {
            return Ok(());
        }
        let blob = format!("{}/v2/{repo}/blobs/sha256:{digest}", self.base);
        let resp = self.send(repo, "HEAD", &blob, &[], None)?;
        if resp.status().is_success() {
            counts.skipped += 1;
        } else if !self.mount(repo, digest, counts)? {
            let path = super::layout_blob(layout, digest);
            if !path.is_file() {
                return Err(
                    Diag::plain("E0703", format!("{} is missing", path.display())).with_help("rebuild the image: dhib build PATTERN")
                );
            }
            let mut started = self.mount_started.take();
            // A registry restarted during the upload forgets the session
            // (BLOB_UPLOAD_UNKNOWN, BLOB_UPLOAD_INVALID): one more from the start.
            for session in 1..=2 {
                let location = match started.take() {
                    Some(location) => location,
                    None => {
                        let uploads = format!("{}/v2/{repo}/blobs/uploads/", self.base);
                        let resp = self.send(repo, "POST", &uploads, &[], Some(Payload::Bytes(&[])))?;
                        if resp.status() != StatusCode::ACCEPTED {
                            return Err(self.refused("POST", &uploads, resp.status(), resp));
                        }
                        self.location(&resp)?
                    }
                };
                let sep = if location.contains('?') { '&' } else { '?' };
                let url = format!("{location}{sep}digest=sha256:{digest}");
                let headers = [("content-type", "application/octet-stream")];
                match self.send(repo, "PUT", &url, &headers, Some(Payload::File(&path))) {
                    Ok(resp) if resp.status() == StatusCode::CREATED => break,
                    Ok(resp) if session == 1 && matches!(resp.status().as_u16(), 400 | 404 | 416) => {}
                    Err(_) if session == 1 => {}
                    Ok(resp) => return Err(self.refused("PUT", &url, resp.status(), resp)),
                    Err(e) => return Err(e),
                }
            }
            counts.uploaded += 1;
        }
        self.present.insert((repo.to_string(), *digest));
        self.located.entry(*digest).or_insert_with(|| repo.to_string());
        Ok(())
    }

    /// Mounts `digest` from a repository that got it earlier in this run.
    /// A registry that declines may start an ordinary upload instead (202),
    /// whose location is kept for the upload.
    fn mount(&mut self, repo: &str, digest: &Digest, counts: &mut Counts) -> Result<bool, Diag> {
        let Some(from) = self.located.get(digest).filter(|r| *r != repo).cloned() else {
            return Ok(false);
        };
        let url = format!("{}/v2/{repo}/blobs/uploads/?mount=sha256:{digest}&from={from}", self.base);
        let resp = self.send(repo, "POST", &url, &[], Some(Payload::Bytes(&[])))?;
        if resp.status() == StatusCode::CREATED {
            counts.mounted += 1;
            return Ok(true);
        }
        if resp.status() == StatusCode::ACCEPTED {
            self.mount_started = Some(self.location(&resp)?);
        }
        Ok(false)
    }

    /// Pushes manifest `digest` of `layout` with everything below it:
    /// blobs, then manifests by digest (an index's children before it).
    /// Returns its media type and the `OCI-Subject` the registry answered.
    fn push_tree(&mut self, repo: &str, layout: &Path, digest: Digest, counts: &mut Counts) -> Result<(String, Option<String>), Diag> {
        let mut blobs = Vec::new();
        let mut manifests = Vec::new();
        super::layout_closure(layout, digest, None, &mut blobs, &mut manifests)?;
        for blob in &blobs {
            self.push_blob(repo, layout, blob, counts)?;
        }
        let mut subject = None;
        for (d, media_type) in &manifests {
            subject = self.put_manifest(repo, &format!("sha256:{d}"), media_type, &super::read_layout_blob(layout, d)?, d)?;
        }
        let (_, media_type) = manifests.pop().expect("the manifest itself is collected last");
        Ok((media_type, subject))
    }

    /// PUTs a manifest, checking the registry kept its bytes; returns the
    /// `OCI-Subject` header, which registries with the referrers API answer
    /// to a manifest with a `subject`.
    fn put_manifest(
        &mut self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
        digest: &Digest,
    ) -> Result<Option<String>, Diag> {
        let url = format!("{}/v2/{repo}/manifests/{reference}", self.base);
        let resp = self.send(repo, "PUT", &url, &[("content-type", media_type)], Some(Payload::Bytes(bytes)))?;
        if !resp.status().is_success() {
            return Err(self.refused("PUT", &url, resp.status(), resp));
        }
        let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        match header("docker-content-digest") {
            Some(d) if d != format!("sha256:{digest}") => Err(Diag::plain(
                "E0704",
                format!("the registry stored {repo}:{reference} as {d}, not sha256:{digest}: it rewrote the manifest"),
            )),
            _ => Ok(header("oci-subject")),
        }
    }

    /// The upload URL a 202 names, made absolute.
    fn location(&self, resp: &Response<ureq::Body>) -> Result<String, Diag> {
        let loc =
            resp.headers().get("location").and_then(|v| v.to_str().ok()).ok_or_else(|| {
                Diag::plain("E0704", format!("{} started an upload without saying where (no Location header)", self.host))
            })?;
        Ok(if loc.starts_with("http://") || loc.starts_with("https://") { loc.to_string() } else { format!("{}{loc}", self.base) })
    }

    /// One request with the repository's credentials; a 401 is answered
    /// once by logging in as its challenge asks, then the request is repeated.
    fn send(
        &mut self,
        repo: &str,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        payload: Option<Payload>,
    ) -> Result<Response<ureq::Body>, Diag> {
        let resp = self.attempts(method, url, headers, &payload, self.authorization.get(repo).cloned())?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        let challenge = resp.headers().get("www-authenticate").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let value = self.login(repo, &challenge)?;
        self.authorization.insert(repo.to_string(), value.clone());
        let resp = self.attempts(method, url, headers, &payload, Some(value))?;
        if resp.status() == StatusCode::UNAUTHORIZED || resp.status() == StatusCode::FORBIDDEN {
            return Err(self.refused(method, url, resp.status(), resp));
        }
        Ok(resp)
    }

    /// The `Authorization` value that answers `challenge`.
    fn login(&self, repo: &str, challenge: &str) -> Result<String, Diag> {
        let (scheme, params) = challenge.split_once(' ').unwrap_or((challenge, ""));
        let params = challenge_params(params);
        let no_credentials = || {
            Diag::plain("E0705", format!("{} asks for credentials and none are configured for it", self.host))
                .with_help(format!("log in (`docker login {}` writes them), or add `auths.\"{}\".auth` (base64 of user:password) to $DOCKER_CONFIG/config.json or ~/.docker/config.json", self.host, self.host))
        };
        if scheme.eq_ignore_ascii_case("basic") {
            return self.credentials.as_ref().map(|c| format!("Basic {c}")).ok_or_else(no_credentials);
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(Diag::plain("E0705", format!("{} asks for `{challenge}`, an authentication dhib does not speak", self.host)));
        }
        let realm = params
            .get("realm")
            .ok_or_else(|| Diag::plain("E0705", format!("{} sent a Bearer challenge without a realm: `{challenge}`", self.host)))?;
        let mut scopes: Vec<String> = params.get("scope").map(|s| vec![s.clone()]).unwrap_or_default();
        if !repo.is_empty() {
            scopes.push(format!("repository:{repo}:pull,push"));
            // Mounting from a repository pushed earlier needs pull on it.
            scopes.extend(self.pushed_repositories.iter().map(|r| format!("repository:{r}:pull")));
        }
        scopes.dedup();
        let resp = self.retrying("GET", realm, || {
            let mut req = self.agent.get(realm);
            if let Some(service) = params.get("service") {
                req = req.query("service", service);
            }
            for s in &scopes {
                req = req.query("scope", s);
            }
            if let Some(c) = &self.credentials {
                req = req.header("authorization", format!("Basic {c}"));
            }
            req.call()
        })?;
        if resp.status() == StatusCode::UNAUTHORIZED && self.credentials.is_none() {
            return Err(no_credentials());
        }
        if !resp.status().is_success() {
            return Err(self.refused("GET", realm, resp.status(), resp));
        }
        let body = json_body(resp);
        let token = body["token"]
            .as_str()
            .or(body["access_token"].as_str())
            .ok_or_else(|| Diag::plain("E0705", format!("the token service {realm} answered without a token")))?;
        Ok(format!("Bearer {token}"))
    }

    fn attempts(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        payload: &Option<Payload>,
        authorization: Option<String>,
    ) -> Result<Response<ureq::Body>, Diag> {
        self.retrying(method, url, || {
            let mut req = ureq::http::Request::builder().method(method).uri(url);
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            if let Some(a) = &authorization {
                req = req.header("authorization", a);
            }
            match payload {
                None => self.agent.run(req.body(())?),
                Some(Payload::Bytes(b)) => self.agent.run(req.body(*b)?),
                Some(Payload::File(p)) => self.agent.run(req.body(std::fs::File::open(p)?)?),
            }
        })
    }

    /// Runs `call` until it gets an answer that is not a 5xx, waiting longer
    /// after each failure; the last answer or error is what the caller sees.
    fn retrying(
        &self,
        method: &str,
        url: &str,
        mut call: impl FnMut() -> Result<Response<ureq::Body>, ureq::Error>,
    ) -> Result<Response<ureq::Body>, Diag> {
        let mut delay = FIRST_DELAY;
        for attempt in 1..=ATTEMPTS {
            let last = attempt == ATTEMPTS;
            match call() {
                Ok(resp) if resp.status().is_server_error() && !last => {}
                Ok(resp) => return Ok(resp),
                Err(e) if !last && transient(&e) => {}
                Err(e) => {
                    return Err(Diag::plain("E0704", format!("{method} {url}: {}", crate::exec::fetch::describe(&e)))
                        .with_help(format!("is {} a registry, reachable from here? (--insecure for one serving plain http)", self.host)));
                }
            }
            std::thread::sleep(delay);
            delay *= 2;
        }
        unreachable!("the last attempt returns")
    }

    fn refused(&self, method: &str, url: &str, status: StatusCode, resp: Response<ureq::Body>) -> Diag {
        let body = json_body(resp);
        let reasons: Vec<String> = body["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| format!("{}: {}", e["code"].as_str().unwrap_or("?"), e["message"].as_str().unwrap_or("")))
            .collect();
        let why = if reasons.is_empty() { String::new() } else { format!(" ({})", reasons.join("; ")) };
        let code = if matches!(status.as_u16(), 401 | 403) { "E0705" } else { "E0704" };
        Diag::plain(code, format!("{method} {url}: the registry answered {status}{why}"))
    }
}

/// What a GET of a manifest accepts.
fn manifest_types() -> String {
    [super::MANIFEST_TYPE, super::INDEX_TYPE].join(", ")
}

/// A response's JSON body, or null when it has none (errors may come as HTML).
fn json_body(resp: Response<ureq::Body>) -> Value {
    let bytes = resp.into_body().with_config().limit(1 << 20).read_to_vec().unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

fn transient(e: &ureq::Error) -> bool {
    matches!(e, ureq::Error::Io(_) | ureq::Error::ConnectionFailed | ureq::Error::Timeout(_))
}

/// `realm="https://auth",service="reg",scope="repository:a:pull,push"`:
/// commas inside quotes belong to the value.
fn challenge_params(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = text.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let key = key.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let (value, tail) = match after.strip_prefix('"') {
            Some(quoted) => quoted.split_once('"').unwrap_or((quoted, "")),
            None => after.split_once(',').unwrap_or((after, "")),
        };
        out.insert(key, value.to_string());
        rest = tail.trim_start_matches(',').trim();
    }
    out
}

/// base64 `user:password` for `host` from docker's `config.json`
/// (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`).
fn credentials(host: &str) -> Result<Option<String>, Diag> {
    let path = match std::env::var_os("DOCKER_CONFIG") {
        Some(dir) => PathBuf::from(dir).join("config.json"),
        None => match std::env::var_os("HOME") {
            Some(home) => PathBuf::from(home).join(".docker/config.json"),
            None => return Ok(None),
        },
    };
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let config: Value =
        serde_json::from_str(&text).map_err(|e| Diag::plain("E0705", format!("{} is not valid JSON: {e}", path.display())))?;
    // Docker Hub's credentials are filed under its old index URL.
    let aliases: &[&str] = if host == "docker.io" { &["docker.io", "index.docker.io", "registry-1.docker.io"] } else { &[host] };
    let entry = config["auths"].as_object().into_iter().flatten().find_map(|(key, entry)| {
        let key = key.trim_start_matches("https://").trim_start_matches("http://");
        let key = key.split('/').next().unwrap_or(key);
        aliases.contains(&key).then_some(entry)
    });
    let Some(entry) = entry else { return Ok(None) };
    if let Some(auth) = entry["auth"].as_str().filter(|a| !a.is_empty()) {
        let decoded = base64::engine::general_purpose::STANDARD.decode(auth).ok().filter(|d| d.contains(&b':'));
        if decoded.is_none() {
            return Err(Diag::plain("E0705", format!("the credentials for {host} in {} are not base64 of user:password", path.display())));
        }
        return Ok(Some(auth.to_string()));
    }
    Ok(match (entry["username"].as_str(), entry["password"].as_str()) {
        (Some(u), Some(p)) => Some(base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_arguments() {
        let r = Registry::parse("127.0.0.1:5000/team/x", true).unwrap();
        assert_eq!((r.host.as_str(), r.namespace.as_str()), ("127.0.0.1:5000", "team/x"));
        assert_eq!(Registry::parse("ghcr.io", false).unwrap().namespace, "");
        for bad in ["https://ghcr.io/x", "host:port/x", "/x", "ghcr.io/Upper"] {
            assert!(Registry::parse(bad, false).is_err(), "{bad}");
        }
    }

    #[test]
    fn bearer_challenges_keep_commas_inside_quotes() {
        let p = challenge_params(r#"realm="https://auth.example/token",service="reg",scope="repository:a/b:pull,push""#);
        assert_eq!(p["realm"], "https://auth.example/token");
        assert_eq!(p["service"], "reg");
        assert_eq!(p["scope"], "repository:a/b:pull,push");
    }

    #[test]
    fn names_and_tags() {
        assert!(valid_repository("ns/examples/images/lua") && valid_repository("a.b_c-d/e"));
        assert!(!valid_repository("ns//x") && !valid_repository("Ns/x") && !valid_repository("ns/-x"));
        assert!(valid_tag("lua-dev") && valid_tag("_x") && !valid_tag("-x") && !valid_tag(""));
    }
}
