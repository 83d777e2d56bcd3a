//! Test nodes: a command run inside an image's root file system in the
//! sandbox, its output and exit code compared with what the test expects,
//! and expectations on the image's files. A test that runs and fails is a
//! result (`test_status = failed`), not a build error: it is reported, and
//! run again next time rather than cached.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::facts;
use crate::job::{BuildError, Context, Job};
use crate::run;
use crate::sandbox::{self, Limits, Step};
use dhib_graph::Role;
use dhib_lang::value::Value;
use dhib_store::{ActionResult, Digest};

/// How long a test command may run unless it says otherwise.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// How much of a failing command's output a report quotes.
const QUOTED: usize = 2000;

pub fn test(cx: &Context<'_>, job: &Job<'_>, work: &Path) -> Result<ActionResult, BuildError> {
    if cx.sandbox != sandbox::Mode::Bwrap {
        return Err(BuildError::Invalid(format!("{}: tests run inside the image, which needs the sandbox", job.id)));
    }
    let (image_id, _, top) = job.image(Role::Image)?;
    // A multi-platform image is tested as this machine's platform.
    let host = format!("linux/{}", run::host_arch());
    let manifests = dhib_oci::platform_manifests(cx.store, &top)?;
    let manifest = manifests
        .iter()
        .find(|(_, p)| *p == host)
        .map(|(d, _)| *d)
        .ok_or_else(|| BuildError::Invalid(format!("{image_id} has no {host} image to test on this machine")))?;
    let rootfs = work.join("rootfs");
    fs::create_dir_all(&rootfs).map_err(|e| BuildError::Io(format!("{}: {e}", rootfs.display())))?;
    run::unpack(cx.store, &manifest, &rootfs).map_err(|e| BuildError::Invalid(format!("{image_id}: {e}")))?;

    let start = Instant::now();
    let mut failures = Vec::new();
    if let Some(Value::Map(files)) = job.def.attrs.get("files") {
        // Owners are not kept by unpacking without privileges: they are read
        // from the layers.
        let wants_owner = files.values().any(|e| matches!(e, Value::Map(m) if m.contains_key("owner")));
        let view = if wants_owner { Some(dhib_oci::rootfs::rootfs(cx.store, &manifest)?) } else { None };
        for (path, expect) in files {
            if let Value::Map(expect) = expect {
                failures.extend(check_file(&rootfs, path, expect));
                if let (Some(Value::Str(want)), Some(view)) = (expect.get("owner"), &view) {
                    // The path with its links resolved, as the layers hold it.
                    let real =
                        resolve_in_root(&rootfs, path).and_then(|p| p.strip_prefix(&rootfs).ok().map(|r| r.to_string_lossy().into_owned()));
                    if let Some(n) = real.and_then(|r| view.get(&r)) {
                        let owner = format!("{}:{}", n.uid, n.gid);
                        if owner != *want {
                            failures.push(format!("{path} is owned by {owner}, expected {want}"));
                        }
                    }
                }
            }
        }
    }
    let mut output = String::new();
    if let Some(Value::List(argv)) = job.def.attrs.get("run") {
        let argv: Vec<String> = argv.iter().filter_map(|v| v.as_str().map(str::to_string)).collect();
        let (problems, shown) = run_command(cx, job, &manifest, &rootfs, argv, work)?;
        failures.extend(problems);
        output = shown;
    }
    let mut r = ActionResult::default();
    let message = (!failures.is_empty()).then(|| {
        let mut message = failures.join("; ");
        if !output.is_empty() {
            message.push_str(&format!("\n{output}"));
        }
        message
    });
    let outcome = facts::TestOutcome { passed: failures.is_empty(), duration_ms: start.elapsed().as_millis() as u64, message };
    facts::set_test_outcome(&mut r, &outcome);
    Ok(r)
}

/// Runs the test's command as the test's (else the image's) user, with the
/// image's environment plus the test's; returns what did not match, and the
/// output to quote when something did not.
fn run_command(
    cx: &Context<'_>,
    job: &Job<'_>,
    manifest: &Digest,
    rootfs: &Path,
    argv: Vec<String>,
    work: &Path,
) -> Result<(Vec<String>, String), BuildError> {
    let (config, _) = dhib_oci::image_config(cx.store, manifest)?;
    let user_spec = match job.def.attrs.get("user") {
        Some(Value::Int(u)) => Some(u.to_string()),
        Some(Value::Str(u)) => Some(u.clone()),
        _ => config.user.clone().filter(|u| !u.is_empty()),
    };
    let user = user_spec.map(|u| run::resolve_user(rootfs, &u)).transpose().map_err(|e| BuildError::Invalid(format!("{}: {e}", job.id)))?;
    let mut env: BTreeMap<String, String> =
        config.env.iter().filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect();
    env.entry("PATH".into()).or_insert_with(|| run::DEFAULT_PATH.into());
    if let Some(Value::Map(m)) = job.def.attrs.get("env") {
        env.extend(m.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string()))));
    }
    let timeout = match job.def.attrs.get("timeout") {
        Some(Value::Int(s)) if *s > 0 => Duration::from_secs(*s as u64),
        _ => DEFAULT_TIMEOUT,
    };
    let step = Step {
        argv,
        rootfs: rootfs.to_path_buf(),
        mounts: Vec::new(),
        workdir: run::workdir(rootfs, config.workdir.as_deref()).map_err(|e| BuildError::Invalid(format!("{}: {e}", job.id)))?,
        env,
        limits: Limits { timeout, ..Limits::default() },
        network: false,
        user,
    };
    let (out_path, err_path) = (work.join("stdout"), work.join("stderr"));
    let open = |p: &Path| File::create(p).map_err(|e| BuildError::Io(format!("{}: {e}", p.display())));
    let outcome = sandbox::run_split(&step, cx.sandbox, &BTreeMap::new(), &open(&out_path)?, &open(&err_path)?)?;
    let read = |p: &Path| String::from_utf8_lossy(&fs::read(p).unwrap_or_default()).into_owned();
    let (stdout, stderr) = (read(&out_path), read(&err_path));

    let expect = match job.def.attrs.get("expect") {
        Some(Value::Map(m)) => m.clone(),
        _ => BTreeMap::new(),
    };
    let mut problems = Vec::new();
    if outcome.timed_out {
        problems.push(format!("timed out after {}s", timeout.as_secs()));
    } else {
        let want = match expect.get("exit") {
            Some(Value::Int(c)) => *c as i32,
            _ => 0,
        };
        match outcome.code {
            Some(c) if c == want => {}
            Some(c) => problems.push(format!("exit code {c}, expected {want}")),
            None => problems.push("killed by a signal".into()),
        }
    }
    for (stream, text) in [("stdout", &stdout), ("stderr", &stderr)] {
        if let Some(Value::Str(exact)) = expect.get(stream) {
            if text != exact {
                problems.push(format!("{stream} was {text:?}, expected {exact:?}"));
            }
        }
        if let Some(Value::Str(pattern)) = expect.get(&format!("{stream}_regex")) {
            let re = regex::Regex::new(pattern)
                .map_err(|e| BuildError::Invalid(format!("{}: `{stream}_regex` is not a regular expression: {e}", job.id)))?;
            if !re.is_match(text) {
                problems.push(format!("{stream} does not match /{pattern}/"));
            }
        }
    }
    let quote = |s: &str| s.chars().take(QUOTED).collect::<String>();
    let shown = format!("--- stdout\n{}--- stderr\n{}", quote(&stdout), quote(&stderr));
    Ok((problems, shown))
}

/// What `path` in the root file system fails of `expect` (`exists`, `mode`,
/// `executable`). Links are followed inside the root, as the container
/// would.
fn check_file(rootfs: &Path, path: &str, expect: &BTreeMap<String, Value>) -> Vec<String> {
    use std::os::unix::fs::PermissionsExt;
    let mut problems = Vec::new();
    let found = resolve_in_root(rootfs, path).and_then(|p| fs::metadata(p).ok());
    let want_exists = !matches!(expect.get("exists"), Some(Value::Bool(false)));
    match (&found, want_exists) {
        (None, true) => return vec![format!("{path} does not exist")],
        (Some(_), false) => return vec![format!("{path} exists, expected it absent")],
        (None, false) => return problems,
        (Some(_), true) => {}
    }
    let meta = found.expect("matched above");
    let mode = meta.permissions().mode() & 0o7777;
    if let Some(Value::Int(want)) = expect.get("mode") {
        if mode != *want as u32 {
            problems.push(format!("{path} has mode {mode:04o}, expected {:04o}", want));
        }
    }
    if let Some(Value::Bool(want)) = expect.get("executable") {
        let is = meta.is_file() && mode & 0o111 != 0;
        if is != *want {
            problems.push(format!("{path} is {}executable", if is { "" } else { "not " }));
        }
    }
    problems
}

/// `path` inside `root`, its links resolved against `root` (never out of
/// it); `None` when it does not exist.
fn resolve_in_root(root: &Path, path: &str) -> Option<std::path::PathBuf> {
    let mut parts: Vec<String> = path.split('/').filter(|p| !p.is_empty()).map(str::to_string).rev().collect();
    let mut current = Vec::<String>::new();
    let mut hops = 0;
    while let Some(part) = parts.pop() {
        match part.as_str() {
            "." => continue,
            ".." => {
                current.pop();
                continue;
            }
            _ => {}
        }
        current.push(part);
        let here = root.join(current.join("/"));
        let meta = fs::symlink_metadata(&here).ok()?;
        if meta.file_type().is_symlink() {
            hops += 1;
            if hops > 40 {
                return None;
            }
            let target = fs::read_link(&here).ok()?;
            current.pop();
            let target = target.to_string_lossy().into_owned();
            if target.starts_with('/') {
                current.clear();
            }
            parts.extend(target.split('/').filter(|p| !p.is_empty()).map(str::to_string).rev());
        }
    }
    Some(root.join(current.join("/")))
}
