//! Hermetic execution of one build step with bubblewrap.
//!
//! Why bubblewrap: it needs no daemon and no setuid helper when run as root,
//! works on this kernel's hybrid cgroups where crun and podman do not, and
//! gives every isolation a build step needs with one exec: new user, pid,
//! net, ipc, uts and mount namespaces (`--unshare-all`), a root file system
//! that is exactly the build environment (read-only), and only the declared
//! directories bound on top. The network namespace has only its own
//! loopback, so not even a listener on the host's 127.0.0.1 is reachable.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How steps are isolated. `None` exists for debugging only and is recorded
/// wherever results are described (e.g. provenance).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Bwrap,
    None,
}

/// A host directory visible inside the sandbox.
#[derive(Debug, Clone)]
pub struct Mount {
    pub host: PathBuf,
    pub dest: String,
    pub writable: bool,
}

#[derive(Debug, Clone)]
pub struct Limits {
    pub timeout: Duration,
    /// Largest file a step may write, in bytes (RLIMIT_FSIZE).
    pub max_file_size: u64,
    /// Address space per process, in bytes (RLIMIT_AS).
    pub max_memory: u64,
    /// Open files per process (RLIMIT_NOFILE).
    pub max_open_files: u64,
    /// Processes of the step at once: a pids cgroup where this machine
    /// lets dhib make one, and RLIMIT_NPROC (which binds only non-root).
    pub max_processes: u64,
    /// Bytes the step may hold in its writable mounts and its `/tmp`
    /// together (the `/tmp` tmpfs is sized to it; the mounts are measured
    /// while it runs, and the step is killed past it).
    pub max_disk: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(3600),
            max_file_size: 8 << 30,
            max_memory: 16 << 30,
            max_open_files: 4096,
            max_processes: 1024,
            max_disk: 20 << 30,
        }
    }
}

/// One command to run in a build environment.
#[derive(Debug, Clone)]
pub struct Step {
    pub argv: Vec<String>,
    /// The root file system (the build environment), mounted read-only at `/`.
    /// It must contain the mount points `proc`, `dev`, `tmp` and every `dest`.
    pub rootfs: PathBuf,
    pub mounts: Vec<Mount>,
    pub workdir: String,
    /// Variables on top of the fixed environment ([`base_env`]).
    pub env: BTreeMap<String, String>,
    pub limits: Limits,
    pub network: bool,
    /// The uid and gid to run as; `None` is root, the only id a build step
    /// needs (it owns nothing outside its own mounts).
    pub user: Option<(u32, u32)>,
}

#[derive(Debug)]
pub struct Outcome {
    /// The exit code, or `None` if the step was killed (by a signal or the timeout).
    pub code: Option<i32>,
    pub timed_out: bool,
    /// A bound the step ran into (disk, processes), in words.
    pub exceeded: Option<String>,
    pub elapsed: Duration,
}

impl Outcome {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("cannot create a sandbox: {0}")]
    Unavailable(String),
    #[error("cannot run the step: {0}")]
    Spawn(std::io::Error),
}

/// The environment every step starts from: nothing of the host's.
pub fn base_env(source_date_epoch: u64) -> BTreeMap<String, String> {
    [
        ("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"),
        ("HOME", "/tmp"),
        ("TZ", "UTC"),
        ("LC_ALL", "C"),
        ("LANG", "C"),
        ("SHELL", "/bin/sh"),
        ("USER", "root"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .chain([("SOURCE_DATE_EPOCH".to_string(), source_date_epoch.to_string())])
    .collect()
}

/// Checks that bubblewrap exists and can create every namespace here.
pub fn probe() -> Result<(), SandboxError> {
    let out = Command::new("bwrap")
        .args(["--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "--", "/bin/true"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| SandboxError::Unavailable(format!("bwrap (package bubblewrap) cannot be run: {e}")))?;
    if !out.status.success() {
        return Err(SandboxError::Unavailable(format!(
            "bwrap cannot create namespaces on this machine: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// The bwrap command line for a step (without the step's argv).
fn bwrap_args(step: &Step) -> Vec<String> {
    let mut a: Vec<String> = ["--unshare-all", "--die-with-parent", "--new-session", "--clearenv"].iter().map(|s| s.to_string()).collect();
    if step.network {
        a.push("--share-net".into());
    }
    if let Some((uid, gid)) = step.user {
        a.extend(["--unshare-user".into(), "--uid".into(), uid.to_string(), "--gid".into(), gid.to_string()]);
    }
    a.extend(["--ro-bind".into(), path_str(&step.rootfs), "/".into()]);
    a.extend(["--proc", "/proc", "--dev", "/dev"].map(String::from));
    a.extend(["--size".into(), step.limits.max_disk.to_string(), "--tmpfs".into(), "/tmp".into()]);
    for m in &step.mounts {
        a.extend([if m.writable { "--bind" } else { "--ro-bind" }.into(), path_str(&m.host), m.dest.clone()]);
    }
    a.extend(["--chdir".into(), step.workdir.clone()]);
    a.extend(["--hostname".into(), "dhib".into()]);
    a
}

fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Runs a step, sending its stdout and stderr to `log`.
pub fn run(step: &Step, mode: Mode, env: &BTreeMap<String, String>, log: &File) -> Result<Outcome, SandboxError> {
    let out = log.try_clone().map_err(SandboxError::Spawn)?;
    let err = log.try_clone().map_err(SandboxError::Spawn)?;
    spawn_and_wait(step, mode, env, [Stdio::null(), out.into(), err.into()])
}

/// Runs a step, sending its stdout to `out` and its stderr to `err`.
pub fn run_split(step: &Step, mode: Mode, env: &BTreeMap<String, String>, out: &File, err: &File) -> Result<Outcome, SandboxError> {
    let out = out.try_clone().map_err(SandboxError::Spawn)?;
    let err = err.try_clone().map_err(SandboxError::Spawn)?;
    spawn_and_wait(step, mode, env, [Stdio::null(), out.into(), err.into()])
}

/// Runs a step on this process's stdin, stdout and stderr (`dhib run`).
pub fn run_attached(step: &Step, mode: Mode, env: &BTreeMap<String, String>) -> Result<Outcome, SandboxError> {
    spawn_and_wait(step, mode, env, [Stdio::inherit(), Stdio::inherit(), Stdio::inherit()])
}

fn spawn_and_wait(
    step: &Step,
    mode: Mode,
    env: &BTreeMap<String, String>,
    [stdin, stdout, stderr]: [Stdio; 3],
) -> Result<Outcome, SandboxError> {
    let mut cmd = match mode {
        Mode::Bwrap => {
            let mut c = Command::new("bwrap");
            c.args(bwrap_args(step));
            for (k, v) in env.iter().chain(step.env.iter()) {
                c.args(["--setenv", k, v]);
            }
            c.arg("--").args(&step.argv);
            c.env_clear();
            c
        }
        Mode::None => {
            let mut c = Command::new(&step.argv[0]);
            c.args(&step.argv[1..]).env_clear().envs(env).envs(&step.env).current_dir(&step.workdir);
            c
        }
    };
    cmd.stdin(stdin).stdout(stdout).stderr(stderr);
    let limits = step.limits.clone();
    let pids = PidsCgroup::new(limits.max_processes);
    let join = pids.as_ref().map(|c| c.procs.as_raw_fd());
    // SAFETY: only async-signal-safe calls (write, setrlimit) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if let Some(fd) = join {
                // "0" moves the writing process, before it execs bwrap.
                if libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            set_limit(libc::RLIMIT_FSIZE, limits.max_file_size)?;
            set_limit(libc::RLIMIT_AS, limits.max_memory)?;
            set_limit(libc::RLIMIT_NOFILE, limits.max_open_files)?;
            set_limit(libc::RLIMIT_NPROC, limits.max_processes)?;
            Ok(())
        });
    }
    let writable: Vec<PathBuf> = step.mounts.iter().filter(|m| m.writable).map(|m| m.host.clone()).collect();
    let start = Instant::now();
    let mut child = cmd.spawn().map_err(SandboxError::Spawn)?;
    let over_disk = || {
        (writable.iter().map(|p| disk_usage(p)).sum::<u64>() > limits.max_disk)
            .then(|| format!("wrote more than {} MiB to its directories (disk_budget_mb)", limits.max_disk >> 20))
    };
    let mut measured = Instant::now();
    let mut exceeded = None;
    let outcome = loop {
        if let Some(status) = child.try_wait().map_err(SandboxError::Spawn)? {
            // A step quicker than the polls is measured once at its end.
            exceeded = exceeded.or_else(over_disk);
            let code = if exceeded.is_some() { None } else { status.code() };
            break Outcome { code, timed_out: false, exceeded, elapsed: start.elapsed() };
        }
        let timed_out = start.elapsed() >= step.limits.timeout;
        if measured.elapsed() >= DISK_POLL && exceeded.is_none() {
            measured = Instant::now();
            exceeded = over_disk();
        }
        if timed_out || exceeded.is_some() {
            // bwrap's child dies with it (--die-with-parent), and with the
            // namespace's first process every other one.
            let _ = child.kill();
            let _ = child.wait();
            break Outcome { code: None, timed_out, exceeded, elapsed: start.elapsed() };
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let hit_pids = pids.as_ref().is_some_and(PidsCgroup::hit_max);
    Ok(match outcome {
        Outcome { exceeded: None, .. } if hit_pids && !outcome.success() => {
            Outcome { exceeded: Some(format!("ran into its limit of {} processes (max_processes)", limits.max_processes)), ..outcome }
        }
        o => o,
    })
}

/// How often a running step's writable directories are measured.
const DISK_POLL: Duration = Duration::from_secs(1);

/// Bytes of the files below `dir` (by blocks, so sparse files count as
/// what they take).
fn disk_usage(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    walkdir::WalkDir::new(dir).into_iter().filter_map(|e| e.ok()).filter_map(|e| e.metadata().ok()).map(|m| m.blocks() * 512).sum()
}

/// A pids cgroup of one step, removed when dropped. Made under the cgroup
/// v2 hierarchy or v1's `pids` controller when dhib may write there (as
/// root, usually); elsewhere `None`, and RLIMIT_NPROC is the only bound.
struct PidsCgroup {
    dir: PathBuf,
    procs: File,
}

impl PidsCgroup {
    fn new(max: u64) -> Option<PidsCgroup> {
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let name = format!("dhib-{}-{}", std::process::id(), SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        // Below dhib's own cgroup, which is where it may make children.
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        let own_in = |controllers: &str| {
            own.lines().find_map(|l| {
                let mut parts = l.splitn(3, ':');
                let (_, list, path) = (parts.next()?, parts.next()?, parts.next()?);
                (list == controllers || list.split(',').any(|c| c == controllers)).then(|| path.trim_start_matches('/').to_string())
            })
        };
        let bases = [
            own_in("pids").map(|p| Path::new("/sys/fs/cgroup/pids").join(p)),
            own_in("").map(|p| Path::new("/sys/fs/cgroup/unified").join(&p)),
            own_in("").map(|p| Path::new("/sys/fs/cgroup").join(&p)),
        ];
        bases.into_iter().flatten().find_map(|base| {
            if !base.join("cgroup.procs").exists() {
                return None;
            }
            let dir = base.join(&name);
            std::fs::create_dir(&dir).ok()?;
            let ok = std::fs::write(dir.join("pids.max"), max.to_string()).is_ok();
            match (ok, File::options().write(true).open(dir.join("cgroup.procs"))) {
                (true, Ok(procs)) => Some(PidsCgroup { dir, procs }),
                _ => {
                    let _ = std::fs::remove_dir(&dir);
                    None
                }
            }
        })
    }

    /// Whether a fork of the step was refused for the limit.
    fn hit_max(&self) -> bool {
        std::fs::read_to_string(self.dir.join("pids.events"))
            .ok()
            .and_then(|t| t.split_whitespace().nth(1).and_then(|n| n.parse::<u64>().ok()))
            .is_some_and(|n| n > 0)
    }
}

impl Drop for PidsCgroup {
    fn drop(&mut self) {
        // Its processes are gone once bwrap's namespace is; the kernel may
        // take a moment to release the cgroup.
        for _ in 0..50 {
            if std::fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn set_limit(resource: libc::__rlimit_resource_t, value: u64) -> std::io::Result<()> {
    let lim = libc::rlimit { rlim_cur: value as libc::rlim_t, rlim_max: value as libc::rlim_t };
    // SAFETY: setrlimit reads a valid, initialized struct.
    if unsafe { libc::setrlimit(resource, &lim) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
