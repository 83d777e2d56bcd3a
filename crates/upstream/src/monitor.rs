//! Upstream monitors: asking where a source's or deb's new releases appear
//! (`git_tags`, `github_releases`, `debian_index`) for the newest version.
//!
//! Versions found in tags are ordered by [`compare`]: numeric runs as
//! numbers, so `1.10.0` > `1.9.0` and calendar versions (`2024.03`) order as
//! dates; a pre-release (`-rc1`, `alpha`, `beta`, `pre`, `dev`, `~`) sorts
//! before its release and is ignored unless the monitor says
//! `prereleases = true`. Debian indexes are ordered by Debian's rules.

use std::cmp::Ordering;
use std::path::Path;
use std::process::Command;

use rayon::prelude::*;
use serde::Serialize;

use dhib_analysis::config::UpstreamConfig;
use dhib_analysis::{Analysis, Analyzed};
use dhib_core::diag::{Diag, SourceLookup as _};
use dhib_exec::deb;
use dhib_exec::fetch;
use dhib_graph::query::Targets as _;
use dhib_graph::NodeKind;
use dhib_lang::schema::Kind;
use dhib_lang::value::{BuiltinCall, Value};
use dhib_net::{agent, describe};

/// A newer version than the one pinned, and where it was seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Update {
    /// The source or deb.
    pub label: String,
    pub current: String,
    pub latest: String,
    pub kind: ChangeKind,
    /// Where the version was seen, e.g. "git tags of URL".
    pub signal: String,
    /// The tag the version was read from (git and GitHub).
    pub tag: Option<String>,
    /// The new download URL, when the source's url interpolates `{version}`.
    pub url: Option<String>,
}

/// Which numeric component of the version changed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Major,
    Minor,
    Patch,
    Other,
}

impl std::fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ChangeKind::Major => "major",
            ChangeKind::Minor => "minor",
            ChangeKind::Patch => "patch",
            ChangeKind::Other => "other",
        })
    }
}

/// A monitor call, its arguments checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Monitor {
    GitTags { url: String, pattern: String, prereleases: bool },
    GithubReleases { repo: String, pattern: String, api: String, prereleases: bool, tags: bool },
    DebianIndex { repo: String, package: Option<String>, suite: String },
}

/// The GitHub API of github.com; GitHub Enterprise is another `api`.
pub const GITHUB_API: &str = "https://api.github.com";

/// The suite `debian_index` reads when none is named.
const DEFAULT_SUITE: &str = "stable";

impl Monitor {
    pub fn from_call(call: &BuiltinCall) -> Result<Monitor, String> {
        let text = |name: &str| -> Result<Option<String>, String> {
            match call.args.get(name) {
                None => Ok(None),
                Some(Value::Str(s)) => Ok(Some(s.clone())),
                Some(v) => Err(format!("`{name}` of {}(...) is {}, not a string", call.function, v.type_name())),
            }
        };
        let flag = |name: &str| -> Result<bool, String> {
            match call.args.get(name) {
                None => Ok(false),
                Some(Value::Bool(b)) => Ok(*b),
                Some(v) => Err(format!("`{name}` of {}(...) is {}, not a bool", call.function, v.type_name())),
            }
        };
        let required = |name: &str| text(name)?.ok_or_else(|| format!("{}(...) needs `{name}`", call.function));
        let pattern = text("pattern")?.unwrap_or_else(|| "{version}".to_string());
        match call.function.as_str() {
            "git_tags" => Ok(Monitor::GitTags { url: required("url")?, pattern, prereleases: flag("prereleases")? }),
            "github_releases" => Ok(Monitor::GithubReleases {
                repo: required("repo")?,
                pattern,
                api: text("api")?.unwrap_or_else(|| GITHUB_API.to_string()).trim_end_matches('/').to_string(),
                prereleases: flag("prereleases")?,
                tags: flag("tags")?,
            }),
            "debian_index" => Ok(Monitor::DebianIndex {
                repo: required("repo")?.trim_end_matches('/').to_string(),
                package: text("package")?,
                suite: text("suite")?.unwrap_or_else(|| DEFAULT_SUITE.to_string()),
            }),
            other => Err(format!("`{other}` is not an upstream monitor")),
        }
    }

    /// The git repository the versions are tags of, with the tag pattern:
    /// a GitHub repository is cloned from the host its API belongs to.
    fn repository(&self) -> Option<(String, String)> {
        match self {
            Monitor::GitTags { url, pattern, .. } => Some((url.clone(), pattern.clone())),
            Monitor::GithubReleases { repo, pattern, api, .. } => {
                let host = if api == GITHUB_API { "https://github.com" } else { api.strip_suffix("/api/v3")? };
                Some((format!("{host}/{repo}.git"), pattern.clone()))
            }
            Monitor::DebianIndex { .. } => None,
        }
    }

    /// The monitor asking `[upstream] mirrors` in place of the URLs named.
    fn mirrored(self, cfg: &UpstreamConfig) -> Monitor {
        match self {
            Monitor::GitTags { url, pattern, prereleases } => Monitor::GitTags { url: cfg.mirror(&url), pattern, prereleases },
            Monitor::GithubReleases { repo, pattern, api, prereleases, tags } => {
                Monitor::GithubReleases { repo, pattern, api: cfg.mirror(&api), prereleases, tags }
            }
            Monitor::DebianIndex { repo, package, suite } => Monitor::DebianIndex { repo: cfg.mirror(&repo), package, suite },
        }
    }
}

/// A source or deb whose `upstream` names a monitor.
#[derive(Debug, Clone)]
pub struct Watched {
    pub label: String,
    pub kind: Kind,
    /// The pinned `version`, if any.
    pub current: Option<String>,
    pub monitor: Result<Monitor, String>,
    /// The deb's architecture (Debian indexes are per architecture).
    pub arch: String,
    /// The deb's package name, the default `package` of `debian_index`.
    pub name: String,
    /// The source's `url` as written, `{version}` uninterpolated.
    pub url_template: Option<String>,
    /// The git repository whose tags the monitor's versions come from, and
    /// the tag pattern: the guardrail compares a release with its tag's tree.
    pub vcs: Option<(String, String)>,
    /// `[upstream.mirrors]`: where a new release's archive is asked for.
    pub mirrors: UpstreamConfig,
}

/// The sources and debs in `pattern` with an `upstream` monitor, by label.
pub fn watched(analysis: &Analysis, analyzed: &Analyzed, pattern: &str) -> Result<Vec<Watched>, Diag> {
    let set = dhib_exec::resolve(analysis, analyzed, pattern)?;
    let mirrors = analysis.config.upstream.clone();
    let g = &analyzed.graph;
    let mut out: Vec<Watched> = Vec::new();
    for i in set {
        let id = g.node(i);
        let kind = match g.kind(i) {
            Some(NodeKind::Target(k @ (Kind::Source | Kind::Deb))) if id.facet.is_none() => k,
            _ => continue,
        };
        let Some(def) = analysis.target(&id.label) else { continue };
        let Some(Value::Call(call)) = def.attr("upstream") else { continue };
        if out.iter().any(|w| w.label == id.label.to_string()) {
            continue;
        }
        let url_template = analysis
            .source_text(&def.file)
            .and_then(|text| dhib_lang::edit::source_block(&def.file, &text, &id.label.name).ok())
            .and_then(|b| b.url);
        let monitor = Monitor::from_call(call);
        out.push(Watched {
            label: id.label.to_string(),
            kind,
            current: def.attr("version").and_then(Value::as_str).map(str::to_string),
            vcs: monitor.as_ref().ok().and_then(|m| m.repository()).map(|(url, pattern)| (mirrors.mirror(&url), pattern)),
            monitor: monitor.map(|m| m.mirrored(&mirrors)),
            arch: def.attr("arch").and_then(Value::as_str).unwrap_or("amd64").to_string(),
            name: id.label.name.clone(),
            url_template,
            mirrors: mirrors.clone(),
        });
    }
    out.sort_by(|a, b| a.label.cmp(&b.label));
    Ok(out)
}

/// Asks every monitor, in parallel: a newer version, none, or why not.
pub fn check_all(watched: &[Watched], root: &Path) -> Vec<(String, Result<Option<Update>, String>)> {
    watched.par_iter().map(|w| (w.label.clone(), check(w, root))).collect()
}

/// Asks `w`'s monitor for the newest version: `None` when the pinned one is it.
pub fn check(w: &Watched, root: &Path) -> Result<Option<Update>, String> {
    let monitor = w.monitor.as_ref().map_err(Clone::clone)?;
    let current = w.current.as_deref().ok_or("it has no `version` to compare with")?;
    let found = latest(monitor, w, root)?.ok_or_else(|| format!("{} shows no version", signal(monitor, w)))?;
    let newer = match monitor {
        Monitor::DebianIndex { .. } => deb::compare_versions(&found.version, current) == Ordering::Greater,
        _ => compare(&found.version, current) == Ordering::Greater,
    };
    if !newer {
        return Ok(None);
    }
    Ok(Some(Update {
        label: w.label.clone(),
        current: current.to_string(),
        kind: change_kind(current, &found.version),
        signal: signal(monitor, w),
        tag: found.tag,
        url: w.url_template.as_deref().and_then(|t| new_url(t, &found.version)),
        latest: found.version,
    }))
}

/// The url for `version`: `{version}` replaced; `None` when the url does not
/// use it, or interpolates something else too.
pub fn new_url(template: &str, version: &str) -> Option<String> {
    if !template.contains("{version}") {
        return None;
    }
    let url = template.replace("{version}", version);
    (!url.contains('{')).then_some(url)
}

fn signal(monitor: &Monitor, w: &Watched) -> String {
    match monitor {
        Monitor::GitTags { url, .. } => format!("git tags of {url}"),
        Monitor::GithubReleases { repo, tags: false, .. } => format!("GitHub releases of {repo}"),
        Monitor::GithubReleases { repo, tags: true, .. } => format!("GitHub releases and tags of {repo}"),
        Monitor::DebianIndex { repo, suite, .. } => format!("Debian index {repo} {suite}/main/binary-{}", index_arch(&w.arch)),
    }
}

struct Found {
    version: String,
    tag: Option<String>,
}

fn latest(monitor: &Monitor, w: &Watched, root: &Path) -> Result<Option<Found>, String> {
    match monitor {
        Monitor::GitTags { url, pattern, prereleases } => {
            let tags = git_tags(url, root)?;
            newest_tag(tags.iter().map(String::as_str), pattern, *prereleases)
        }
        Monitor::GithubReleases { repo, pattern, api, prereleases, tags } => {
            let mut names = github_releases(api, repo, *prereleases)?;
            if *tags {
                names.extend(github_list(api, repo, "tags")?.iter().filter_map(|t| t["name"].as_str().map(str::to_string)));
            }
            newest_tag(names.iter().map(String::as_str), pattern, *prereleases)
        }
        Monitor::DebianIndex { repo, package, suite } => {
            let package = package.as_deref().unwrap_or(&w.name);
            let entries = debian_index(repo, suite, index_arch(&w.arch), root)?;
            let newest = entries.into_iter().filter(|e| e.package == package).map(|e| e.version).max_by(|a, b| deb::compare_versions(a, b));
            // A source's version is upstream's, without Debian's epoch and revision.
            Ok(newest.map(|v| Found { version: if w.kind == Kind::Deb { v } else { upstream_part(&v).to_string() }, tag: None }))
        }
    }
}

/// `1:2.3-4` → `2.3`.
fn upstream_part(version: &str) -> &str {
    let v = version.split_once(':').map_or(version, |(_, rest)| rest);
    v.rsplit_once('-').map_or(v, |(upstream, _)| upstream)
}

/// Packages of architecture `all` are listed in every architecture's index.
fn index_arch(arch: &str) -> &str {
    if arch == "all" {
        "amd64"
    } else {
        arch
    }
}

/// The version in `tag` by `pattern` (`{version}` marks it): it starts with
/// a digit and holds only characters a version and a URL can carry.
pub fn version_in_tag(tag: &str, pattern: &str) -> Option<String> {
    let (before, after) = pattern.split_once("{version}")?;
    let re = regex::Regex::new(&format!("^{}([0-9][0-9A-Za-z.+~_-]*){}$", regex::escape(before), regex::escape(after))).ok()?;
    re.captures(tag).map(|c| c[1].to_string())
}

fn newest_tag<'a>(tags: impl Iterator<Item = &'a str>, pattern: &str, prereleases: bool) -> Result<Option<Found>, String> {
    if !pattern.contains("{version}") {
        return Err(format!("the pattern \"{pattern}\" has no `{{version}}`"));
    }
    Ok(tags
        .filter_map(|t| version_in_tag(t, pattern).map(|v| (v, t)))
        .filter(|(v, _)| prereleases || !is_prerelease(v))
        .max_by(|(a, ta), (b, tb)| compare(a, b).then_with(|| ta.cmp(tb)))
        .map(|(version, tag)| Found { version, tag: Some(tag.to_string()) }))
}

#[derive(Debug, PartialEq, Eq)]
enum Token<'a> {
    Num(&'a str),
    Text(&'a str),
}

/// Runs of digits and of letters; everything else separates.
fn tokens(v: &str) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    let bytes = v.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        if bytes[i].is_ascii_digit() {
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            out.push(Token::Num(v[start..i].trim_start_matches('0')));
        } else if bytes[i].is_ascii_alphabetic() {
            while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
                i += 1;
            }
            out.push(Token::Text(&v[start..i]));
        } else {
            i += 1;
        }
    }
    out
}

const PRERELEASE_WORDS: &[&str] = &["alpha", "beta", "pre", "preview", "rc", "dev", "snapshot"];

fn is_prerelease_word(t: &Token<'_>) -> bool {
    matches!(t, Token::Text(w) if PRERELEASE_WORDS.contains(&w.to_ascii_lowercase().as_str()))
}

/// `1.2.0-rc1`, `2.0~beta`, `3.0.0alpha2`.
pub fn is_prerelease(version: &str) -> bool {
    version.contains('~') || tokens(version).iter().any(is_prerelease_word)
}

/// Version order: numeric runs compare as numbers (leading zeros ignored),
/// letter runs as text, a number after a letter run; when one version
/// continues where the other ends, it is newer unless it continues with a
/// pre-release word (`1.2.0-rc1` < `1.2.0` < `1.2.0.1`).
pub fn compare(a: &str, b: &str) -> Ordering {
    let (ta, tb) = (tokens(a), tokens(b));
    for (x, y) in ta.iter().zip(&tb) {
        let o = match (x, y) {
            (Token::Num(x), Token::Num(y)) => x.len().cmp(&y.len()).then_with(|| x.cmp(y)),
            (Token::Text(x), Token::Text(y)) => x.cmp(y),
            (Token::Num(_), Token::Text(_)) => Ordering::Greater,
            (Token::Text(_), Token::Num(_)) => Ordering::Less,
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    let longer_newer = |rest: &[Token<'_>]| if rest.first().is_some_and(is_prerelease_word) { Ordering::Less } else { Ordering::Greater };
    match ta.len().cmp(&tb.len()) {
        Ordering::Equal => Ordering::Equal,
        Ordering::Greater => longer_newer(&ta[tb.len()..]),
        Ordering::Less => longer_newer(&tb[ta.len()..]).reverse(),
    }
}

/// Major, minor or patch: the first numeric component that differs.
pub fn change_kind(from: &str, to: &str) -> ChangeKind {
    let nums = |v: &str| -> Vec<String> {
        tokens(upstream_part(v)).into_iter().filter_map(|t| if let Token::Num(n) = t { Some(n.to_string()) } else { None }).collect()
    };
    let (a, b) = (nums(from), nums(to));
    let first = (0..a.len().max(b.len())).find(|i| a.get(*i) != b.get(*i));
    match first {
        Some(0) => ChangeKind::Major,
        Some(1) => ChangeKind::Minor,
        Some(2) => ChangeKind::Patch,
        _ => ChangeKind::Other,
    }
}

/// The tag names of the git repository at `url` (a workspace path,
/// `file://`, or any URL git speaks).
fn git_tags(url: &str, root: &Path) -> Result<Vec<String>, String> {
    let out = git(&["ls-remote", "--tags", "--refs", &git_target(url, root)])?;
    Ok(out.lines().filter_map(|l| l.split_once('\t')?.1.strip_prefix("refs/tags/").map(str::to_string)).collect())
}

/// Clones the git repository at `url` into `dest` with its history,
/// checked out at `tag` (for the guardrail, which compares a release
/// archive with the tree of its tag). File contents of other commits are
/// not fetched from servers that can leave them out.
pub fn checkout_tag(url: &str, tag: &str, root: &Path, dest: &Path) -> Result<(), String> {
    let dest = dest.to_str().ok_or("the checkout directory is not UTF-8")?;
    git(&["clone", "--quiet", "--filter=blob:none", "--branch", tag, &git_target(url, root), dest]).map(drop)
}

/// A workspace path or `file://` URL as a path, anything else as given.
fn git_target(url: &str, root: &Path) -> String {
    match fetch::local_path(url, root) {
        Some(p) => p.to_string_lossy().into_owned(),
        None => url.to_string(),
    }
}

/// Runs git and returns its output; no host git configuration may change
/// what it lists or fetches.
fn git(args: &[&str]) -> Result<String, String> {
    let home = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut cmd = Command::new("git");
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0");
    for proxy in ["https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "no_proxy", "NO_PROXY"] {
        if let Some(v) = std::env::var_os(proxy) {
            cmd.env(proxy, v);
        }
    }
    let out = cmd.output().map_err(|e| format!("cannot run git: {e}"))?;
    if !out.status.success() {
        return Err(format!("git {}: {}", args[0], String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The tags of the releases of `repo` that count: no drafts, and no
/// pre-releases unless asked for.
fn github_releases(api: &str, repo: &str, prereleases: bool) -> Result<Vec<String>, String> {
    Ok(github_list(api, repo, "releases")?
        .iter()
        .filter(|r| r["draft"].as_bool() != Some(true))
        .filter(|r| prereleases || r["prerelease"].as_bool() != Some(true))
        .filter_map(|r| r["tag_name"].as_str().map(str::to_string))
        .collect())
}

/// Pages are followed by the `Link` header, up to this many.
const MAX_PAGES: usize = 100;

/// Every item of `GET {api}/repos/{repo}/{what}`, page after page.
fn github_list(api: &str, repo: &str, what: &str) -> Result<Vec<serde_json::Value>, String> {
    if repo.split('/').count() != 2 || repo.split('/').any(str::is_empty) {
        return Err(format!("\"{repo}\" is not a GitHub repository (write \"owner/name\")"));
    }
    let token = std::env::var("GITHUB_TOKEN").ok().filter(|t| !t.is_empty());
    let mut next = Some(format!("{api}/repos/{repo}/{what}?per_page=100"));
    let mut items = Vec::new();
    for _ in 0..MAX_PAGES {
        let Some(url) = next.take() else { break };
        let mut req = agent()
            .get(&url)
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .header("User-Agent", concat!("dhib/", env!("CARGO_PKG_VERSION")));
        if let Some(t) = &token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        let mut resp = req.call().map_err(|e| format!("{url}: {}", describe(&e)))?;
        let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let status = resp.status().as_u16();
        let (remaining, reset, retry_after, link) =
            (header("x-ratelimit-remaining"), header("x-ratelimit-reset"), header("retry-after"), header("link"));
        let body = resp.body_mut().read_to_string().map_err(|e| format!("{url}: {}", describe(&e)))?;
        if status == 403 || status == 429 {
            let hint = if token.is_none() { " (set GITHUB_TOKEN for a higher limit)" } else { "" };
            if let Some(secs) = retry_after.and_then(|s| s.trim().parse::<u64>().ok()) {
                return Err(format!("GitHub's API asks to slow down: retry in {secs} seconds{hint}"));
            }
            if remaining.as_deref() == Some("0") {
                let when = reset.and_then(|r| r.trim().parse::<u64>().ok()).map_or("later".to_string(), |t| format!("after {}", utc(t)));
                return Err(format!("GitHub's API rate limit is exhausted: retry {when}{hint}"));
            }
        }
        if !(200..300).contains(&status) {
            let message = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["message"].as_str().map(|m| format!(": {m}")))
                .unwrap_or_default();
            return Err(format!("GitHub's API answered {status} for {url}{message}"));
        }
        match serde_json::from_str::<serde_json::Value>(&body) {
            Ok(serde_json::Value::Array(page)) => items.extend(page),
            _ => return Err(format!("{url}: the answer is not a JSON array")),
        }
        next = link.as_deref().and_then(next_link);
    }
    Ok(items)
}

/// The `rel="next"` target of a `Link` header.
fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| matches!(p.trim(), "rel=\"next\"" | "rel=next"))
            .then(|| target.trim().trim_start_matches('<').trim_end_matches('>').to_string())
    })
}

/// Seconds since the epoch as `YYYY-MM-DD HH:MM:SS UTC`.
fn utc(secs: u64) -> String {
    dhib_core::rfc3339(secs).replacen('T', " ", 1).replace('Z', " UTC")
}

/// The packages of `dists/{suite}/main/binary-{arch}/Packages` (`.xz`,
/// `.gz` or plain, the first there) of the repository at `repo`.
fn debian_index(repo: &str, suite: &str, arch: &str, root: &Path) -> Result<Vec<deb::IndexEntry>, String> {
    let base = format!("{repo}/dists/{suite}/main/binary-{arch}/Packages");
    let names = [format!("{base}.xz"), format!("{base}.gz"), base.clone()];
    if let Some(dir) = fetch::local_path(repo, root) {
        let rel = format!("dists/{suite}/main/binary-{arch}/Packages");
        for name in [format!("{rel}.xz"), format!("{rel}.gz"), rel.clone()] {
            let path = dir.join(&name);
            if path.is_file() {
                return deb::read_packages(&path).map_err(|e| e.to_string());
            }
        }
        return Err(format!("no index at {base}(.xz|.gz)"));
    }
    for url in &names {
        let mut resp = agent().get(url).call().map_err(|e| format!("{url}: {}", describe(&e)))?;
        if resp.status().as_u16() == 404 {
            continue;
        }
        if !resp.status().is_success() {
            return Err(format!("{url}: the server answered {}", resp.status()));
        }
        let bytes = resp.body_mut().with_config().limit(1 << 30).read_to_vec().map_err(|e| format!("{url}: {}", describe(&e)))?;
        let file = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
        std::fs::write(file.path(), &bytes).map_err(|e| e.to_string())?;
        return deb::read_packages(file.path()).map_err(|e| format!("{url}: {e}"));
    }
    Err(format!("no index at {base}(.xz|.gz)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_order_numerically_with_prereleases_first() {
        assert_eq!(compare("1.10.0", "1.9.0"), Ordering::Greater);
        assert_eq!(compare("1.2.0-rc1", "1.2.0"), Ordering::Less);
        assert_eq!(compare("1.2.0", "1.2.0.1"), Ordering::Less);
        assert_eq!(compare("2024.03", "2023.12"), Ordering::Greater);
        assert_eq!(compare("01.2", "1.2"), Ordering::Equal);
        assert!(is_prerelease("1.2.0-rc1") && is_prerelease("2.0~1") && is_prerelease("3.0beta"));
        assert!(!is_prerelease("2024a") && !is_prerelease("10.42"));
    }

    #[test]
    fn tags_match_the_pattern_and_changes_are_classified() {
        assert_eq!(version_in_tag("v1.2.3", "v{version}").as_deref(), Some("1.2.3"));
        assert_eq!(version_in_tag("pcre2-10.42", "pcre2-{version}").as_deref(), Some("10.42"));
        assert_eq!(version_in_tag("v1.2.3", "{version}"), None);
        assert_eq!(version_in_tag("vnext", "v{version}"), None);
        assert_eq!(change_kind("1.2.3", "2.0.0"), ChangeKind::Major);
        assert_eq!(change_kind("1.2.3", "1.3.0"), ChangeKind::Minor);
        assert_eq!(change_kind("1.2.3", "1.2.4"), ChangeKind::Patch);
        assert_eq!(change_kind("2024a", "2024b"), ChangeKind::Other);
        assert_eq!(upstream_part("1:2.3-4"), "2.3");
    }

    #[test]
    fn link_headers_and_reset_times_read_right() {
        let h = "<https://api/x?page=2>; rel=\"next\", <https://api/x?page=5>; rel=\"last\"";
        assert_eq!(next_link(h).as_deref(), Some("https://api/x?page=2"));
        assert_eq!(next_link("<https://api/x?page=1>; rel=\"prev\""), None);
        assert_eq!(utc(1_700_000_000), "2023-11-14 22:13:20 UTC");
    }
}
