//! Real registries on loopback for tests: Debian's docker-registry (no
//! referrers API) and ferro-oci-server (with it).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// docker-registry serving on a free loopback port, killed when dropped.
pub struct Registry {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Registry {
    pub fn start() -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("reg.yml");
        let storage = dir.path().join("storage");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nstorage: {{filesystem: {{rootdirectory: {}}}, delete: {{enabled: true}}}}\nhttp: {{addr: 127.0.0.1:0}}\n",
                storage.display()
            ),
        )
        .unwrap();
        let (child, port) = serve(&config);
        Registry { child, port, _dir: dir }
    }

    /// Stops docker-registry and starts it again on the same storage (on
    /// another port), as an operator's restart does: its blobs stay, its
    /// upload sessions are forgotten (their state is signed with a secret
    /// each process makes anew).
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        (self.child, self.port) = serve(&self._dir.path().join("reg.yml"));
    }

    /// ferro-oci-server, which has the OCI 1.1 referrers API. It does not
    /// say which port it got, so it is given a free one.
    pub fn start_ferro() -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/target/tools/bin/ferro-oci-server"))
            .env("FERRO_OCI_LISTEN", format!("127.0.0.1:{port}"))
            .env("FERRO_OCI_STORAGE_DIR", dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ferro-oci-server is installed (scripts/test-deps.sh)");
        let registry = Registry { child, port, _dir: dir };
        for _ in 0..100 {
            if http_get(&format!("http://127.0.0.1:{port}/v2/"), "application/json").0 == 200 {
                return registry;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("ferro-oci-server does not answer on port {port}");
    }
}

/// docker-registry serving `config`, and the port it listens on.
fn serve(config: &std::path::Path) -> (Child, u16) {
    let mut child = Command::new("docker-registry")
        .arg("serve")
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("docker-registry is installed (scripts/setup.sh)");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let port = loop {
        let Some(Ok(line)) = lines.next() else {
            let _ = child.kill();
            panic!("docker-registry exited before listening");
        };
        if let Some(rest) = line.split("listening on 127.0.0.1:").nth(1) {
            break rest.chars().take_while(char::is_ascii_digit).collect::<String>().parse().unwrap();
        }
    };
    // Keep draining its log so it never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (child, port)
}

/// GET `url` accepting `accept`: the status (0 when nothing answers) and the body.
pub fn http_get(url: &str, accept: &str) -> (u16, Vec<u8>) {
    let out = Command::new("curl").args(["-s", "-H", &format!("Accept: {accept}"), "-w", "%{http_code}", url]).output().unwrap();
    let (body, status) = out.stdout.split_at(out.stdout.len().saturating_sub(3));
    (String::from_utf8_lossy(status).parse().unwrap_or(0), body.to_vec())
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
