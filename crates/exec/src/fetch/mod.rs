//! Fetching pinned inputs: a URL's bytes land in the store only if their
//! sha256 equals the pin. A pin names bytes, not a place: any origin that
//! has them will do, so content-addressed mirrors are asked first (an
//! offline site, a CI cache), then the places the URL stands for.

pub mod apt;

use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use dhib_net::{agent, describe};
use dhib_store::{Digest, Store, StoreError};

/// The prefix of a path in a Debian repository (`mirror://debian/pool/main/z/zlib/…`):
/// the same file on every Debian mirror, resolved against [`Origins::debian`].
pub const DEBIAN_MIRROR: &str = "mirror://debian/";

/// What to do when no origin has a pinned file.
const NOT_SERVED_HELP: &str = "if the file was withdrawn upstream, pin one that is still served \
(`dhib lock` re-pins debs; a source needs a new `version` and `sha256`), \
or list a mirror holding these bytes under `[fetch] mirrors` in dhi.toml";

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("`{0}` is not a supported URL (use file://, a workspace-relative path, http://, https:// or mirror://debian/)")]
    Scheme(String),
    #[error("fetching {url}: {why}")]
    Http { url: String, why: String },
    #[error("sha256 mismatch for {url}: the pin says {expected} but the content is {actual}")]
    Mismatch { url: String, expected: String, actual: String },
    #[error("no origin serves {file} (sha256 {pin}, from {url}); tried:{}\n{NOT_SERVED_HELP}", list(tried))]
    Unavailable { url: String, file: String, pin: String, tried: Vec<(String, String)> },
    #[error("{0}: no Debian repository is configured (set `[debian] repo` in dhi.toml or DHIB_DEBIAN_REPO to a Debian mirror's URL; without either, dhib uses the repositories in /etc/apt/sources.list*)")]
    NoDebianRepository(String),
    #[error("{url} is not read: {why} (a definition's file:// URL names a regular file inside the workspace; list other directories under `[fetch] mirrors`)")]
    Refused { url: String, why: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn list(tried: &[(String, String)]) -> String {
    tried.iter().map(|(place, why)| format!("\n  {place}: {why}")).collect()
}

/// Where pinned bytes may come from, besides the store.
#[derive(Debug, Clone, Default)]
pub struct Origins {
    /// Content-addressed mirrors, asked first and in order: URLs or
    /// directories, each for `sha256/<hex>` (a hashed mirror) and then for
    /// the file's name (a directory of downloads).
    pub mirrors: Vec<String>,
    /// What `mirror://debian/` stands for: Debian repositories, in order.
    pub debian: Vec<String>,
}

impl Origins {
    /// The workspace's origins: `DHIB_FETCH_MIRRORS` (comma-separated)
    /// before `[fetch] mirrors`; for Debian `DHIB_DEBIAN_REPO`
    /// (comma-separated), else `[debian] repo`, else this machine's apt
    /// repositories.
    pub fn new(mirrors: &[String], debian_repo: Option<&str>) -> Origins {
        let env_list = |name: &str| -> Vec<String> {
            std::env::var(name).unwrap_or_default().split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
        };
        let mut all = env_list("DHIB_FETCH_MIRRORS");
        all.extend(mirrors.iter().cloned());
        let mut debian = env_list("DHIB_DEBIAN_REPO");
        if debian.is_empty() {
            debian = match debian_repo {
                Some(repo) => vec![repo.to_string()],
                None => apt::repositories(Path::new("/etc/apt")),
            };
        }
        Origins { mirrors: all, debian }
    }

    /// The places to ask for `url`'s bytes, in order; the last is `url`
    /// itself unless it is a `mirror://debian/` path.
    fn candidates(&self, url: &str, pin: &Digest) -> Result<Vec<String>, FetchError> {
        let name = file_name(url);
        let mut out = Vec::new();
        for m in &self.mirrors {
            let base = m.trim_end_matches('/');
            out.push(format!("{base}/sha256/{}", pin.hex()));
            out.push(format!("{base}/{name}"));
        }
        match url.strip_prefix(DEBIAN_MIRROR) {
            Some(path) => {
                if self.debian.is_empty() {
                    return Err(FetchError::NoDebianRepository(url.to_string()));
                }
                out.extend(self.debian.iter().map(|repo| format!("{}/{path}", repo.trim_end_matches('/'))));
            }
            None => out.push(url.to_string()),
        }
        Ok(out)
    }
}

/// Where a deb's `filename` is: below its own `repo`, else in the Debian
/// repositories.
pub fn deb_url(repo: Option<&str>, filename: &str) -> String {
    match repo {
        Some(repo) => format!("{}/{filename}", repo.trim_end_matches('/')),
        None => format!("{DEBIAN_MIRROR}{filename}"),
    }
}

/// The last part of a URL's path: what a download is called.
pub fn file_name(url: &str) -> &str {
    url.trim_end_matches('/').rsplit('/').next().unwrap_or(url)
}

/// Where a URL points, resolved against the workspace root: `file://x` and
/// bare relative paths are workspace files.
pub fn local_path(url: &str, root: &Path) -> Option<PathBuf> {
    if let Some(rest) = url.strip_prefix("file://") {
        return Some(if rest.starts_with('/') { PathBuf::from(rest) } else { root.join(rest) });
    }
    (!url.contains("://")).then(|| root.join(url))
}

/// Fetches revision `rev` of the git repository at `url` (`git+file://...`,
/// `git+http://...`, or `git+` and a workspace path) as the tar that
/// `git archive` makes of it, into the store if that tar's sha256 is `pin`.
pub fn fetch_git(store: &Store, url: &str, rev: &str, pin: &str, root: &Path) -> Result<Digest, FetchError> {
    let expected = parse_pin(url, pin)?;
    if store.has(&expected) && store.verify(&expected).is_ok() {
        return Ok(expected);
    }
    let repo = url.strip_prefix("git+").ok_or_else(|| FetchError::Scheme(url.to_string()))?;
    let repo = match local_path(repo, root) {
        Some(p) => p.to_string_lossy().into_owned(),
        None => repo.to_string(),
    };
    let err = |why: String| FetchError::Http { url: url.to_string(), why };
    let scratch = tempfile::tempdir().map_err(|e| err(e.to_string()))?;
    // No host git configuration may change what is fetched.
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", scratch.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .output()
            .map_err(|e| err(format!("cannot run git: {e}")))
    };
    let clone = scratch.path().join("repo");
    let out = git(&["clone", "--quiet", "--bare", &repo, &clone.to_string_lossy()])?;
    if !out.status.success() {
        return Err(err(String::from_utf8_lossy(&out.stderr).trim().to_string()));
    }
    let out = git(&["--git-dir", &clone.to_string_lossy(), "archive", "--format=tar", &format!("{rev}^{{commit}}")])?;
    if !out.status.success() {
        return Err(err(format!("revision `{rev}`: {}", String::from_utf8_lossy(&out.stderr).trim())));
    }
    check_and_store(store, url, expected, &out.stdout)
}

fn parse_pin(url: &str, pin: &str) -> Result<Digest, FetchError> {
    Digest::parse(pin).ok_or_else(|| FetchError::Mismatch {
        url: url.to_string(),
        expected: pin.to_string(),
        actual: "(the pin is not a sha256)".into(),
    })
}

fn check_and_store(store: &Store, url: &str, expected: Digest, bytes: &[u8]) -> Result<Digest, FetchError> {
    let actual = Digest(Sha256::digest(bytes).into());
    if actual != expected {
        return Err(FetchError::Mismatch { url: url.to_string(), expected: expected.hex(), actual: actual.hex() });
    }
    Ok(store.put_bytes(bytes)?)
}

/// Fetches `url` into the store if its sha256 is `pin`, from the first
/// origin that has those bytes. Nothing enters the store on a mismatch: the
/// bytes are hashed before they are published. When no origin has them,
/// the error names every place asked and why each failed.
pub fn fetch(store: &Store, origins: &Origins, url: &str, pin: &str, root: &Path) -> Result<Digest, FetchError> {
    let expected = parse_pin(url, pin)?;
    if store.has(&expected) && store.verify(&expected).is_ok() {
        return Ok(expected);
    }
    let mut tried = Vec::new();
    for place in origins.candidates(url, &expected)? {
        // A local URL written in a .dhi file reads only inside the
        // workspace (mirrors and repositories are the machine's own choice).
        let got = match local_path(&place, root) {
            Some(_) if place == url => workspace_file(url, root),
            _ => fetch_bytes(&place, root),
        };
        match got {
            Ok(bytes) => match check_and_store(store, &place, expected, &bytes) {
                Ok(d) => return Ok(d),
                Err(FetchError::Mismatch { actual, .. }) => tried.push((place, format!("its sha256 is {actual}"))),
                Err(e) => return Err(e),
            },
            Err(FetchError::Read { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                tried.push((place, "not there".into()))
            }
            Err(FetchError::Read { source, .. }) => tried.push((place, source.to_string())),
            Err(FetchError::Http { why, .. }) => tried.push((place, why)),
            Err(e) => return Err(e),
        }
    }
    // One place that served other bytes: the plain mismatch says it all.
    if let [(place, why)] = &tried[..] {
        if let Some(actual) = why.strip_prefix("its sha256 is ") {
            return Err(FetchError::Mismatch { url: place.clone(), expected: expected.hex(), actual: actual.to_string() });
        }
    }
    Err(FetchError::Unavailable { url: url.to_string(), file: file_name(url).to_string(), pin: expected.hex(), tried })
}

/// The bytes at `url`, unchecked: for learning the pin of a new version,
/// never for building. `mirror://debian/` is asked of each Debian
/// repository in turn.
pub fn fetch_bytes_from(origins: &Origins, url: &str, root: &Path) -> Result<Vec<u8>, FetchError> {
    let Some(path) = url.strip_prefix(DEBIAN_MIRROR) else { return fetch_bytes(url, root) };
    let mut last = FetchError::NoDebianRepository(url.to_string());
    for repo in &origins.debian {
        match fetch_bytes(&format!("{}/{path}", repo.trim_end_matches('/')), root) {
            Ok(bytes) => return Ok(bytes),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// A `file://` or relative URL of a definition: a regular file inside the
/// workspace, so a pin cannot be used to learn the hash of a host file.
fn workspace_file(url: &str, root: &Path) -> Result<Vec<u8>, FetchError> {
    let path = local_path(url, root).expect("a local URL");
    dhib_analysis::read_workspace_file(root, &path.to_string_lossy()).map_err(|e| match e {
        dhib_analysis::WorkspaceFileError::Missing => FetchError::Read { path, source: std::io::Error::from(std::io::ErrorKind::NotFound) },
        other => FetchError::Refused { url: url.to_string(), why: other.to_string() },
    })
}

/// The bytes at one place, unchecked.
fn fetch_bytes(url: &str, root: &Path) -> Result<Vec<u8>, FetchError> {
    if let Some(path) = local_path(url, root) {
        std::fs::read(&path).map_err(|source| FetchError::Read { path, source })
    } else if url.starts_with("http://") || url.starts_with("https://") {
        http_get(url)
    } else {
        Err(FetchError::Scheme(url.to_string()))
    }
}

fn http_get(url: &str) -> Result<Vec<u8>, FetchError> {
    let err = |why: String| FetchError::Http { url: url.to_string(), why };
    let mut resp = agent().get(url).call().map_err(|e| err(describe(&e)))?;
    if resp.status() == 404 {
        return Err(err("not there (404)".into()));
    }
    if !resp.status().is_success() {
        return Err(err(format!("the server answered {}", resp.status())));
    }
    resp.body_mut().with_config().limit(u64::MAX).read_to_vec().map_err(|e| err(describe(&e)))
}
