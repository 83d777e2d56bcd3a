//! The distribution API's HTTP side: requests with retries (5xx and
//! connection errors, doubling delays), answers to 401 challenges (Basic,
//! or a Bearer token from the realm, scoped to the repository and to mount
//! sources) from docker's `config.json`, and blob and manifest transfers.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::Value;
use ureq::http::{Response, StatusCode};

use dhib_core::diag::Diag;
use dhib_store::Digest;

use super::*;

/// A request body: bytes, or a blob file opened afresh for each attempt.
pub(super) enum Payload<'a> {
    Bytes(&'a [u8]),
    File(&'a Path),
}

pub(super) struct Client {
    pub(super) agent: ureq::Agent,
    pub(super) base: String,
    pub(super) host: String,
    /// base64 `user:password` from docker's config.json.
    pub(super) credentials: Option<String>,
    /// The `Authorization` value per repository, once a challenge was met.
    pub(super) authorization: HashMap<String, String>,
    /// Where each blob is known to be, for cross-repository mounts.
    pub(super) located: HashMap<Digest, String>,
    pub(super) present: HashSet<(String, Digest)>,
    pub(super) pushed_repositories: BTreeSet<String>,
    /// The upload a declined mount started.
    pub(super) mount_started: Option<String>,
}

impl Client {
    pub(super) fn new(registry: &Registry) -> Result<Client, Diag> {
        let scheme = if registry.insecure { "http" } else { "https" };
        Ok(Client {
            agent: dhib_net::agent(),
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
    pub(super) fn get(&mut self, repo: &str, what: &str, digest: &Digest) -> Result<Vec<u8>, Diag> {
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
    pub(super) fn get_tagged(&mut self, repo: &str, tag: &str) -> Result<Option<(Digest, Vec<u8>)>, Diag> {
        let url = format!("{}/v2/{repo}/manifests/{tag}", self.base);
        Ok(self.get_optional(repo, &url, &manifest_types())?.map(|bytes| (Digest::of(&bytes), bytes)))
    }

    /// The body `url` answers, or None for a 404.
    pub(super) fn get_optional(&mut self, repo: &str, url: &str, accept: &str) -> Result<Option<Vec<u8>>, Diag> {
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
    pub(super) fn ping(&mut self) -> Result<(), Diag> {
        let url = format!("{}/v2/", self.base);
        let resp = self.send("", "GET", &url, &[], None)?;
        match resp.status() {
            s if s.is_success() => Ok(()),
            s => Err(self.refused("GET", &url, s, resp)),
        }
    }

    pub(super) fn push_blob(&mut self, repo: &str, layout: &Path, digest: &Digest, counts: &mut Counts) -> Result<(), Diag> {
        if self.present.contains(&(repo.to_string(), *digest)) {
            return Ok(());
        }
        let blob = format!("{}/v2/{repo}/blobs/sha256:{digest}", self.base);
        let resp = self.send(repo, "HEAD", &blob, &[], None)?;
        if resp.status().is_success() {
            counts.skipped += 1;
        } else if !self.mount(repo, digest, counts)? {
            let path = crate::layout_blob(layout, digest);
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
    pub(super) fn mount(&mut self, repo: &str, digest: &Digest, counts: &mut Counts) -> Result<bool, Diag> {
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
    pub(super) fn push_tree(
        &mut self,
        repo: &str,
        layout: &Path,
        digest: Digest,
        counts: &mut Counts,
    ) -> Result<(String, Option<String>), Diag> {
        let mut blobs = Vec::new();
        let mut manifests = Vec::new();
        crate::layout_closure(layout, digest, None, &mut blobs, &mut manifests)?;
        for blob in &blobs {
            self.push_blob(repo, layout, blob, counts)?;
        }
        let mut subject = None;
        for (d, media_type) in &manifests {
            subject = self.put_manifest(repo, &format!("sha256:{d}"), media_type, &crate::read_layout_blob(layout, d)?, d)?;
        }
        let (_, media_type) = manifests.pop().expect("the manifest itself is collected last");
        Ok((media_type, subject))
    }

    /// PUTs a manifest, checking the registry kept its bytes; returns the
    /// `OCI-Subject` header, which registries with the referrers API answer
    /// to a manifest with a `subject`.
    pub(super) fn put_manifest(
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
    pub(super) fn location(&self, resp: &Response<ureq::Body>) -> Result<String, Diag> {
        let loc =
            resp.headers().get("location").and_then(|v| v.to_str().ok()).ok_or_else(|| {
                Diag::plain("E0704", format!("{} started an upload without saying where (no Location header)", self.host))
            })?;
        Ok(if loc.starts_with("http://") || loc.starts_with("https://") { loc.to_string() } else { format!("{}{loc}", self.base) })
    }

    /// One request with the repository's credentials; a 401 is answered
    /// once by logging in as its challenge asks, then the request is repeated.
    pub(super) fn send(
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
    pub(super) fn login(&self, repo: &str, challenge: &str) -> Result<String, Diag> {
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

    pub(super) fn attempts(
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
    pub(super) fn retrying(
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
                    return Err(Diag::plain("E0704", format!("{method} {url}: {}", dhib_net::describe(&e)))
                        .with_help(format!("is {} a registry, reachable from here? (--insecure for one serving plain http)", self.host)));
                }
            }
            std::thread::sleep(delay);
            delay *= 2;
        }
        unreachable!("the last attempt returns")
    }

    pub(super) fn refused(&self, method: &str, url: &str, status: StatusCode, resp: Response<ureq::Body>) -> Diag {
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
pub(super) fn manifest_types() -> String {
    [crate::MANIFEST_TYPE, crate::INDEX_TYPE].join(", ")
}

/// A response's JSON body, or null when it has none (errors may come as HTML).
pub(super) fn json_body(resp: Response<ureq::Body>) -> Value {
    let bytes = resp.into_body().with_config().limit(1 << 20).read_to_vec().unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

pub(super) fn transient(e: &ureq::Error) -> bool {
    matches!(e, ureq::Error::Io(_) | ureq::Error::ConnectionFailed | ureq::Error::Timeout(_))
}

/// `realm="https://auth",service="reg",scope="repository:a:pull,push"`:
/// commas inside quotes belong to the value.
pub(super) fn challenge_params(text: &str) -> BTreeMap<String, String> {
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
pub(super) fn credentials(host: &str) -> Result<Option<String>, Diag> {
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
