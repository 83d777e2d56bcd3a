//! Publishing image layouts to a registry over the OCI distribution API:
//! blobs (skipped when present, mounted from a repository pushed earlier in
//! the same run, uploaded otherwise), then manifests by digest with their
//! exact bytes, then tags; then what the layout holds next to the image
//! (signatures, attestations: see `referrers`). Credentials come from
//! docker's `config.json`, answered to Basic and Bearer challenges. And the
//! reverse: an image pulled into a layout (alone, or with its signatures and
//! referrers), every blob checked.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use dhib_core::diag::Diag;
use dhib_store::Digest;

mod client;
mod pull;
mod referrers;

use client::*;
pub use pull::pull_layout;
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
pub fn valid_repository(name: &str) -> bool {
    name.len() <= 255
        && name.split('/').all(|c| {
            let b = c.as_bytes();
            !b.is_empty()
                && b.first().is_some_and(u8::is_ascii_alphanumeric)
                && b.last().is_some_and(u8::is_ascii_alphanumeric)
                && b.iter().all(|&x| x.is_ascii_lowercase() || x.is_ascii_digit() || matches!(x, b'.' | b'_' | b'-'))
        })
}

pub fn valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    (1..=128).contains(&b.len())
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter().all(|&x| x.is_ascii_alphanumeric() || matches!(x, b'.' | b'_' | b'-'))
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
