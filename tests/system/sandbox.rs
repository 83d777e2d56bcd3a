//! The build sandbox, with a real bubblewrap and a busybox root file system.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

use dhib::exec::sandbox::{self, Limits, Mode, Mount, Step};

/// A minimal root file system: static busybox and the mount points.
fn busybox_root(dir: &Path) {
    let busybox = Path::new("/bin/busybox");
    assert!(busybox.exists(), "busybox-static is installed by scripts/setup.sh");
    std::fs::create_dir_all(dir.join("usr/bin")).unwrap();
    std::fs::copy(busybox, dir.join("usr/bin/busybox")).unwrap();
    for applet in ["sh", "env", "id", "cat", "ls", "nc", "wget", "sleep", "touch", "echo"] {
        std::os::unix::fs::symlink("busybox", dir.join("usr/bin").join(applet)).unwrap();
    }
    std::os::unix::fs::symlink("usr/bin", dir.join("bin")).unwrap();
    for d in ["proc", "dev", "tmp", "src", "out"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
}

struct Run {
    ok: bool,
    timed_out: bool,
    log: String,
}

fn run(script: &str, mounts: Vec<Mount>, timeout: Duration) -> Run {
    sandbox::probe().expect("bubblewrap works here (scripts/setup.sh installs it)");
    let root = tempfile::tempdir().unwrap();
    busybox_root(root.path());
    let step = Step {
        argv: vec!["/bin/sh".into(), "-c".into(), script.into()],
        rootfs: root.path().to_path_buf(),
        mounts,
        workdir: "/tmp".into(),
        env: BTreeMap::from([("JOBS".to_string(), "2".to_string())]),
        limits: Limits { timeout, ..Limits::default() },
        network: false,
        user: None,
    };
    let log_file = tempfile::NamedTempFile::new().unwrap();
    let outcome = sandbox::run(&step, Mode::Bwrap, &sandbox::base_env(0), log_file.as_file()).unwrap();
    let mut log = String::new();
    File::open(log_file.path()).unwrap().read_to_string(&mut log).unwrap();
    Run { ok: outcome.success(), timed_out: outcome.timed_out, log }
}

#[test]
fn the_environment_is_fixed_and_nothing_of_the_host_leaks() {
    // SAFETY: tests in this binary do not read the environment concurrently.
    unsafe { std::env::set_var("DHIB_HOST_SECRET", "leak") };
    let r = run("env | sort; id -u", vec![], Duration::from_secs(30));
    assert!(r.ok, "{}", r.log);
    // PWD and SHLVL are the shell's own.
    let want = "HOME=/tmp\nJOBS=2\nLANG=C\nLC_ALL=C\nPATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin\nPWD=/tmp\nSHELL=/bin/sh\nSHLVL=1\nSOURCE_DATE_EPOCH=0\nTZ=UTC\nUSER=root\n0\n";
    assert_eq!(r.log, want);
}

#[test]
fn only_declared_directories_are_visible_and_inputs_are_read_only() {
    let input = tempfile::tempdir().unwrap();
    std::fs::write(input.path().join("in.txt"), "input").unwrap();
    let out = tempfile::tempdir().unwrap();
    let mounts = vec![
        Mount { host: input.path().into(), dest: "/src".into(), writable: false },
        Mount { host: out.path().into(), dest: "/out".into(), writable: true },
    ];
    let r = run(
        "cat /src/in.txt; test -e /etc/hostname && echo HOST-ETC; test -e /root && echo HOST-ROOT; \
         touch /src/new 2>/dev/null && echo WROTE-INPUT; echo built > /out/result",
        mounts,
        Duration::from_secs(30),
    );
    assert!(r.ok, "{}", r.log);
    assert!(r.log.starts_with("input"), "{}", r.log);
    assert!(!r.log.contains("HOST-"), "host files are visible: {}", r.log);
    assert!(!r.log.contains("WROTE-INPUT"), "inputs are writable: {}", r.log);
    assert!(!input.path().join("new").exists());
    assert_eq!(std::fs::read_to_string(out.path().join("result")).unwrap(), "built\n");
}

#[test]
fn a_step_cannot_reach_a_listener_on_the_hosts_loopback() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let r = run(
        &format!(
            "echo hello | nc -w 2 127.0.0.1 {port} && echo CONNECTED; wget -q -T 2 -O- http://127.0.0.1:{port}/ && echo FETCHED; true"
        ),
        vec![],
        Duration::from_secs(30),
    );
    assert!(r.ok, "{}", r.log);
    assert!(!r.log.contains("CONNECTED") && !r.log.contains("FETCHED"), "{}", r.log);
    assert!(listener.accept().is_err(), "the host's listener saw a connection");
}

#[test]
fn steps_are_killed_at_their_timeout() {
    let start = std::time::Instant::now();
    let r = run("sleep 30", vec![], Duration::from_millis(500));
    assert!(r.timed_out && !r.ok);
    assert!(start.elapsed() < Duration::from_secs(10));
}
