//! `dhi.toml`: the workspace's one configuration file, read once per
//! command into [`Config`]; every section is a typed struct here.

use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;

use dhib_core::diag::{Diag, Span};

/// The file that marks the workspace root.
pub const ROOT_MARKER: &str = "dhi.toml";

/// `dhi.toml` as read, with its text (for diagnostics that point into it).
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub config: Config,
    pub text: Arc<str>,
}

impl Config {
    /// Reads and checks `dhi.toml` of the workspace at `root`.
    pub fn load(root: &Path) -> Result<LoadedConfig, Vec<Diag>> {
        let text = std::fs::read_to_string(root.join(ROOT_MARKER))
            .map_err(|e| vec![Diag::plain("E0005", format!("cannot read {ROOT_MARKER}: {e}"))])?;
        let config: Config = toml::from_str(&text).map_err(|e| {
            let span = e.span().map_or(Span::default(), |r| Span::new(r.start, r.end));
            vec![Diag::error(ROOT_MARKER, span, "E0006", format!("invalid {ROOT_MARKER}: {}", e.message())).with_label("here")]
        })?;
        Ok(LoadedConfig { config, text: Arc::from(text) })
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub workspace: WorkspaceConfig,
    #[serde(default)]
    pub build: BuildConfig,
    #[serde(default)]
    pub debian: DebianConfig,
    #[serde(default)]
    pub sign: SignConfig,
    #[serde(default)]
    pub upstream: UpstreamConfig,
    #[serde(default)]
    pub fetch: FetchConfig,
}

/// `[fetch]` of dhi.toml: where pinned files may be downloaded from besides
/// the places their definitions name.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FetchConfig {
    /// Content-addressed mirrors (URLs, or directories relative to the
    /// workspace root), asked first, in order.
    #[serde(default)]
    pub mirrors: Vec<String>,
}

/// `[upstream]` of dhi.toml: where upstream monitors ask.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// URL prefix → replacement: monitors ask a mirror (or a local
    /// upstream) instead of the URL the `.dhi` file names. The longest
    /// matching prefix wins.
    #[serde(default)]
    pub mirrors: std::collections::BTreeMap<String, String>,
}

impl UpstreamConfig {
    /// `url` with its longest mirrored prefix replaced.
    pub fn mirror(&self, url: &str) -> String {
        self.mirrors
            .iter()
            .filter(|(from, _)| url.starts_with(from.as_str()))
            .max_by_key(|(from, _)| from.len())
            .map_or_else(|| url.to_string(), |(from, to)| format!("{to}{}", &url[from.len()..]))
    }
}

/// `[sign]` of dhi.toml: how `dhib build` signs what it writes out.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SignConfig {
    /// The private key (cosign's format), relative to the workspace root.
    pub key: Option<String>,
}

/// `[build]` of dhi.toml: settings of execution, not of analysis.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct BuildConfig {
    /// The time every build step and output claims (SOURCE_DATE_EPOCH).
    #[serde(default)]
    pub source_date_epoch: u64,
}

/// `[debian]` of dhi.toml: where `deb` files come from, and what `dhib lock` pins.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct DebianConfig {
    /// Base URL of the repository `deb` filenames (and `mirror://debian/`
    /// URLs) are relative to; by default this machine's apt repositories.
    #[serde(default)]
    pub repo: Option<String>,
    /// Packages `dhib lock` resolves, with their dependencies.
    #[serde(default)]
    pub packages: Vec<String>,
    /// The architectures to lock for: `"amd64"`, or a list whose first
    /// names the debs and whose others become their `for_arch` builds.
    #[serde(default = "default_arch", deserialize_with = "one_or_many")]
    pub arch: Vec<String>,
    /// Workspace-relative path of the file `dhib lock` writes (with its
    /// span in dhi.toml, for diagnostics).
    #[serde(default)]
    pub lock: Option<toml::Spanned<String>>,
    /// The suite whose `Sources` index `dhib lock` reads for `sources`.
    #[serde(default)]
    pub suite: Option<String>,
    /// The build profiles source packages are built with: their
    /// Build-Depends are resolved for them, and `dpkg-buildpackage` gets them.
    #[serde(default)]
    pub build_profiles: Vec<String>,
    /// Source packages built from source, each with the label of the
    /// `debian_build` that builds it: `dhib lock` pins the source and its
    /// build environment, and images install its binaries instead of Debian's.
    #[serde(default)]
    pub sources: std::collections::BTreeMap<String, String>,
}

fn default_arch() -> Vec<String> {
    vec!["amd64".to_string()]
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    match OneOrMany::deserialize(d)? {
        OneOrMany::One(a) => Ok(vec![a]),
        OneOrMany::Many(v) if !v.is_empty() => Ok(v),
        OneOrMany::Many(_) => Err(serde::de::Error::custom("`arch` names no architecture")),
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceConfig {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default = "default_platform")]
    pub platform: String,
    /// Workspace-relative directories whose `.dhi` files are not part of the graph.
    #[serde(default)]
    pub exclude: Vec<String>,
}

impl Default for WorkspaceConfig {
    fn default() -> Self {
        WorkspaceConfig { name: None, platform: default_platform(), exclude: Vec::new() }
    }
}

fn default_platform() -> String {
    "linux/amd64".to_string()
}
