//! `dhib upstream update`: moving a source to a newer version by rewriting
//! its `version` and `sha256` in place, and saying what that rebuilds.
//!
//! The steps are: find the new version (a monitor, or `--to`), fetch the
//! new URL and hash it ([`Fetched`]), rewrite the block's two values in the
//! `.dhi` text (nothing else of the file changes), re-analyse and compare
//! keys. Between fetching and rewriting, the upstream-diff guardrail vets
//! the change ([`vet`]); its report is kept in the store, where the
//! provenance of whatever is built from the new archive finds it.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use sha2::{Digest as _, Sha256};

use super::guard;
use super::monitor::{self, Update, Watched};
use dhib_analysis::{Analysis, Analyzed};
use dhib_core::diag::{Diag, SourceLookup as _};
use dhib_core::hex;
use dhib_exec::fetch;
use dhib_graph::NodeKind;
use dhib_lang::edit::{literal_values, source_block};
use dhib_lang::schema::Kind;
use dhib_store::{Digest, Store};

/// A new version's archive, fetched and hashed, not yet written anywhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fetched {
    pub label: String,
    /// The workspace-relative `.dhi` file the source is defined in.
    pub file: String,
    pub from: String,
    pub to: String,
    pub url: String,
    pub sha256: String,
}

/// What `update` did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Outcome {
    /// Sources rewritten to a new version.
    pub updated: Vec<Fetched>,
    /// Newer debs, which `dhib lock` re-pins.
    pub debs: Vec<Update>,
    /// Targets whose `version` follows a moved source (see [`followers`]).
    pub followed: Vec<String>,
    /// Sources with a newer version that could not be updated, and why.
    pub not_updated: Vec<NotUpdated>,
    /// Nodes whose keys change, by kind ("packages", "images", ...).
    pub cascade: BTreeMap<String, Vec<String>>,
    /// Whether the files were written (false with `dry_run`).
    pub written: bool,
    /// The guardrail's report on each fetched version, by source.
    pub guard: BTreeMap<String, guard::Report>,
    /// Where the store keeps each report ([`GuardRecord`]): its sha256.
    pub guard_records: BTreeMap<String, String>,
    /// What went less well than it should have without stopping the update.
    pub warnings: Vec<String>,
}

/// What the store keeps of a vetted upstream change, under the new
/// archive's sha256: the guardrail's report and the decision on it. The
/// provenance of every image built from the archive carries it.
#[derive(Debug, Serialize)]
pub struct GuardRecord<'a> {
    pub source: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    pub url: &'a str,
    /// Of the new archive, and of the pinned one it was compared with.
    pub sha256: &'a str,
    pub previous_sha256: &'a str,
    /// The tag whose tree the archive was compared with, if any.
    pub vcs: Option<&'a str>,
    /// Blocking findings accepted with `--approve`, and those still blocking.
    pub approved: Vec<String>,
    pub blocking: Vec<String>,
    pub report: &'a guard::Report,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotUpdated {
    pub label: String,
    pub reason: String,
}

pub struct Options<'a> {
    pub pattern: &'a str,
    /// Move to this version instead of the monitor's newest.
    pub to: Option<&'a str>,
    pub dry_run: bool,
    /// Guardrail findings accepted as `RULE_ID@FILE`.
    pub approve: &'a [String],
    /// Where the reports and the accepted archives are kept.
    pub store: &'a Store,
}

/// Updates the sources in `opts.pattern` to their newest (or the given)
/// version. `analysis` ends up holding the rewritten files.
pub fn update(analysis: &mut Analysis, before: &Analyzed, opts: &Options<'_>) -> Result<Outcome, Diag> {
    let root = analysis.root().map(Path::to_path_buf).unwrap_or_default();
    let watched = monitor::watched(analysis, before, opts.pattern)?;
    let mut out = Outcome::default();
    let mut wanted: Vec<(Watched, String)> = Vec::new();
    match opts.to {
        Some(to) => {
            for w in watched.into_iter().filter(|w| w.kind == Kind::Source) {
                if w.current.as_deref() != Some(to) {
                    wanted.push((w, to.to_string()));
                }
            }
        }
        None => {
            let results = monitor::check_all(&watched, &root);
            for (w, (_, result)) in watched.into_iter().zip(results) {
                match result {
                    Ok(None) => {}
                    Ok(Some(u)) if w.kind == Kind::Deb => out.debs.push(u),
                    Ok(Some(u)) => wanted.push((w, u.latest)),
                    Err(why) => out.not_updated.push(NotUpdated { label: w.label, reason: format!("its monitor failed: {why}") }),
                }
            }
        }
    }
    let mut texts: BTreeMap<String, String> = BTreeMap::new();
    // The guardrail's records of the sources moved, by the path beside
    // their definitions they are written to.
    let mut records: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for (w, version) in wanted {
        let vetted = fetch_new(analysis, &root, &w, &version, opts.store)
            .and_then(|(f, old, new)| vet_and_keep(&w, f, &old, &new, &root, opts, &mut out));
        match vetted {
            Ok((f, record)) => {
                let text = match texts.get(&f.file) {
                    Some(t) => t.clone(),
                    None => analysis.source_text(&f.file).map(|t| t.to_string()).unwrap_or_default(),
                };
                match rewrite(&f, &text, &name_of(&w.label)) {
                    Ok(new_text) => {
                        texts.insert(f.file.clone(), new_text);
                        records.insert(dhib_exec::actions::attest::guard_record_path(&f.file, &name_of(&f.label)), record);
                        out.updated.push(f);
                    }
                    Err(reason) => out.not_updated.push(NotUpdated { label: w.label, reason }),
                }
            }
            Err(reason) => out.not_updated.push(NotUpdated { label: w.label, reason }),
        }
    }
    if texts.is_empty() {
        return Ok(out);
    }
    for (def, f) in followers(analysis, &out.updated) {
        let text =
            texts.entry(def.file.clone()).or_insert_with(|| analysis.source_text(&def.file).map(|t| t.to_string()).unwrap_or_default());
        // Found again in the text as rewritten so far, which may have moved it.
        let span = literal_values(&def.file, text, def.kind, &def.label.name).ok().and_then(|b| b.version);
        if let Some(span) = span.filter(|s| text.get(s.start as usize..s.end as usize) == Some(&format!("\"{}\"", f.from))) {
            text.replace_range(span.start as usize..span.end as usize, &format!("\"{}\"", f.to));
            out.followed.push(def.label.to_string());
        }
    }
    for (file, text) in &texts {
        analysis.set_file(file, text.clone());
    }
    let after = analysis.analyze().map_err(|diags| {
        let first = diags.first().map_or(String::new(), |d| format!(": {}", d.message));
        Diag::plain("E0952", format!("the rewritten files do not analyse ({} problems{first}); nothing was written", diags.len()))
    })?;
    out.cascade = cascade(&after, before);
    if !opts.dry_run {
        // The record beside the definition, for review with the change and
        // for builds on machines whose store never saw the update.
        let files = texts.iter().map(|(f, t)| (f, t.as_bytes())).chain(records.iter().map(|(f, r)| (f, r.as_slice())));
        for (file, bytes) in files {
            dhib_exec::rewrite::write_atomically(&root.join(file), bytes)
                .map_err(|e| Diag::plain("E0953", format!("cannot write {file}: {e}")))?;
        }
        out.written = true;
    }
    Ok(out)
}

/// Has the guardrail vet the change to `f` and keeps its report in the
/// store, with the decision; when nothing blocks, the new archive too.
/// Returns the record as kept.
fn vet_and_keep(
    w: &Watched,
    f: Fetched,
    old: &[u8],
    new: &[u8],
    root: &Path,
    opts: &Options<'_>,
    out: &mut Outcome,
) -> Result<(Fetched, Vec<u8>), String> {
    let vcs = vcs_tree(w, &f, root);
    let (tag, vcs_dir) = match &vcs {
        Ok((tag, dir)) => (Some(tag.as_str()), Some(dir.path())),
        Err(why) => {
            if let Some(why) = why {
                out.warnings.push(format!("{}: compared without the tree of its tag: {why}", f.label));
            }
            (None, None)
        }
    };
    let report = vet(&f, old, new, vcs_dir)?;
    let blocking: Vec<String> = guard::blocking(&report, opts.approve).iter().map(|b| b.approval_id()).collect();
    let record = GuardRecord {
        source: &f.label,
        from: &f.from,
        to: &f.to,
        url: &f.url,
        sha256: &f.sha256,
        previous_sha256: &hex(&Sha256::digest(old)),
        vcs: tag,
        approved: report.findings.iter().filter(|x| x.blocks()).map(|x| x.approval_id()).filter(|id| opts.approve.contains(id)).collect(),
        blocking: blocking.clone(),
        report: &report,
    };
    let archive = Digest::parse(&f.sha256).expect("a sha256 in hex");
    let mut bytes = serde_json::to_vec_pretty(&record).expect("the record serializes");
    bytes.push(b'\n');
    let kept =
        opts.store.put_guard_report(&archive, &bytes).map_err(|e| format!("cannot keep the guardrail's report in the store: {e}"))?;
    out.guard_records.insert(f.label.clone(), kept.hex());
    out.guard.insert(f.label.clone(), report);
    if blocking.is_empty() {
        // The next build finds the archive instead of fetching it again.
        opts.store.put_bytes(new).map_err(|e| format!("cannot keep the new archive in the store: {e}"))?;
        Ok((f, bytes))
    } else {
        Err(format!(
            "the upstream-diff guardrail blocks {} → {}: {} (see the report; accept with --approve {})",
            f.from,
            f.to,
            blocking.join(", "),
            blocking.join(" --approve ")
        ))
    }
}

/// The targets that carry a moved source's version and move with it:
/// packages built from the source, then images and customizations
/// installing such a package, whose own block writes `version` as the
/// source's old version.
fn followers<'f>(analysis: &Analysis, moved: &'f [Fetched]) -> Vec<(std::sync::Arc<dhib_lang::eval::TargetDef>, &'f Fetched)> {
    use dhib_graph::query::Targets as _;
    use dhib_lang::value::Value;
    let defs: Vec<_> = analysis.all_labels().iter().filter_map(|(l, _)| analysis.target(l)).filter(|d| d.variant_of.is_none()).collect();
    let mut out = Vec::new();
    for f in moved {
        let packages: Vec<_> = defs
            .iter()
            .filter(|d| d.kind == Kind::Package && matches!(d.attr("source"), Some(Value::Label(l)) if l.to_string() == f.label))
            .collect();
        let installs = |d: &dhib_lang::eval::TargetDef| matches!(d.attr("packages"), Some(Value::List(l)) if l.iter().any(|p| matches!(p, Value::Label(p) if packages.iter().any(|d| d.label == *p))));
        let images = defs.iter().filter(|d| matches!(d.kind, Kind::Image | Kind::Customization) && installs(d));
        for def in packages.iter().copied().chain(images) {
            if def.attr("version").and_then(Value::as_str) == Some(&f.from) {
                out.push((def.clone(), f));
            }
        }
    }
    out
}

fn name_of(label: &str) -> String {
    label.rsplit_once(':').map_or(label, |(_, n)| n).to_string()
}

/// The new version's URL, fetched and hashed, with the old and new archives.
/// The new one is asked where `[upstream.mirrors]` sends its URL (a local
/// upstream); the pinned one comes from the store or any origin with its bytes.
fn fetch_new(analysis: &Analysis, root: &Path, w: &Watched, version: &str, store: &Store) -> Result<(Fetched, Vec<u8>, Vec<u8>), String> {
    let label = dhib_lang::label::Label::parse(&w.label, "").map_err(|e| e.to_string())?;
    let def = dhib_graph::query::Targets::target(analysis, &label).ok_or("it is no longer defined")?;
    let template = w.url_template.as_deref().ok_or("its url is not a string literal in its block; update it by hand")?;
    if !template.contains("{version}") {
        return Err(format!("its url \"{template}\" does not use {{version}}, so it cannot be updated automatically"));
    }
    let url = monitor::new_url(template, version)
        .ok_or_else(|| format!("its url \"{template}\" interpolates more than {{version}}; update it by hand"))?;
    let origins = dhib_exec::origins(analysis);
    let bytes = fetch::fetch_bytes_from(&origins, &w.mirrors.mirror(&url), root).map_err(|e| e.to_string())?;
    // The pinned archive too, checked against its pin, for the guardrail.
    let current = w.current.clone().unwrap_or_default();
    let old_url = monitor::new_url(template, &current).ok_or("its current url cannot be written out")?;
    let pin = def.attrs.get("sha256").and_then(|v| v.as_str()).unwrap_or_default();
    let old = fetch::fetch(store, &origins, &w.mirrors.mirror(&old_url), pin, root)
        .and_then(|d| store.get(&d).map_err(fetch::FetchError::from))
        .map_err(|e| format!("the pinned version, so the change cannot be vetted: {e}"))?;
    let fetched = Fetched {
        label: w.label.clone(),
        file: def.file.clone(),
        from: current,
        to: version.to_string(),
        sha256: hex(&Sha256::digest(&bytes)),
        url,
    };
    Ok((fetched, old, bytes))
}

/// The tree of the new version's tag, for a source watched by `git_tags` or
/// `github_releases`: the guardrail compares the release archive with it.
/// `Err(None)` when the monitor names no git repository; `Err(Some(why))`
/// when the checkout fails.
fn vcs_tree(w: &Watched, f: &Fetched, root: &Path) -> Result<(String, tempfile::TempDir), Option<String>> {
    let Some((url, pattern)) = &w.vcs else { return Err(None) };
    let tag = pattern.replace("{version}", &f.to);
    let dir = tempfile::tempdir().map_err(|e| Some(e.to_string()))?;
    monitor::checkout_tag(url, &tag, root, &dir.path().join("tree")).map_err(Some)?;
    Ok((format!("{tag} of {url}"), dir))
}

/// The upstream-diff guardrail's report on the change from the pinned
/// archive to the new one (each written under its own file name, which
/// tells the extractor its format).
fn vet(f: &Fetched, old: &[u8], new: &[u8], vcs: Option<&Path>) -> Result<guard::Report, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let name = f.url.rsplit('/').next().unwrap_or("source.tar.gz");
    let (a, b) = (dir.path().join("old"), dir.path().join("new"));
    for (d, bytes) in [(&a, old), (&b, new)] {
        std::fs::create_dir_all(d).map_err(|e| e.to_string())?;
        std::fs::write(d.join(name), bytes).map_err(|e| e.to_string())?;
    }
    let vcs = vcs.map(|d| d.join("tree"));
    guard::guard(&a.join(name), &b.join(name), vcs.as_deref()).map_err(|e| format!("the guardrail cannot compare the versions: {e}"))
}

/// `text` with the block's `version` and `sha256` values replaced, every
/// other byte as it was.
fn rewrite(f: &Fetched, text: &str, name: &str) -> Result<String, String> {
    let block = source_block(&f.file, text, name)?;
    let version = block.version.ok_or("its `version` is not a string literal in its block; update it by hand")?;
    let sha = block.sha256.ok_or("its `sha256` is not a string literal in its block; update it by hand")?;
    if f.to.contains(['"', '\\', '{', '}']) || f.to.chars().any(char::is_control) {
        return Err(format!("the version \"{}\" cannot be written as a plain string", f.to));
    }
    let mut edits = [(version, format!("\"{}\"", f.to)), (sha, format!("\"{}\"", f.sha256))];
    edits.sort_by_key(|(s, _)| std::cmp::Reverse(s.start));
    let mut out = text.to_string();
    for (span, value) in edits {
        out.replace_range(span.start as usize..span.end as usize, &value);
    }
    Ok(out)
}

/// The nodes whose keys changed, grouped by kind in plural ("packages").
fn cascade(after: &Analyzed, before: &Analyzed) -> BTreeMap<String, Vec<String>> {
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for id in after.keys.changed_since(&before.keys) {
        let Some(kind) = after.graph.index.get(&id).and_then(|i| after.graph.kind(*i)) else { continue };
        groups.entry(plural(kind)).or_default().push(id.to_string());
    }
    groups.values_mut().for_each(|v| v.sort());
    groups
}

pub fn plural(kind: NodeKind) -> String {
    match kind.name() {
        "customization" => "customizations".to_string(),
        other => format!("{other}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_two_values_change() {
        let text = "# c\nsource \"a\" {\n  version   = \"1.0\"  # pinned\n  url = \"file://a-{version}.tgz\"\n  sha256 =\n    \"00\"\n}\n";
        let f = Fetched {
            label: "//:a".into(),
            file: "BUILD.dhi".into(),
            from: "1.0".into(),
            to: "1.1".into(),
            url: "file://a-1.1.tgz".into(),
            sha256: "ff".into(),
        };
        let out = rewrite(&f, text, "a").unwrap();
        assert_eq!(out, text.replace("\"1.0\"", "\"1.1\"").replace("\"00\"", "\"ff\""));
        assert_eq!(source_block("BUILD.dhi", text, "a").unwrap().url.as_deref(), Some("file://a-{version}.tgz"));
    }
}
