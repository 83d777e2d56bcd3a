//! Helpers shared by the end-to-end test binaries: real Debian packages and
//! small workspaces built with the real dhib binary.
#![allow(dead_code)] // each test binary uses its own subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub mod conformance;
pub mod registry;

/// The dhib binary under test, with colour off so output compares as text.
pub fn dhib() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dhib"));
    cmd.env("NO_COLOR", "1");
    cmd
}

/// The real busybox-static .deb, downloaded once into target/ with apt.
pub fn busybox_deb() -> (PathBuf, String, String) {
    debian_deb("busybox-static")
}

/// A real .deb of this machine's release, downloaded once into
/// target/test-debs with apt: (that directory, its file name, its sha256).
pub fn debian_deb(package: &str) -> (PathBuf, String, String) {
    let show = Command::new("apt-cache").args(["show", "--no-all-versions", package]).output().unwrap();
    let text = String::from_utf8(show.stdout).unwrap();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("apt-cache knows {package} ({name}); run scripts/setup.sh"))
            .to_string()
    };
    let file = field("Filename").rsplit('/').next().unwrap().to_string();
    let sha = field("SHA256");
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-debs");
    std::fs::create_dir_all(&dir).unwrap();
    static DOWNLOAD: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = DOWNLOAD.lock().unwrap();
    if !dir.join(&file).exists() {
        let tmp = tempfile::tempdir_in(&dir).unwrap();
        let out = Command::new("apt-get").args(["download", package]).current_dir(tmp.path()).output().unwrap();
        assert!(out.status.success(), "apt-get download failed: {}", String::from_utf8_lossy(&out.stderr));
        // apt names the file with the epoch (`1%3a1.35...`); the repository does not.
        let got = std::fs::read_dir(tmp.path()).unwrap().next().unwrap().unwrap().path();
        std::fs::rename(got, dir.join(&file)).unwrap();
    }
    (dir, file, sha)
}

/// The pinned files of the example catalog's `targets`, as `dhib fetch`
/// brings them (from target/dhib-mirror when an earlier run kept them there,
/// else from the Debian archive): node label → the file, in that mirror.
pub fn example_files(targets: &[&str]) -> std::collections::BTreeMap<String, PathBuf> {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mirror = repo.join("target/dhib-mirror");
    let store = tempfile::tempdir().unwrap();
    let out = dhib()
        .arg("-C")
        .arg(&repo)
        .arg("--store")
        .arg(store.path())
        .arg("fetch")
        .args(targets)
        .arg("--mirror-dir")
        .arg(&mirror)
        .args(["--output", "json"])
        .env("DHIB_FETCH_MIRRORS", &mirror)
        .output()
        .unwrap();
    assert!(out.status.success(), "dhib fetch: {}{}", stdout(&out), stderr(&out));
    stdout(&out)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["event"] == "fetched")
        .map(|e| (e["node"].as_str().unwrap().to_string(), mirror.join("sha256").join(e["sha256"].as_str().unwrap())))
        .collect()
}

/// Serves files under `root` over HTTP on 127.0.0.1 until the test ends.
pub fn serve(root: PathBuf) -> u16 {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            // Drain the headers.
            let mut line = String::new();
            while reader.read_line(&mut line).map(|n| n > 2).unwrap_or(false) {
                line.clear();
            }
            let path = request.split_whitespace().nth(1).unwrap_or("/").trim_start_matches('/').to_string();
            let mut conn = conn;
            match std::fs::read(root.join(&path)) {
                Ok(body) if !path.contains("..") => {
                    let _ = write!(conn, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                    let _ = conn.write_all(&body);
                }
                _ => {
                    let _ = write!(conn, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                }
            }
        }
    });
    port
}

pub fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// A tar.gz of the given (path, content) files under a `name/` prefix.
pub fn tarball(name: &str, files: &[(&str, &str)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default()));
    for (path, content) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(content.len() as u64);
        h.set_mode(0o755);
        h.set_cksum();
        builder.append_data(&mut h, format!("{name}/{path}"), content.as_bytes()).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

/// A workspace whose `//debian:busybox-static` is the real busybox .deb:
/// dhi.toml (with `toml` appended) and debian/BUILD.dhi (with `debian`
/// appended, e.g. an env installing it).
pub fn busybox_workspace(toml: &str, debian: &str) -> Ws {
    let (deb_dir, deb_file, deb_sha) = busybox_deb();
    let ws = Ws::empty();
    ws.write("dhi.toml", &format!("[workspace]\nname = \"t\"\n\n[debian]\nrepo = \"file://{}\"\n{toml}", deb_dir.display()));
    ws.write(
        "debian/BUILD.dhi",
        &format!(
            "deb \"busybox-static\" {{\n  version = \"1\"\n  arch = \"amd64\"\n  filename = \"{deb_file}\"\n  sha256 = \"{deb_sha}\"\n}}\n{debian}"
        ),
    );
    ws
}

/// A workspace in a temporary directory.
pub struct Ws {
    pub dir: tempfile::TempDir,
}

impl Ws {
    pub fn empty() -> Ws {
        Ws { dir: tempfile::tempdir().unwrap() }
    }

    /// A workspace from one text of `//- PATH` sections, each file's
    /// contents running to the next section:
    ///
    /// ```text
    /// //- dhi.toml
    /// [workspace]
    /// //- pkgs/BUILD.dhi
    /// source "a" { ... }
    /// ```
    pub fn fixture(text: &str) -> Ws {
        let ws = Ws::empty();
        ws.add_fixture(text);
        ws
    }

    /// Writes the files of a `//- PATH` fixture (see [`Ws::fixture`]).
    pub fn add_fixture(&self, text: &str) {
        assert!(text.trim_start().starts_with("//- "), "a fixture starts with `//- PATH`");
        for section in text.split("//- ").filter(|s| !s.trim().is_empty()) {
            let (path, body) = section.split_once('\n').unwrap_or((section, ""));
            self.write(path.trim(), body);
        }
    }

    pub fn write(&self, rel: &str, text: &str) {
        self.write_bytes(rel, text.as_bytes());
    }

    pub fn write_bytes(&self, rel: &str, bytes: &[u8]) {
        let p = self.dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn dhib(&self, args: &[&str]) -> Output {
        dhib().arg("-C").arg(self.path()).args(args).output().unwrap()
    }
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The real arm64 busybox-static .deb, beside the amd64 one in target/: its
/// pin read from the arm64 `Packages` index of this machine's own Debian
/// repository (the one apt lists for the amd64 `main` of its release).
pub fn busybox_deb_arm64() -> (PathBuf, String, String) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-debs");
    std::fs::create_dir_all(&dir).unwrap();
    static DOWNLOAD: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = DOWNLOAD.lock().unwrap();
    let index = dir.join("Packages-arm64.xz");
    let targets = Command::new("apt-get")
        .args(["indextargets", "--format", "$(URI) $(ARCHITECTURE) $(COMPONENT) $(IDENTIFIER) $(CODENAME) $(SUITE)"])
        .output()
        .unwrap();
    let targets = String::from_utf8(targets.stdout).unwrap();
    // The release itself, not its -updates or -security suites.
    let main = targets
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.len() == 6 && f[1] == "amd64" && f[2] == "main" && f[3] == "Packages" && !f[4].contains('-'))
        .expect("apt lists the amd64 main Packages index of a Debian release");
    let url = main[0].replace("/binary-amd64/", "/binary-arm64/") + ".xz";
    let repo = &main[0][..main[0].find("dists/").unwrap()];
    let fetch = |url: &str, dest: &Path, hash: Option<&str>| {
        let mut cmd = Command::new("/usr/lib/apt/apt-helper");
        cmd.args(["-q", "download-file", url]).arg(dest);
        cmd.args(hash.map(|h| format!("SHA256:{h}")));
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "apt-helper {url}: {}", String::from_utf8_lossy(&out.stderr));
    };
    if !index.exists() {
        let tmp = dir.join(".Packages-arm64.xz.part");
        fetch(&url, &tmp, None);
        std::fs::rename(&tmp, &index).unwrap();
    }
    let mut text = String::new();
    std::io::Read::read_to_string(&mut xz2::read::XzDecoder::new(std::fs::File::open(&index).unwrap()), &mut text).unwrap();
    let stanza = text.split("\n\n").find(|s| s.starts_with("Package: busybox-static\n")).expect("arm64 busybox-static");
    let field = |name: &str| stanza.lines().find_map(|l| l.strip_prefix(&format!("{name}: "))).unwrap().to_string();
    let (pool_path, sha) = (field("Filename"), field("SHA256"));
    let file = pool_path.rsplit('/').next().unwrap().to_string();
    if !dir.join(&file).exists() {
        let tmp = dir.join(format!(".{file}.part"));
        fetch(&format!("{repo}{pool_path}"), &tmp, Some(&sha));
        std::fs::rename(&tmp, dir.join(&file)).unwrap();
    }
    (dir, file, sha)
}

/// Busybox as one image for linux/amd64 and linux/arm64 (`//images:box`,
/// printing "hi"), its debs linked by `for_arch` as `dhib lock` would.
pub fn multi_platform_workspace() -> Ws {
    let (deb_dir, amd64_file, amd64_sha) = busybox_deb();
    let (arm_dir, arm64_file, arm64_sha) = busybox_deb_arm64();
    assert_eq!(deb_dir, arm_dir);
    let ws = Ws::empty();
    ws.write("dhi.toml", &format!("[workspace]\nname = \"t\"\n\n[debian]\nrepo = \"file://{}\"\n", deb_dir.display()));
    // As `dhib lock` links the builds of one package: the image names it once.
    ws.write(
        "debian/BUILD.dhi",
        &format!(
            "deb \"busybox-static\" {{\n  version = \"1\"\n  arch = \"amd64\"\n  filename = \"{amd64_file}\"\n  sha256 = \"{amd64_sha}\"\n  \
             for_arch = {{ arm64 = :busybox-static-arm64 }}\n}}\n\n\
             deb \"busybox-static-arm64\" {{\n  version = \"1\"\n  arch = \"arm64\"\n  filename = \"{arm64_file}\"\n  sha256 = \"{arm64_sha}\"\n}}\n"
        ),
    );
    ws.write(
        "images/BUILD.dhi",
        "image \"box\" {\n  packages = [//debian:busybox-static]\n  entrypoint = [\"/bin/busybox\"]\n  cmd = [\"echo\", \"hi\"]\n  \
         user = 65532\n  platforms = [\"linux/amd64\", \"linux/arm64\"]\n}\n",
    );
    ws
}

/// Copies the directory tree `from` to `to` (files and directories).
pub fn copy_tree(from: &Path, to: &Path) {
    for e in walkdir::WalkDir::new(from) {
        let e = e.unwrap();
        let dest = to.join(e.path().strip_prefix(from).unwrap());
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

/// The nodes a `--output json` build reports as built, sorted.
pub fn built_nodes(out: &Output) -> Vec<String> {
    let mut built: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["event"] == "built")
        .map(|e| e["node"].as_str().unwrap().to_string())
        .collect();
    built.sort();
    built
}
