//! A package: its source extracted, its dependencies under `/opt/deps`,
//! its steps run in the sandbox, `$DESTDIR` split into named outputs.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::env::{materialized_env, merged_usr};
use super::source::source_strip_prefix;
use crate::job::*;
use crate::sandbox::{self, Mount, Step};
use crate::{archive, deb};
use dhib_graph::Role;
use dhib_lang::eval::TargetDef;
use dhib_lang::value::Value;
use dhib_store::{ActionResult, Entry, Store, Tree};

/// The working tree of a package build.
struct PackageWork {
    src: PathBuf,
    out: PathBuf,
    deps: PathBuf,
    log: PathBuf,
}

pub(crate) fn package(cx: &Context<'_>, job: &Job<'_>, work: &Path) -> Result<ActionResult, BuildError> {
    let w = PackageWork { src: work.join("src"), out: work.join("out"), deps: work.join("deps"), log: work.join("build.log") };
    fs::create_dir_all(&w.out).map_err(io(w.out.display()))?;
    fs::create_dir_all(&w.deps).map_err(io(w.deps.display()))?;
    let mut rootfs = None;
    let mut env_vars: BTreeMap<String, String> = BTreeMap::new();
    for (roles, id, r) in &job.deps {
        for role in roles.iter() {
            match role {
                Role::Source if r.outputs.contains_key("tree") => {
                    fs::create_dir_all(&w.src).map_err(io(w.src.display()))?;
                    cx.store.materialize(&r.outputs["tree"], &w.src)?;
                }
                Role::Source => {
                    let (_, digest) = the_file(cx.store, r)?;
                    let strip = source_strip_prefix(r);
                    let opts = archive::ExtractOptions { strip_prefix: strip, ..Default::default() };
                    archive::extract(&cx.store.blob_path(&digest), &w.src, &opts)?;
                }
                Role::Env => {
                    rootfs = r.outputs.get("rootfs").copied();
                    env_vars = crate::facts::env_vars(r).map_err(|e| BuildError::Invalid(format!("{id}: {e}")))?;
                }
                // Named in both, a dependency is installed once, as `deps`.
                Role::RuntimeDeps if roles.contains(Role::Deps) => {}
                Role::Deps | Role::RuntimeDeps if r.outputs.contains_key("file") => {
                    // A Debian package (say, a -dev package) is installed whole.
                    let (_, deb_file) = the_file(cx.store, r)?;
                    merged_usr(&w.deps)?;
                    deb::unpack(&cx.store.blob_path(&deb_file), &w.deps)?;
                }
                Role::Deps | Role::RuntimeDeps => {
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
        run_logged(cx, &step, command, (i + 1, steps.len()), &w.log, &log)?;
    }
    let log_digest = cx.store.put_file(&w.log)?;
    let mut r = split_outputs(cx.store, &w.out, &job.def)?;
    r.log = Some(log_digest);
    Ok(r)
}

/// Runs one step of a build (`index` of `count`), its output appended to
/// the build's log; a failure carries the log's tail and the stored log.
pub(crate) fn run_logged(
    cx: &Context<'_>,
    step: &Step,
    command: &str,
    (index, count): (usize, usize),
    log_path: &Path,
    log: &File,
) -> Result<(), BuildError> {
    use std::io::Write;
    writeln!(&*log, "+ {command}").map_err(io(log_path.display()))?;
    let outcome = sandbox::run(step, cx.sandbox, &sandbox::base_env(cx.source_date_epoch), log)?;
    if outcome.success() {
        return Ok(());
    }
    let status = match (&outcome.exceeded, outcome.timed_out, outcome.code) {
        (Some(bound), ..) => format!("killed: it {bound}"),
        (None, true, _) => format!("timed out after {}s (timeout)", outcome.elapsed.as_secs()),
        (None, false, Some(c)) => format!("exit status {c}"),
        (None, false, None) => "killed by a signal".to_string(),
    };
    let log_digest = cx.store.put_file(log_path)?;
    Err(BuildError::Step { index, count, command: command.to_string(), status, tail: tail(log_path, 20), log: log_digest })
}

/// The bounds of a package's steps: its `timeout` (seconds per step),
/// `max_processes` and `disk_budget_mb`, else the defaults.
pub(crate) fn step_limits(def: &TargetDef) -> sandbox::Limits {
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

/// Splits an install tree into the package's named outputs by glob; files no
/// glob claims go to `other`, so nothing installed is silently dropped.
pub(crate) fn split_outputs(store: &Store, out: &Path, def: &TargetDef) -> Result<ActionResult, BuildError> {
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
