//! The action of each node kind: what it reads from the store, what it runs,
//! and the outputs it records in the action cache under its key.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::exec::sandbox::{self, Mode, Mount, Step};
use crate::exec::{archive, deb, fetch};
use crate::graph::{Key, NodeId, Roles};
use crate::lang::eval::TargetDef;
use crate::lang::schema::Kind;
use crate::lang::value::Value;
use crate::store::{ActionResult, Digest, Entry, Store, StoreError, Tree};

mod patch;

/// Everything a node's action may use.
pub struct Context<'a> {
    pub store: &'a Store,
    /// The workspace root, for `file://` sources and `file(...)` references.
    pub root: &'a Path,
    /// Registries (`HOST[:PORT]`) pulled from over plain http.
    pub insecure_registries: &'a [String],
    /// Content digests (blake3 hex) of the files referenced with `file(...)`,
    /// as analysis keyed them.
    pub local_files: &'a BTreeMap<String, String>,
    pub sandbox: Mode,
    pub source_date_epoch: u64,
    /// Parallelism inside one build step (`$JOBS`).
    pub jobs: usize,
    /// Where pinned files are downloaded from.
    pub origins: &'a fetch::Origins,
}

/// A node ready to run: its definition, key, and its direct dependencies'
/// results (each once, with the attributes that name it).
pub struct Job<'a> {
    pub id: &'a NodeId,
    pub def: Arc<TargetDef>,
    pub key: Key,
    pub deps: Vec<(&'a Roles, &'a NodeId, Arc<ActionResult>)>,
    /// For attestations: every node the image was built from.
    pub closure: Vec<Material<'a>>,
    /// For `#vex`: the components the image ships and was built with.
    pub vex: Option<Arc<super::attest::VexFacts>>,
}

/// A node an image was built from, with its result and its own dependencies.
pub struct Material<'a> {
    pub id: &'a NodeId,
    pub def: Option<Arc<TargetDef>>,
    pub result: Arc<ActionResult>,
    pub deps: Vec<(&'a Roles, &'a NodeId)>,
}

impl Job<'_> {
    /// The image this job is about (its dependency in `role`), and the
    /// manifest (or index) that image built.
    pub(crate) fn image(&self, role: &str) -> Result<(&NodeId, &ActionResult, Digest), BuildError> {
        let (_, id, r) = self
            .deps
            .iter()
            .find(|(roles, ..)| roles.contains(role))
            .ok_or_else(|| BuildError::Invalid(format!("{} has no {role}", self.id)))?;
        let top =
            r.metadata.get("manifest").and_then(|d| Digest::parse(d)).ok_or_else(|| BuildError::Invalid(format!("{id} built no image")))?;
        Ok((id, r, top))
    }
}

/// Whether `r` is the result of a test that failed.
pub fn is_failed_test(r: &ActionResult) -> bool {
    r.metadata.get("test_status").is_some_and(|s| s == "failed")
}

/// Whether `r` reports a failure: a failed test, or a test report with
/// failed tests or checks.
pub fn reports_failure(r: &ActionResult) -> bool {
    is_failed_test(r) || r.metadata.get("failed").is_some_and(|n| n != "0")
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Fetch(#[from] fetch::FetchError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Archive(#[from] archive::ArchiveError),
    #[error(transparent)]
    Deb(#[from] deb::DebError),
    #[error(transparent)]
    Sandbox(#[from] sandbox::SandboxError),
    #[error("{0}")]
    Io(String),
    #[error("step {index} of {count} failed ({status}): {command}\n{tail}")]
    Step { index: usize, count: usize, command: String, status: String, tail: String, log: Digest },
    #[error("patch `{patch}` of {source_label} does not apply: {error}")]
    Patch { source_label: String, patch: String, error: patch::PatchError },
    #[error("{0}")]
    Invalid(String),
}

fn io(what: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> BuildError {
    move |e| BuildError::Io(format!("{what}: {e}"))
}

fn str_attr<'d>(def: &'d TargetDef, name: &str) -> Option<&'d str> {
    def.attrs.get(name).and_then(Value::as_str)
}

/// A result whose only output is one stored file.
fn single_file(store: &Store, name: &str, digest: Digest, size: u64) -> Result<ActionResult, BuildError> {
    let tree = Tree::from([(name.to_string(), Entry::File { digest, size, executable: false })]);
    let manifest = store.put_manifest(&tree)?;
    Ok(ActionResult { outputs: BTreeMap::from([("file".to_string(), manifest)]), ..Default::default() })
}

/// The one file of a single-file result.
pub(crate) fn the_file(store: &Store, r: &ActionResult) -> Result<(String, Digest), BuildError> {
    let manifest = r.outputs.get("file").ok_or_else(|| BuildError::Invalid("an input has no file output".into()))?;
    let tree = store.get_tree(manifest)?;
    match tree.into_iter().next() {
        Some((name, Entry::File { digest, .. })) => Ok((name, digest)),
        _ => Err(BuildError::Invalid("an input's file output is empty".into())),
    }
}

pub fn run(cx: &Context<'_>, job: &Job<'_>, work: &Path) -> Result<ActionResult, BuildError> {
    match job.def.kind {
        Kind::Source => source(cx, job, work),
        Kind::Deb => deb_file(cx, job, work),
        Kind::Env => env(cx, job, work),
        Kind::Package => package(cx, job, work),
        Kind::Image if job.deps.iter().any(|(roles, ..)| roles.contains("platform")) => image_index(cx, job),
        _ if job.id.facet.is_some() => super::attest::attest(cx, job),
        Kind::Image | Kind::Customization => image(cx, job, work),
        Kind::Test => super::test::test(cx, job, work),
    }
}

fn source(cx: &Context<'_>, job: &Job<'_>, work: &Path) -> Result<ActionResult, BuildError> {
    let url = str_attr(&job.def, "url").expect("schema: sources have a url");
    let pin = str_attr(&job.def, "sha256").expect("schema: sources have a sha256");
    let (digest, name) = match str_attr(&job.def, "rev") {
        Some(rev) if url.starts_with("git+") => {
            let repo = url.trim_end_matches('/').rsplit('/').next().unwrap_or("source").trim_end_matches(".git");
            (fetch::fetch_git(cx.store, url, rev, pin, cx.root)?, format!("{repo}-{rev}.tar"))
        }
        _ => (fetch::fetch(cx.store, cx.origins, url, pin, cx.root)?, fetch::file_name(url).to_string()),
    };
    let strip_prefix = str_attr(&job.def, "strip_prefix").map(str::to_string);
    let mut patches = Vec::new();
    if let Some(v) = job.def.attrs.get("patches") {
        v.files(&mut patches);
    }
    // A patched source is its extracted tree with the patches applied, made
    // before anything of this node is stored, so a patch that does not apply
    // leaves no result behind. Unpatched sources stay archives, extracted by
    // each package that builds from them.
    let patched = if patches.is_empty() {
        None
    } else {
        let tree = work.join("tree");
        let opts = archive::ExtractOptions { strip_prefix: strip_prefix.clone(), ..Default::default() };
        archive::extract(&cx.store.blob_path(&digest), &tree, &opts)?;
        for p in patches {
            let text = keyed_file(cx, &p.file)?;
            patch::apply(&tree, &text).map_err(|error| BuildError::Patch {
                source_label: job.id.to_string(),
                patch: p.file.clone(),
                error,
            })?;
        }
        Some(tree)
    };
    let size = fs::metadata(cx.store.blob_path(&digest)).map(|m| m.len()).unwrap_or(0);
    let mut r = single_file(cx.store, &name, digest, size)?;
    match patched {
        Some(tree) => {
            r.outputs.insert("tree".into(), cx.store.put_tree(&tree)?);
        }
        None => {
            if let Some(prefix) = strip_prefix {
                r.metadata.insert("strip_prefix".into(), prefix);
            }
        }
    }
    Ok(r)
}

fn deb_file(cx: &Context<'_>, job: &Job<'_>, work: &Path) -> Result<ActionResult, BuildError> {
    let filename = str_attr(&job.def, "filename").expect("schema: debs have a filename");
    let pin = str_attr(&job.def, "sha256").expect("schema: debs have a sha256");
    let url = fetch::deb_url(str_attr(&job.def, "repo"), filename);
    let digest = fetch::fetch(cx.store, cx.origins, &url, pin, cx.root)?;
    let control = deb::read_control(&cx.store.blob_path(&digest))?;
    let size = fs::metadata(cx.store.blob_path(&digest)).map(|m| m.len()).unwrap_or(0);
    let name = filename.rsplit('/').next().unwrap_or("package.deb").to_string();
    let mut r = single_file(cx.store, &name, digest, size)?;
    r.metadata.insert("control".into(), serde_json::to_string(&control).expect("control serializes"));
    // The license, for SBOMs: as declared in the target, else from the
    // package's own machine-readable copyright file.
    let license = match str_attr(&job.def, "license") {
        Some(l) => Some(l.to_string()),
        None => {
            let scratch = work.join("license");
            std::fs::create_dir_all(&scratch).map_err(io(scratch.display()))?;
            deb::unpack(&cx.store.blob_path(&digest), &scratch)?;
            deb::copyright_license(&scratch, &control.package)
        }
    };
    if let Some(l) = license {
        r.metadata.insert("license".into(), l);
    }
    let mut closure = BTreeMap::from([(name, digest)]);
    for (_, _, dep) in &job.deps {
        collect_debs(cx.store, dep, &mut closure)?;
    }
    r.metadata.insert("closure".into(), closure.iter().map(|(n, d)| format!("{n}={d}")).collect::<Vec<_>>().join(" "));
    Ok(r)
}

/// Directories every root file system gets before anything is unpacked:
/// Debian 12's merged /usr links and the sandbox's mount points.
fn prepare_root(root: &Path) -> Result<(), BuildError> {
    for dir in ["usr/bin", "usr/lib", "usr/lib64", "usr/sbin", "proc", "dev", "tmp", "build", "out", "opt/deps", "etc"] {
        fs::create_dir_all(root.join(dir)).map_err(io(root.join(dir).display()))?;
    }
    merged_usr(root)
}

/// Debian 12's merged /usr: `bin`, `lib`, `lib64` and `sbin` link into `usr/`,
/// so packages' files land where Debian itself puts them.
pub(crate) fn merged_usr(root: &Path) -> Result<(), BuildError> {
    for (link, target) in [("bin", "usr/bin"), ("lib", "usr/lib"), ("lib64", "usr/lib64"), ("sbin", "usr/sbin")] {
        fs::create_dir_all(root.join(target)).map_err(io(root.join(target).display()))?;
        if root.join(link).symlink_metadata().is_err() {
            std::os::unix::fs::symlink(target, root.join(link)).map_err(io(root.join(link).display()))?;
        }
    }
    Ok(())
}

/// Every deb and package output an environment installs: its packages and,
/// through their results, what they depend on.
fn env(cx: &Context<'_>, job: &Job<'_>, work: &Path) -> Result<ActionResult, BuildError> {
    let root = work.join("rootfs");
    prepare_root(&root)?;
    // Debs first (sorted, so the result does not depend on scheduling), then
    // from-source packages on top.
    let mut debs: BTreeMap<String, Digest> = BTreeMap::new();
    let mut trees = Vec::new();
    for (_, _, r) in &job.deps {
        collect_debs(cx.store, r, &mut debs)?;
        for out in ["runtime", "dev"] {
            if let Some(t) = r.outputs.get(out) {
                trees.push(*t);
            }
        }
    }
    for digest in debs.values() {
        deb::unpack(&cx.store.blob_path(digest), &root)?;
    }
    for t in trees {
        cx.store.materialize(&t, &root)?;
    }
    link_alternatives(&root)?;
    let manifest = cx.store.put_tree(&root)?;
    let mut r = ActionResult { outputs: BTreeMap::from([("rootfs".to_string(), manifest)]), ..Default::default() };
    // Variables every step built in this environment gets.
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    if let Some(Value::Map(m)) = job.def.attrs.get("env") {
        vars.extend(m.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string()))));
    }
    if let Some(Value::List(extra)) = job.def.attrs.get("path") {
        let extra: Vec<&str> = extra.iter().filter_map(Value::as_str).collect();
        let base = sandbox::base_env(0).remove("PATH").unwrap_or_default();
        vars.insert("PATH".into(), format!("{}:{base}", extra.join(":")));
    }
    r.metadata.insert("env".into(), serde_json::to_string(&vars).expect("maps serialize"));
    r.metadata.insert("debs".into(), debs.keys().cloned().collect::<Vec<_>>().join(" "));
    Ok(r)
}

/// Commands Debian makes available through maintainer scripts (`/bin/sh`)
/// or update-alternatives, which an unpacked root never runs: each name is
/// linked to the first provider present.
const ALTERNATIVES: &[(&str, &[&str])] = &[
    ("sh", &["dash", "bash", "busybox"]),
    ("awk", &["gawk", "mawk", "original-awk", "busybox"]),
    ("cc", &["gcc"]),
    ("c++", &["g++"]),
    ("tclsh", &["tclsh8.6"]),
];

fn link_alternatives(root: &Path) -> Result<(), BuildError> {
    let bin = root.join("usr/bin");
    for (name, providers) in ALTERNATIVES {
        let link = bin.join(name);
        if link.symlink_metadata().is_ok() {
            continue;
        }
        // symlink_metadata, not exists(): a link in the root must not be
        // resolved against the host.
        if let Some(p) = providers.iter().find(|p| bin.join(p).symlink_metadata().is_ok()) {
            std::os::unix::fs::symlink(p, &link).map_err(io(link.display()))?;
        }
    }
    Ok(())
}

/// A deb's result records its own .deb and those of its `depends`, so an
/// environment gets the whole closure from its direct packages.
fn collect_debs(store: &Store, r: &ActionResult, out: &mut BTreeMap<String, Digest>) -> Result<(), BuildError> {
    if let Some(closure) = r.metadata.get("closure") {
        for item in closure.split_whitespace() {
            if let Some((name, hex)) = item.split_once('=') {
                let d = Digest::parse(hex).ok_or_else(|| BuildError::Invalid(format!("bad closure entry {item}")))?;
                out.insert(name.to_string(), d);
            }
        }
    } else if r.outputs.contains_key("file") {
        let (name, d) = the_file(store, r)?;
        out.insert(name, d);
    }
    Ok(())
}

/// The working tree of a package build.
struct PackageWork {
    src: PathBuf,
    out: PathBuf,
    deps: PathBuf,
    log: PathBuf,
}

fn package(cx: &Context<'_>, job: &Job<'_>, work: &Path) -> Result<ActionResult, BuildError> {
    let w = PackageWork { src: work.join("src"), out: work.join("out"), deps: work.join("deps"), log: work.join("build.log") };
    fs::create_dir_all(&w.out).map_err(io(w.out.display()))?;
    fs::create_dir_all(&w.deps).map_err(io(w.deps.display()))?;
    let mut rootfs = None;
    let mut env_vars: BTreeMap<String, String> = BTreeMap::new();
    for (roles, id, r) in &job.deps {
        for role in roles.iter() {
            match role {
                "source" if r.outputs.contains_key("tree") => {
                    fs::create_dir_all(&w.src).map_err(io(w.src.display()))?;
                    cx.store.materialize(&r.outputs["tree"], &w.src)?;
                }
                "source" => {
                    let (_, digest) = the_file(cx.store, r)?;
                    let strip = source_strip_prefix(r);
                    let opts = archive::ExtractOptions { strip_prefix: strip, ..Default::default() };
                    archive::extract(&cx.store.blob_path(&digest), &w.src, &opts)?;
                }
                "env" => {
                    rootfs = r.outputs.get("rootfs").copied();
                    if let Some(vars) = r.metadata.get("env") {
                        env_vars = serde_json::from_str(vars).map_err(|e| BuildError::Invalid(format!("{id}: {e}")))?;
                    }
                }
                // Named in both, a dependency is installed once, as `deps`.
                "runtime_deps" if roles.contains("deps") => {}
                "deps" | "runtime_deps" if r.outputs.contains_key("file") => {
                    // A Debian package (say, a -dev package) is installed whole.
                    let (_, deb_file) = the_file(cx.store, r)?;
                    merged_usr(&w.deps)?;
                    deb::unpack(&cx.store.blob_path(&deb_file), &w.deps)?;
                }
                "deps" | "runtime_deps" => {
                    for out in ["runtime", "dev"] {
                        if let Some(t) = r.outputs.get(out) {
                            cx.store.materialize(t, &w.deps)?;
                        }
                    }
                }
                other => return Err(BuildError::Invalid(format!("{}: unexpected dependency {id} ({other})", job.id))),
            }
        }
    }
    if !w.src.exists() {
        fs::create_dir_all(&w.src).map_err(io(w.src.display()))?;
    }
    let rootfs = rootfs.ok_or_else(|| BuildError::Invalid(format!("{} has no build environment", job.id)))?;
    let env_dir = materialized_env(cx.store, &rootfs)?;
    let build = match job.def.attrs.get("build") {
        Some(Value::Map(m)) => m,
        _ => return Err(BuildError::Invalid(format!("{} has no build section", job.id))),
    };
    let steps: Vec<String> = match build.get("steps") {
        Some(Value::List(items)) => items.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
        _ => Vec::new(),
    };
    // The environment's variables, then the package's own on top.
    let mut env = env_vars;
    if let Some(Value::Map(m)) = build.get("env") {
        env.extend(m.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string()))));
    }
    let jobs = match build.get("jobs") {
        Some(Value::Int(n)) if *n > 0 => *n as usize,
        _ => cx.jobs,
    };
    env.insert("JOBS".into(), jobs.to_string());
    env.insert("DESTDIR".into(), "/out".into());
    // Dependencies' headers and libraries, where gcc and pkg-config look.
    env.insert("CPATH".into(), "/opt/deps/usr/include".into());
    env.insert("LIBRARY_PATH".into(), "/opt/deps/usr/lib:/opt/deps/usr/lib/x86_64-linux-gnu".into());
    env.insert("LD_LIBRARY_PATH".into(), "/opt/deps/usr/lib:/opt/deps/usr/lib/x86_64-linux-gnu".into());
    env.insert("PKG_CONFIG_PATH".into(), "/opt/deps/usr/lib/pkgconfig".into());
    let mounts = vec![
        Mount { host: w.src.clone(), dest: "/build".into(), writable: true },
        Mount { host: w.out.clone(), dest: "/out".into(), writable: true },
        Mount { host: w.deps.clone(), dest: "/opt/deps".into(), writable: false },
    ];
    let base = sandbox::base_env(cx.source_date_epoch);
    let log = File::options().create(true).append(true).read(true).open(&w.log).map_err(io(w.log.display()))?;
    let limits = step_limits(&job.def);
    for (i, command) in steps.iter().enumerate() {
        let step = Step {
            argv: vec!["/bin/sh".into(), "-ec".into(), command.clone()],
            rootfs: env_dir.clone(),
            mounts: mounts.clone(),
            workdir: "/build".into(),
            env: env.clone(),
            limits: limits.clone(),
            network: false,
            user: None,
        };
        use std::io::Write;
        writeln!(&log, "+ {command}").map_err(io(w.log.display()))?;
        let outcome = sandbox::run(&step, cx.sandbox, &base, &log)?;
        if !outcome.success() {
            let status = match (&outcome.exceeded, outcome.timed_out, outcome.code) {
                (Some(bound), ..) => format!("killed: it {bound}"),
                (None, true, _) => format!("timed out after {}s (timeout)", outcome.elapsed.as_secs()),
                (None, false, Some(c)) => format!("exit status {c}"),
                (None, false, None) => "killed by a signal".to_string(),
            };
            let log_digest = cx.store.put_file(&w.log)?;
            return Err(BuildError::Step {
                index: i + 1,
                count: steps.len(),
                command: command.clone(),
                status,
                tail: tail(&w.log, 20),
                log: log_digest,
            });
        }
    }
    let log_digest = cx.store.put_file(&w.log)?;
    let mut r = split_outputs(cx.store, &w.out, &job.def)?;
    r.log = Some(log_digest);
    Ok(r)
}

/// The bounds of a package's steps: its `timeout` (seconds per step),
/// `max_processes` and `disk_budget_mb`, else the defaults.
fn step_limits(def: &TargetDef) -> sandbox::Limits {
    let int = |name: &str| match def.attrs.get(name) {
        Some(Value::Int(n)) if *n > 0 => Some(*n as u64),
        _ => None,
    };
    let d = sandbox::Limits::default();
    sandbox::Limits {
        timeout: int("timeout").map_or(d.timeout, std::time::Duration::from_secs),
        max_processes: int("max_processes").unwrap_or(d.max_processes),
        max_disk: int("disk_budget_mb").map_or(d.max_disk, |mb| mb << 20),
        ..d
    }
}

fn source_strip_prefix(r: &ActionResult) -> Option<String> {
    r.metadata.get("strip_prefix").cloned()
}

/// The last `n` lines of a log.
pub fn tail(path: &Path, n: usize) -> String {
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(_) => return String::new(),
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(16 * 1024)));
    let mut s = String::new();
    let _ = f.read_to_string(&mut s);
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// An environment's root file system, materialized once per digest under the
/// store and reused read-only by every step that builds in it.
fn materialized_env(store: &Store, rootfs: &Digest) -> Result<PathBuf, BuildError> {
    let dir = store.root().join("envs").join(rootfs.hex());
    if dir.join(".complete").exists() {
        return Ok(dir);
    }
    // Unique per call: two packages of one build may need the same env at once.
    let scratch = store.root().join("tmp");
    let tmp =
        tempfile::Builder::new().prefix(&format!("env-{}-", rootfs.hex())).tempdir_in(&scratch).map_err(io(scratch.display()))?.keep();
    store.materialize(rootfs, &tmp)?;
    File::create(tmp.join(".complete")).map_err(io(tmp.display()))?;
    fs::create_dir_all(dir.parent().expect("envs/ has a parent")).map_err(io(dir.display()))?;
    // Another process may have finished first; its copy is as good as ours.
    if fs::rename(&tmp, &dir).is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    Ok(dir)
}

/// Splits an install tree into the package's named outputs by glob; files no
/// glob claims go to `other`, so nothing installed is silently dropped.
fn split_outputs(store: &Store, out: &Path, def: &TargetDef) -> Result<ActionResult, BuildError> {
    let mut globs: Vec<(String, glob::Pattern)> = Vec::new();
    if let Some(Value::Map(outputs)) = def.attrs.get("outputs") {
        for (name, pats) in outputs {
            if let Value::List(items) = pats {
                for p in items.iter().filter_map(Value::as_str) {
                    let pat = glob::Pattern::new(p).map_err(|e| BuildError::Invalid(format!("output `{name}`: bad glob `{p}`: {e}")))?;
                    globs.push((name.clone(), pat));
                }
            }
        }
    }
    let all = store.get_tree(&store.put_tree(out)?)?;
    let opts = glob::MatchOptions { require_literal_separator: true, ..Default::default() };
    let mut split: BTreeMap<String, Tree> = BTreeMap::new();
    for (path, entry) in &all {
        if matches!(entry, Entry::Dir) {
            continue;
        }
        let name = if globs.is_empty() {
            "runtime".to_string()
        } else {
            globs.iter().find(|(_, g)| g.matches_with(path, opts)).map_or("other".to_string(), |(n, _)| n.clone())
        };
        let tree = split.entry(name).or_default();
        // Parent directories travel with each file so outputs stand alone.
        let mut parents: BTreeSet<String> = BTreeSet::new();
        let mut p = path.as_str();
        while let Some((parent, _)) = p.rsplit_once('/') {
            parents.insert(parent.to_string());
            p = parent;
        }
        for d in parents {
            tree.entry(d).or_insert(Entry::Dir);
        }
        tree.insert(path.clone(), entry.clone());
    }
    let mut r = ActionResult::default();
    for (name, tree) in split {
        r.outputs.insert(name, store.put_manifest(&tree)?);
    }
    Ok(r)
}

/// The platform's architecture name in OCI terms.
fn oci_arch(platform: &str) -> &str {
    platform.rsplit('/').next().unwrap_or("amd64")
}

/// Assembles an image or a customization: the base's layers as they are
/// (shared by digest), then one layer per Debian package and per built
/// package, a layer of the files the definition adds, and a layer with the
/// image user's `/etc/passwd` and `/etc/group` when it sets a user. The
/// config is the base's with this definition's settings on top.
fn image(cx: &Context<'_>, job: &Job<'_>, work: &Path) -> Result<ActionResult, BuildError> {
    use crate::oci;
    use rayon::prelude::*;
    let def = &job.def;
    let mtime = cx.source_date_epoch;
    let compression = match str_attr(def, "compression") {
        Some("zstd") => oci::Compression::Zstd,
        _ => oci::Compression::Gzip,
    };
    let mut layers: Vec<oci::Layer> = Vec::new();
    let mut debs: BTreeMap<String, Digest> = BTreeMap::new();
    let mut trees: Vec<Digest> = Vec::new();
    let mut run = oci::RunConfig::default();
    for (roles, id, r) in &job.deps {
        for role in roles.iter() {
            match role {
                "base" => {
                    let m = r
                        .metadata
                        .get("manifest")
                        .and_then(|d| Digest::parse(d))
                        .ok_or_else(|| BuildError::Invalid(format!("{id} is not an image this version can build on")))?;
                    layers.extend(oci::manifest_layers(cx.store, &m)?);
                    run = oci::image_config(cx.store, &m)?.0;
                }
                "packages" => {}
                other => return Err(BuildError::Invalid(format!("{}: unexpected dependency {id} ({other})", job.id))),
            }
        }
    }
    for r in shipped(job) {
        if r.outputs.contains_key("file") {
            collect_debs(cx.store, r, &mut debs)?;
        } else if let Some(t) = r.outputs.get("runtime") {
            trees.push(*t);
        }
    }
    // A deb (by name) or a stored tree, grouped into layers: one each, unless
    // that exceeds the image's layer budget.
    let sources: Vec<(Option<&String>, Digest)> =
        debs.iter().map(|(name, d)| (Some(name), *d)).chain(trees.iter().map(|t| (None, *t))).collect();
    let ca = matches!(def.attrs.get("ca_certificates"), Some(Value::Bool(true)));
    let fixed = layers.len() + usize::from(has_files(def)) + usize::from(ca) + usize::from(sets_user(def, &run));
    let groups = match def.attrs.get("max_layers") {
        Some(Value::Int(max)) => {
            let budget = usize::try_from(*max).unwrap_or(0).checked_sub(fixed).filter(|b| *b > 0).ok_or_else(|| {
                BuildError::Invalid(format!(
                    "{}: max_layers = {max} leaves no layer for its packages: the base, the added files, the CA bundle and the user take {fixed}",
                    job.id
                ))
            })?;
            budget_groups(sources, budget, &deb_popularity(cx.store, &job.deps)?)
        }
        _ => sources.into_iter().map(|s| vec![s]).collect(),
    };
    // Unpacking and compressing are the slow part: each layer is made once
    // per store, and the missing ones in parallel.
    let source_tree = |deb: Option<&String>, digest: &Digest| -> Result<Tree, BuildError> {
        let Some(name) = deb else { return Ok(cx.store.get_tree(digest)?) };
        let root = work.join("debs").join(name);
        merged_usr(&root)?;
        let blob = cx.store.blob_path(digest);
        deb::unpack(&blob, &root)?;
        let control = deb::read_control(&blob)?;
        let status = root.join("var/lib/dpkg/status.d");
        fs::create_dir_all(&status).map_err(io(status.display()))?;
        fs::write(status.join(&control.package), control.status_stanza()).map_err(io(status.display()))?;
        Ok(cx.store.get_tree(&cx.store.put_tree(&root)?)?)
    };
    let package_layers: Vec<oci::Layer> = groups
        .par_iter()
        .map(|group| {
            let (what, id) = match &group[..] {
                [(deb, digest)] => (if deb.is_some() { "deb" } else { "tree" }, *digest),
                _ => {
                    let ids: Vec<String> = group.iter().map(|(deb, d)| format!("{}:{d}", deb.is_some())).collect();
                    ("group", Digest::of(ids.join(" ").as_bytes()))
                }
            };
            oci::cached_layer(cx.store, what, &id, mtime, compression, || -> Result<Tree, BuildError> {
                let mut union = Tree::new();
                for (deb, digest) in group {
                    union.extend(source_tree(*deb, digest)?);
                }
                Ok(union)
            })
        })
        .collect::<Result<_, _>>()?;
    layers.extend(package_layers);
    // Layers of OCI layouts, each named by its index.json (whose content,
    // keyed, pins every blob by digest) or by a registry reference pinned by
    // digest, pulled into a layout first.
    let mut imported_layers = Vec::new();
    if let Some(Value::List(items)) = def.attrs.get("layers_from") {
        let arch = oci_arch(job.id.platform.as_deref().unwrap_or("linux/amd64"));
        for (i, item) in items.iter().enumerate() {
            let (dir, shown) = match item {
                Value::File(index) => {
                    keyed_file(cx, &index.file)?;
                    (cx.root.join(&index.file).parent().map(Path::to_path_buf).unwrap_or_default(), index.file.clone())
                }
                Value::Str(reference) => {
                    let dir = work.join(format!("pulled-{i}"));
                    oci::registry::pull_layout(reference, cx.insecure_registries, &dir).map_err(|d| BuildError::Invalid(d.to_string()))?;
                    (dir, reference.clone())
                }
                _ => continue,
            };
            let imported = oci::import_layout(cx.store, &dir, arch).map_err(|e| BuildError::Invalid(format!("{shown}: {e}")))?;
            let digests: Vec<String> = imported.iter().map(|l| l.digest.hex()).collect();
            imported_layers.push(serde_json::json!({"reference": shown, "layers": digests}));
            layers.extend(imported);
        }
    }
    let added = added_files(def);
    if !added.is_empty() {
        let (tree, modes) = files_tree(cx, &added)?;
        layers.push(oci::store_layer(cx.store, &oci::layer_tar(cx.store, &tree, mtime, &modes)?, compression)?);
    }
    let strs = |name: &str| match def.attrs.get(name) {
        Some(Value::List(items)) => Some(items.iter().filter_map(|v| v.as_str().map(str::to_string)).collect::<Vec<_>>()),
        _ => None,
    };
    let map = |name: &str| match def.attrs.get(name) {
        Some(Value::Map(m)) => m.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string()))).collect(),
        _ => BTreeMap::new(),
    };
    if ca {
        let bundle = ca_bundle(cx.store, &layers).map_err(|e| BuildError::Invalid(format!("{}: {e}", job.id)))?;
        layers.push(oci::store_layer(cx.store, &oci::layer_tar(cx.store, &bundle, mtime, &BTreeMap::new())?, compression)?);
    }
    // The base's layers already hold the passwd entries of the user it sets.
    let own_user = own_user(def, &run);
    let uid = own_user.as_deref().and_then(|u| u.split(':').next()?.parse::<u32>().ok());
    if let Some(uid) = uid {
        let tree = passwd_tree(cx.store, uid)?;
        layers.push(oci::store_layer(cx.store, &oci::layer_tar(cx.store, &tree, mtime, &BTreeMap::new())?, compression)?);
        run.user = own_user;
    }
    let mut env: BTreeMap<String, String> =
        run.env.iter().filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect();
    env.extend(map("env"));
    run.env = env.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    if let Some(e) = strs("entrypoint") {
        run.entrypoint = Some(e);
        // As in a Dockerfile: a new entrypoint drops the base's arguments.
        run.cmd = None;
    }
    if let Some(c) = strs("cmd") {
        run.cmd = Some(c);
    }
    if let Some(w) = str_attr(def, "workdir") {
        run.workdir = Some(w.to_string());
    }
    run.labels.extend(map("labels"));
    if let Some(p) = strs("ports") {
        run.ports.extend(p);
        run.ports.sort();
        run.ports.dedup();
    }
    let annotations = image_annotations(job, mtime);
    let platform =
        job.id.platform.clone().or_else(|| strs("platforms").and_then(|p| p.first().cloned())).unwrap_or_else(|| "linux/amd64".into());
    let (manifest, size) = oci::store_image(cx.store, oci_arch(&platform), &layers, &run, mtime, &annotations)?;
    let layout = oci::layout_tree(cx.store, &manifest, size, "latest")?;
    let mut r = ActionResult { outputs: BTreeMap::from([("oci".to_string(), cx.store.put_manifest(&layout)?)]), ..Default::default() };
    r.metadata.insert("manifest".into(), manifest.hex());
    // Which layers came from other images, for the SBOM.
    if !imported_layers.is_empty() {
        r.metadata.insert("imported_layers".into(), serde_json::Value::from(imported_layers).to_string());
    }
    if let Some(u) = run.user {
        r.metadata.insert("user".into(), u);
    }
    Ok(r)
}

/// What an image installs, in order: its `packages`, then (breadth first)
/// what they need at run time, each once.
pub(crate) fn shipped<'j>(job: &'j Job<'_>) -> Vec<&'j ActionResult> {
    let by_id: std::collections::HashMap<&NodeId, &Material<'_>> = job.closure.iter().map(|m| (m.id, m)).collect();
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    let mut queue: std::collections::VecDeque<(&NodeId, &ActionResult)> =
        job.deps.iter().filter(|(roles, ..)| roles.contains("packages")).map(|(_, id, r)| (*id, &**r)).collect();
    while let Some((id, r)) = queue.pop_front() {
        if !seen.insert(id) {
            continue;
        }
        out.push(r);
        if let Some(m) = by_id.get(id) {
            for d in runtime_deps(m, &by_id) {
                queue.push_back((d.id, &d.result));
            }
        }
    }
    out
}

/// What a package of the closure needs at run time: the dependencies whose
/// edge `runtime_deps` made, read from the edges alone (an edge keeps every
/// attribute naming its node, so a library also named in `deps` counts).
pub(crate) fn runtime_deps<'j>(m: &Material<'_>, by_id: &std::collections::HashMap<&NodeId, &'j Material<'j>>) -> Vec<&'j Material<'j>> {
    m.deps.iter().filter(|(roles, _)| roles.contains("runtime_deps")).filter_map(|(_, dep)| by_id.get(dep).copied()).collect()
}

/// The `file(...)`s an image (`files`) or customization (`add`) lays over
/// its packages.
fn added_files(def: &TargetDef) -> Vec<&crate::lang::value::FileRef> {
    match def.attrs.get(if def.kind == Kind::Customization { "add" } else { "files" }) {
        Some(Value::List(items)) => items.iter().filter_map(|v| if let Value::File(f) = v { Some(f) } else { None }).collect(),
        _ => Vec::new(),
    }
}

fn has_files(def: &TargetDef) -> bool {
    !added_files(def).is_empty()
}

/// The user an image sets itself, when it differs from its base's (`base`
/// being the base's config): only then does it get a passwd layer.
fn own_user(def: &TargetDef, base: &crate::oci::RunConfig) -> Option<String> {
    let user = match def.attrs.get("user") {
        Some(Value::Int(u)) => u.to_string(),
        Some(Value::Str(u)) => u.clone(),
        _ => return None,
    };
    (Some(user.as_str()) != base.user.as_deref()).then_some(user)
}

fn sets_user(def: &TargetDef, base: &crate::oci::RunConfig) -> bool {
    own_user(def, base).and_then(|u| u.split(':').next()?.parse::<u32>().ok()).is_some()
}

/// How many of an image's debs depend on each (by file name).
fn deb_popularity(store: &Store, deps: &[(&Roles, &NodeId, Arc<ActionResult>)]) -> Result<BTreeMap<String, usize>, BuildError> {
    let mut packages = BTreeMap::new();
    let mut wanted: Vec<String> = Vec::new();
    for (_, _, r) in deps {
        let Some(control) = r.metadata.get("control").and_then(|c| serde_json::from_str::<deb::Control>(c).ok()) else { continue };
        packages.insert(the_file(store, r)?.0, control.package.clone());
        for field in [&control.depends, &control.pre_depends] {
            for group in deb::parse_relations(field).unwrap_or_default() {
                wanted.extend(group.into_iter().map(|rel| rel.name));
            }
        }
    }
    Ok(packages.into_iter().map(|(file, package)| (file, wanted.iter().filter(|w| **w == package).count())).collect())
}

/// One layer per source while they fit in `budget`; past it, as in Nix's
/// popularity layering, the most depended-on debs (which other images share)
/// keep layers of their own and the rest share the last one. Layers keep the
/// order of `sources`, so a changed package changes its own layer or the
/// shared one, and no other.
fn budget_groups<'a>(
    sources: Vec<(Option<&'a String>, Digest)>,
    budget: usize,
    popularity: &BTreeMap<String, usize>,
) -> Vec<Vec<(Option<&'a String>, Digest)>> {
    if sources.len() <= budget {
        return sources.into_iter().map(|s| vec![s]).collect();
    }
    let score = |s: &(Option<&String>, Digest)| s.0.and_then(|name| popularity.get(name)).copied().unwrap_or(0);
    let mut ranked: Vec<usize> = (0..sources.len()).collect();
    // Most popular first; ties in the sources' own (name) order.
    ranked.sort_by_key(|i| (std::cmp::Reverse(score(&sources[*i])), *i));
    let alone: BTreeSet<usize> = ranked.into_iter().take(budget - 1).collect();
    let mut groups: Vec<Vec<_>> = Vec::new();
    let mut shared = Vec::new();
    for (i, s) in sources.into_iter().enumerate() {
        if alone.contains(&i) {
            groups.push(vec![s]);
        } else {
            shared.push(s);
        }
    }
    groups.push(shared);
    groups
}

/// The image's own `annotations` plus the `org.opencontainers.image.*` ones
/// dhib knows: created (SOURCE_DATE_EPOCH, never the clock), title (the
/// label), and version, description, source and revision when declared.
fn image_annotations(job: &Job<'_>, created: u64) -> BTreeMap<String, String> {
    let mut annotations: BTreeMap<String, String> = match job.def.attrs.get("annotations") {
        Some(Value::Map(m)) => m.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string()))).collect(),
        _ => BTreeMap::new(),
    };
    annotations.insert("org.opencontainers.image.created".into(), crate::oci::rfc3339(created));
    annotations.insert("org.opencontainers.image.title".into(), job.id.label.to_string());
    for attr in ["version", "description", "source", "revision"] {
        if let Some(v) = str_attr(&job.def, attr) {
            annotations.insert(format!("org.opencontainers.image.{attr}"), v.to_string());
        }
    }
    annotations
}

/// A multi-platform image: an index over the manifests its per-platform
/// nodes built, in one layout.
fn image_index(cx: &Context<'_>, job: &Job<'_>) -> Result<ActionResult, BuildError> {
    use crate::oci;
    let mut manifests = Vec::new();
    for (_, id, r) in &job.deps {
        let m =
            r.metadata.get("manifest").and_then(|d| Digest::parse(d)).ok_or_else(|| BuildError::Invalid(format!("{id} built no image")))?;
        let size = fs::metadata(cx.store.blob_path(&m)).map(|md| md.len()).map_err(io(id))?;
        manifests.push((m, size, id.platform.clone().unwrap_or_default()));
    }
    // In the order the image lists its platforms.
    let declared: Vec<&str> = match job.def.attrs.get("platforms") {
        Some(Value::List(ps)) => ps.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    manifests.sort_by_key(|(_, _, p)| declared.iter().position(|d| d == p));
    let (index, size) = oci::store_index(cx.store, &manifests, &image_annotations(job, cx.source_date_epoch))?;
    let layout = oci::layout_tree(cx.store, &index, size, "latest")?;
    let mut r = ActionResult { outputs: BTreeMap::from([("oci".to_string(), cx.store.put_manifest(&layout)?)]), ..Default::default() };
    r.metadata.insert("manifest".into(), index.hex());
    Ok(r)
}

/// `/etc/ssl/certs/ca-certificates.crt` as Debian's update-ca-certificates
/// writes it with every certificate enabled: each `*.crt` below
/// `/usr/share/ca-certificates` and then `/usr/local/share/ca-certificates`,
/// in path order, as the layers leave them (a later layer's file wins).
fn ca_bundle(store: &Store, layers: &[crate::oci::Layer]) -> Result<Tree, String> {
    const DIRS: [&str; 2] = ["usr/share/ca-certificates/", "usr/local/share/ca-certificates/"];
    let mut certs: BTreeMap<(usize, String), Vec<u8>> = BTreeMap::new();
    for layer in layers {
        let found = crate::oci::layer_files(store, layer, |p| p.ends_with(".crt") && DIRS.iter().any(|d| p.starts_with(d)))
            .map_err(|e| e.to_string())?;
        for (path, data) in found {
            let dir = DIRS.iter().position(|d| path.starts_with(d)).expect("filtered above");
            certs.insert((dir, path), data);
        }
    }
    if certs.is_empty() {
        return Err("`ca_certificates = true`, but no layer has a certificate below /usr/share/ca-certificates or \
                    /usr/local/share/ca-certificates: add a package that has them, such as Debian's ca-certificates"
            .into());
    }
    let mut bundle = Vec::new();
    for data in certs.values() {
        bundle.extend_from_slice(data);
        if !bundle.ends_with(b"\n") {
            bundle.push(b'\n');
        }
    }
    let file = Entry::File { digest: store.put_bytes(&bundle).map_err(|e| e.to_string())?, size: bundle.len() as u64, executable: false };
    Ok(Tree::from([
        ("etc".to_string(), Entry::Dir),
        ("etc/ssl".into(), Entry::Dir),
        ("etc/ssl/certs".into(), Entry::Dir),
        ("etc/ssl/certs/ca-certificates.crt".into(), file),
    ]))
}

/// `/etc/passwd` and `/etc/group` naming root and, for another uid, `nonroot`.
fn passwd_tree(store: &Store, uid: u32) -> Result<Tree, BuildError> {
    let mut passwd = String::from("root:x:0:0:root:/root:/sbin/nologin\n");
    let mut group = String::from("root:x:0:\n");
    if uid != 0 {
        passwd.push_str(&format!("nonroot:x:{uid}:{uid}::/home/nonroot:/sbin/nologin\n"));
        group.push_str(&format!("nonroot:x:{uid}:\n"));
    }
    let file = |text: &str| -> Result<Entry, BuildError> {
        Ok(Entry::File { digest: store.put_bytes(text.as_bytes())?, size: text.len() as u64, executable: false })
    };
    Ok(Tree::from([("etc".to_string(), Entry::Dir), ("etc/group".into(), file(&group)?), ("etc/passwd".into(), file(&passwd)?)]))
}

/// A file referenced with `file(...)`, which must still have the content
/// its key was computed from.
fn keyed_file(cx: &Context<'_>, file: &str) -> Result<Vec<u8>, BuildError> {
    let bytes = crate::analysis::read_workspace_file(cx.root, file).map_err(|e| BuildError::Invalid(format!("{file}: {e}")))?;
    if cx.local_files.get(file).map(String::as_str) != Some(blake3::hash(&bytes).to_hex().as_str()) {
        return Err(BuildError::Invalid(format!("{file} changed while dhib was building; build again")));
    }
    Ok(bytes)
}

/// The tree of `file(...)` entries placed at their `to` paths (default: the
/// file's name at `/`), with their modes (default 0644). Each file must still
/// have the content its key was computed from (see [`keyed_file`]).
fn files_tree(cx: &Context<'_>, files: &[&crate::lang::value::FileRef]) -> Result<(Tree, BTreeMap<String, u32>), BuildError> {
    let mut tree = Tree::new();
    let mut modes = BTreeMap::new();
    for f in files {
        let bytes = keyed_file(cx, &f.file)?;
        let name = f.file.rsplit('/').next().unwrap_or(&f.file);
        let to = f.to.clone().unwrap_or_else(|| format!("/{name}"));
        // Analysis checked that `to` is a clean absolute path.
        let rel = to.trim_start_matches('/');
        let mut parent = String::new();
        for dir in rel.split('/').collect::<Vec<_>>().split_last().map(|(_, d)| d.to_vec()).unwrap_or_default() {
            parent = if parent.is_empty() { dir.to_string() } else { format!("{parent}/{dir}") };
            tree.insert(parent.clone(), Entry::Dir);
        }
        let mode = f.mode.map(|m| m as u32).unwrap_or(0o644);
        tree.insert(
            rel.to_string(),
            Entry::File { digest: cx.store.put_bytes(&bytes)?, size: bytes.len() as u64, executable: mode & 0o111 != 0 },
        );
        modes.insert(rel.to_string(), mode);
    }
    Ok((tree, modes))
}
