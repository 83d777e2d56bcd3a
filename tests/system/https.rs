//! Sources over HTTPS from a loopback server whose certificate is signed by a
//! CA made for the test: trusted through `SSL_CERT_FILE`, refused without it.

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use crate::common;
use common::sha256;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A CA (`ca.pem`) and a certificate for 127.0.0.1 it signed (`leaf.pem`, `leaf.key`).
fn certificates(dir: &Path) {
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    openssl(
        dir,
        &[&["req", "-x509"][..], &ec, &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=dhib test CA"]].concat(),
    );
    openssl(dir, &[&["req"][..], &ec, &["-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=127.0.0.1"]].concat());
    std::fs::write(dir.join("leaf.ext"), "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n").unwrap();
    let sign = ["x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2"];
    openssl(dir, &[&sign[..], &["-extfile", "leaf.ext", "-out", "leaf.pem"]].concat());
}

/// python's http.server behind TLS, serving `dir`; killed when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(dir: &Path) -> Server {
        let script = "import functools, http.server, ssl, sys\n\
            h = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])\n\
            s = http.server.HTTPServer(('127.0.0.1', 0), h)\n\
            c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n\
            c.load_cert_chain(sys.argv[2], sys.argv[3])\n\
            s.socket = c.wrap_socket(s.socket, server_side=True)\n\
            print(s.server_address[1], flush=True)\n\
            s.serve_forever()\n";
        let mut child = Command::new("python3")
            .args(["-c", script])
            .arg(dir.join("files"))
            .arg(dir.join("leaf.pem"))
            .arg(dir.join("leaf.key"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line.trim().parse().unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("the TLS server did not start: {line:?}")
        });
        Server { child, port }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A workspace holding only a source fetched from `url`.
fn workspace(url: &str, pin: &str) -> tempfile::TempDir {
    let ws = tempfile::tempdir().unwrap();
    std::fs::write(ws.path().join("dhi.toml"), "[workspace]\nname = \"t\"\n").unwrap();
    std::fs::create_dir_all(ws.path().join("src")).unwrap();
    let block = format!("source \"hello-src\" {{\n  url = \"{url}\"\n  sha256 = \"{pin}\"\n}}\n");
    std::fs::write(ws.path().join("src/BUILD.dhi"), block).unwrap();
    ws
}

fn build(ws: &Path, ca: Option<&Path>) -> Output {
    let mut cmd = common::dhib();
    cmd.arg("-C").arg(ws).args(["build", "//src:hello-src"]).env_remove("SSL_CERT_FILE");
    if let Some(ca) = ca {
        cmd.env("SSL_CERT_FILE", ca);
    }
    cmd.output().unwrap()
}

#[test]
fn fetches_over_https_trusting_the_ca_named_by_ssl_cert_file() {
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path());
    let content = b"hello over tls\n";
    std::fs::create_dir_all(dir.path().join("files")).unwrap();
    std::fs::write(dir.path().join("files/hello.txt"), content).unwrap();
    let server = Server::start(dir.path());
    let url = format!("https://127.0.0.1:{}/hello.txt", server.port);

    let untrusted = workspace(&url, &sha256(content));
    let refused = build(untrusted.path(), None);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{err}");
    assert!(
        err.contains(&url) && err.contains("invalid peer certificate") && err.contains("set it to a bundle holding the server's CA"),
        "{err}"
    );

    let trusted = workspace(&url, &sha256(content));
    let fetched = build(trusted.path(), Some(&dir.path().join("ca.pem")));
    let err = String::from_utf8_lossy(&fetched.stderr);
    assert!(fetched.status.success(), "{err}");
    assert!(err.contains("built //src:hello-src"), "{err}");
}
