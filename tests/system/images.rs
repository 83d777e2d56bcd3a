//! Images, customizations and `dhib run` end to end on a small workspace: a
//! real Debian .deb in the image, the real sandbox, and third-party tools
//! (skopeo, umoci, oci-image-tool) reading what dhib wrote.

use crate::common;

use std::path::Path;
use std::process::Command;

use common::{busybox_deb, stderr, stdout, Ws};
use serde_json::Value;

const HELLO: &str = "#!/bin/sh\necho \"hello $GREETING from $(/bin/busybox id -u)\"\n\
                     [ -r /etc/motd ] && /bin/busybox cat /etc/motd\nexit 0\n";

/// An image of busybox and a script, its zstd twin, and a customization of
/// it that adds a file and a variable.
fn workspace() -> Ws {
    let ws = common::busybox_workspace("", "");
    ws.write("images/hello.sh", HELLO);
    let image = |name: &str, extra: &str| {
        format!(
            "image \"{name}\" {{\n  packages = [//debian:busybox-static]\n  \
             files = [file(\"hello.sh\", to = \"/usr/bin/hello\", mode = 0o755)]\n  \
             entrypoint = [\"/bin/busybox\", \"sh\"]\n  cmd = [\"/usr/bin/hello\"]\n  \
             env = {{ GREETING = \"world\" }}\n  user = 65532\n{extra}}}\n"
        )
    };
    ws.write(
        "images/BUILD.dhi",
        &(image("hello", "")
            + "\n"
            + &image("hello-zstd", "  compression = \"zstd\"\n  source = \"https://example.com/images\"\n  revision = \"v1.2\"\n")),
    );
    ws.write("customizations/motd", "welcome to acme\n");
    ws.write(
        "customizations/BUILD.dhi",
        "customization \"hello-acme\" {\n  base = //images:hello\n  \
         add = [file(\"motd\", to = \"/etc/motd\", mode = 0o600)]\n  env = { REGION = \"eu\" }\n  \
         description = \"hello for ACME\"\n  skip_checks = { no_shell = \"busybox is what these tests run\" }\n}\n",
    );
    ws
}

/// The manifest and config of the image layout `dhib build` wrote for `rel`.
fn image(ws: &Ws, rel: &str) -> (Value, Value) {
    let layout = ws.path().join("dhib-out").join(rel);
    let read = |d: &str| -> Value {
        let hex = d.strip_prefix("sha256:").unwrap();
        serde_json::from_slice(&std::fs::read(layout.join("blobs/sha256").join(hex)).unwrap()).unwrap()
    };
    let index: Value = serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let manifest = read(index["manifests"][0]["digest"].as_str().unwrap());
    let config = read(manifest["config"]["digest"].as_str().unwrap());
    (manifest, config)
}

/// Checks the layout `dhib build` wrote for `rel` with oci-image-tool, and
/// unpacks it with umoci into `rootfs/` of the directory returned.
fn validated_rootfs(ws: &Ws, rel: &str) -> tempfile::TempDir {
    let layout = ws.path().join("dhib-out").join(rel);
    let check = Command::new("oci-image-tool").args(["validate", "--type", "image"]).arg(&layout).output().unwrap();
    assert!(check.status.success(), "oci-image-tool: {}{}", stdout(&check), stderr(&check));
    let bundle = tempfile::tempdir().unwrap();
    let unpack = Command::new("umoci")
        .args(["raw", "unpack", "--rootless", "--image"])
        .arg(format!("{}:latest", layout.display()))
        .arg(bundle.path().join("rootfs"))
        .output()
        .unwrap();
    assert!(unpack.status.success(), "umoci: {}", stderr(&unpack));
    bundle
}

fn layer_digests(manifest: &Value) -> Vec<String> {
    manifest["layers"].as_array().unwrap().iter().map(|l| l["digest"].as_str().unwrap().to_string()).collect()
}

#[test]
fn run_shows_the_programs_output_as_the_image_user_and_its_exit_code() {
    let ws = workspace();
    let out = ws.dhib(&["run", "//images:hello"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "hello world from 65532\n");
    // Arguments replace the image's cmd; the program's exit code is dhib's.
    let out = ws.dhib(&["run", "//images:hello", "--", "-c", "echo $0 in $PWD; exit 7"]);
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    assert_eq!(stdout(&out), "sh in /\n");
}

#[test]
fn run_has_no_network_unless_asked() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut buf = [0u8; 1024];
            let _ = conn.read(&mut buf);
            let _ = conn.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 4\r\n\r\npong");
        }
    });
    let ws = workspace();
    let fetch = format!("/bin/busybox wget -q -O- http://127.0.0.1:{port}/");
    let isolated = ws.dhib(&["run", "//images:hello", "--", "-c", &fetch]);
    assert!(!isolated.status.success(), "reached the host without --net: {}", stdout(&isolated));
    let shared = ws.dhib(&["run", "--net", "//images:hello", "--", "-c", &fetch]);
    assert!(shared.status.success(), "{}", stderr(&shared));
    assert_eq!(stdout(&shared), "pong");
}

#[test]
fn run_names_exactly_one_image() {
    let ws = workspace();
    let out = ws.dhib(&["run", "//..."]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("E0506") && err.contains("names 3 images"), "{err}");
    let out = ws.dhib(&["run", "//debian:busybox-static"]);
    assert!(stderr(&out).contains("names 0 images"), "{}", stderr(&out));
}

#[test]
fn a_customization_reuses_its_base_layers_and_rebuilds_with_its_overlay() {
    let ws = workspace();
    let out = ws.dhib(&["build", "//images:hello", "//customizations/..."]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (base, _) = image(&ws, "images/hello");
    let (custom, config) = image(&ws, "customizations/hello-acme");
    let (base_layers, custom_layers) = (layer_digests(&base), layer_digests(&custom));
    assert_eq!(custom_layers.len(), base_layers.len() + 1, "one layer for the added file");
    assert_eq!(custom_layers[..base_layers.len()], base_layers[..], "the base's layers are reused by digest");
    // The base's settings carry over under the customization's own.
    assert_eq!(config["config"]["Env"], serde_json::json!(["GREETING=world", "REGION=eu"]));
    assert_eq!(config["config"]["User"], "65532");
    assert_eq!(config["config"]["Entrypoint"], serde_json::json!(["/bin/busybox", "sh"]));
    let run = ws.dhib(&["run", "//customizations:hello-acme"]);
    assert_eq!(stdout(&run), "hello world from 65532\nwelcome to acme\n", "{}", stderr(&run));

    // A new overlay rebuilds the customization alone: one new layer.
    ws.write("customizations/motd", "welcome to acme, again\n");
    let out = ws.dhib(&["build", "//images:hello", "//customizations/..."]);
    let err = stderr(&out);
    assert!(err.contains("built //customizations:hello-acme") && !err.contains("built //images:hello"), "{err}");
    let (_, _) = image(&ws, "images/hello");
    let (again, _) = image(&ws, "customizations/hello-acme");
    let again = layer_digests(&again);
    assert_eq!(again[..base_layers.len()], base_layers[..]);
    assert_ne!(again.last(), custom_layers.last());

    // A new base rebuilds both; the layers of the base's unchanged packages
    // keep their digests.
    ws.write("images/hello.sh", &HELLO.replace("hello", "hi"));
    let out = ws.dhib(&["build", "//images:hello", "//customizations/..."]);
    let err = stderr(&out);
    assert!(err.contains("built //customizations:hello-acme") && err.contains("built //images:hello"), "{err}");
    let (new_base, _) = image(&ws, "images/hello");
    assert_eq!(layer_digests(&new_base)[0], base_layers[0], "the busybox layer is unchanged");
    let run = ws.dhib(&["run", "//customizations:hello-acme"]);
    assert_eq!(stdout(&run), "hi world from 65532\nwelcome to acme, again\n", "{}", stderr(&run));
}

#[test]
fn file_modes_and_paths_are_as_declared_and_tools_accept_the_image() {
    let ws = workspace();
    let out = ws.dhib(&["build", "//customizations:hello-acme"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let bundle = validated_rootfs(&ws, "customizations/hello-acme");
    let mode = |p: &str| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(bundle.path().join("rootfs").join(p)).unwrap().permissions().mode() & 0o7777
    };
    assert_eq!(mode("etc/motd"), 0o600);
    assert_eq!(mode("usr/bin/hello"), 0o755);
    // dpkg's record of the Debian package, where scanners look for it.
    let status = std::fs::read_to_string(bundle.path().join("rootfs/var/lib/dpkg/status.d/busybox-static")).unwrap();
    assert!(status.starts_with("Package: busybox-static\nStatus: install ok installed\n"), "{status}");
    assert!(status.contains("\nArchitecture: amd64\n") && status.contains("\nVersion: "), "{status}");
    let passwd = std::fs::read_to_string(bundle.path().join("rootfs/etc/passwd")).unwrap();
    assert!(passwd.contains("nonroot:x:65532:65532:"), "{passwd}");
}

#[test]
fn zstd_layers_are_valid_and_run() {
    let ws = workspace();
    let out = ws.dhib(&["build", "//images:hello-zstd"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (manifest, _) = image(&ws, "images/hello-zstd");
    for layer in manifest["layers"].as_array().unwrap() {
        assert_eq!(layer["mediaType"], "application/vnd.oci.image.layer.v1.tar+zstd");
    }
    let annotations = &manifest["annotations"];
    assert_eq!(annotations["org.opencontainers.image.source"], "https://example.com/images");
    assert_eq!(annotations["org.opencontainers.image.revision"], "v1.2");
    assert_eq!(annotations["org.opencontainers.image.created"], "1970-01-01T00:00:00Z");
    // umoci and oci-image-tool predate zstd layers; skopeo checks them.
    let copy = tempfile::tempdir().unwrap();
    let layout = ws.path().join("dhib-out/images/hello-zstd");
    let out = Command::new("skopeo")
        .arg("copy")
        .arg(format!("oci:{}:latest", layout.display()))
        .arg(format!("oci:{}:latest", copy.path().display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "skopeo: {}", stderr(&out));
    let run = ws.dhib(&["run", "//images:hello-zstd"]);
    assert_eq!(stdout(&run), "hello world from 65532\n", "{}", stderr(&run));
}

#[test]
fn check_reproducible_builds_again_from_nothing_and_compares() {
    let ws = workspace();
    let out = ws.dhib(&["build", "//customizations:hello-acme", "--check-reproducible"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("reproducible: 3 nodes gave identical outputs"), "{err}");
    // The scratch store of the second build is gone.
    let store = ws.path().join(".dhib");
    let leftovers: Vec<_> = std::fs::read_dir(&store)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("reproduce-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert!(Path::new(&store).exists());

    // A build step that writes a random number is caught.
    ws.write("debian/env.dhi", "env \"busybox\" {\n  packages = [:busybox-static]\n}\n");
    ws.write(
        "pkgs/BUILD.dhi",
        "package \"stamp\" {\n  version = \"1\"\n  env = //debian:busybox\n  \
         build { steps = [\"cat /proc/sys/kernel/random/uuid > $DESTDIR/stamp\"] }\n  outputs { runtime = [\"stamp\"] }\n}\n",
    );
    let out = ws.dhib(&["build", "//pkgs:stamp", "--check-reproducible"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("NOT REPRODUCIBLE //pkgs:stamp") && err.contains("runtime: sha256:"), "{err}");
    assert!(err.contains("1 of 3 nodes differ"), "{err}");
}

#[test]
fn a_multi_platform_image_is_an_index_whose_arm64_image_holds_arm64_binaries() {
    let ws = common::multi_platform_workspace();
    let out = ws.dhib(&["build", "//images:box"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let layout = ws.path().join("dhib-out/images/box");
    assert!(!ws.path().join("dhib-out/images/box@linux-arm64").exists(), "the platforms are inside the index's layout");
    let blob = |d: &str| std::fs::read(layout.join("blobs/sha256").join(d.trim_start_matches("sha256:"))).unwrap();
    let json = |d: &str| -> Value { serde_json::from_slice(&blob(d)).unwrap() };
    let top: Value = serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    assert_eq!(top["manifests"][0]["mediaType"], "application/vnd.oci.image.index.v1+json");
    let index = json(top["manifests"][0]["digest"].as_str().unwrap());
    let platforms: Vec<&str> =
        index["manifests"].as_array().unwrap().iter().map(|m| m["platform"]["architecture"].as_str().unwrap()).collect();
    assert_eq!(platforms, ["amd64", "arm64"]);
    // Each platform's busybox is an ELF for its machine: x86-64 (62), AArch64 (183).
    for (entry, machine) in index["manifests"].as_array().unwrap().iter().zip([62u16, 183]) {
        let manifest = json(entry["digest"].as_str().unwrap());
        let config = json(manifest["config"]["digest"].as_str().unwrap());
        assert_eq!(config["architecture"], entry["platform"]["architecture"]);
        let layer = blob(manifest["layers"][0]["digest"].as_str().unwrap());
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(&layer[..]));
        let mut elf = Vec::new();
        for e in tar.entries().unwrap() {
            let mut e = e.unwrap();
            if e.path().unwrap().ends_with("bin/busybox") {
                std::io::Read::read_to_end(&mut e, &mut elf).unwrap();
            }
        }
        assert_eq!(&elf[..4], b"\x7fELF");
        assert_eq!(u16::from_le_bytes([elf[18], elf[19]]), machine, "{}", entry["platform"]);
    }
    // skopeo reads the index and each platform's image from the layout.
    for arch in ["amd64", "arm64"] {
        let copy = tempfile::tempdir().unwrap();
        let out = Command::new("skopeo")
            .args(["--override-arch", arch, "copy"])
            .arg(format!("oci:{}:latest", layout.display()))
            .arg(format!("oci:{}:latest", copy.path().display()))
            .output()
            .unwrap();
        assert!(out.status.success(), "skopeo {arch}: {}", stderr(&out));
    }
    // `dhib run` runs this machine's platform.
    let run = ws.dhib(&["run", "//images:box"]);
    assert_eq!(stdout(&run), "hi\n", "{}", stderr(&run));
}

#[test]
fn a_layer_budget_merges_the_least_shared_packages_into_one_layer() {
    let ws = workspace();
    ws.write("debian/env.dhi", "env \"busybox\" {\n  packages = [:busybox-static]\n}\n");
    let package = |name: &str, text: &str| {
        format!(
            "package \"{name}\" {{\n  version = \"1\"\n  env = //debian:busybox\n  \
             build {{ steps = [\"mkdir -p $DESTDIR/usr/share/{name}\", \"echo {text} > $DESTDIR/usr/share/{name}/says\"] }}\n  \
             outputs {{ runtime = [\"usr/**\"] }}\n}}\n"
        )
    };
    let write_packages = |c: &str| ws.write("pkgs/BUILD.dhi", &(package("a", "alpha") + &package("b", "beta") + &package("c", c)));
    write_packages("gamma");
    // busybox, a, b, c and the user: five layers unless budgeted.
    ws.write(
        "budget/BUILD.dhi",
        "image \"small\" {\n  packages = [//debian:busybox-static, //pkgs:a, //pkgs:b, //pkgs:c]\n  \
         entrypoint = [\"/bin/busybox\", \"cat\", \"/usr/share/a/says\", \"/usr/share/b/says\", \"/usr/share/c/says\"]\n  \
         user = 65532\n  max_layers = 3\n}\n",
    );
    let out = ws.dhib(&["build", "//budget:small"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (manifest, _) = image(&ws, "budget/small");
    let before = layer_digests(&manifest);
    assert_eq!(before.len(), 3, "{manifest}");
    let run = ws.dhib(&["run", "//budget:small"]);
    assert_eq!(stdout(&run), "alpha\nbeta\ngamma\n", "{}", stderr(&run));

    // c shares the last package layer with a and b: only that layer changes.
    write_packages("delta");
    assert!(ws.dhib(&["build", "//budget:small"]).status.success());
    let (manifest, _) = image(&ws, "budget/small");
    let after = layer_digests(&manifest);
    assert_eq!(after[0], before[0], "busybox keeps its own layer");
    assert_ne!(after[1], before[1]);
    assert_eq!(after[2], before[2], "the user layer");
    let run = ws.dhib(&["run", "//budget:small"]);
    assert_eq!(stdout(&run), "alpha\nbeta\ndelta\n", "{}", stderr(&run));

    // A budget the base, files and user already exhaust is an error.
    ws.write("budget/BUILD.dhi", "image \"tiny\" {\n  packages = [//pkgs:a]\n  user = 65532\n  max_layers = 1\n}\n");
    let out = ws.dhib(&["build", "//budget:tiny"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("max_layers = 1 leaves no layer for its packages"), "{}", stderr(&out));
}

#[test]
fn lock_pins_each_architecture_and_links_the_builds_of_a_package() {
    let (debs, amd64_file, _) = busybox_deb();
    let (_, arm64_file, arm64_sha) = common::busybox_deb_arm64();
    let ws = Ws::empty();
    let repo = ws.path().join("repo");
    ws.write(
        "dhi.toml",
        &format!(
            "[workspace]\nname = \"t\"\n\n[debian]\nrepo = \"file://{}\"\narch = [\"amd64\", \"arm64\"]\n\
             packages = [\"busybox-static\"]\nlock = \"debian/BUILD.dhi\"\n",
            repo.display()
        ),
    );
    let show = Command::new("apt-cache").args(["show", "--no-all-versions", "busybox-static"]).output().unwrap();
    ws.write_bytes("Packages-amd64", &show.stdout);
    let arm64_index = debs.join("Packages-arm64.xz");
    let amd64_index = ws.path().join("Packages-amd64");
    // Without an arm64 index, dhib says how to give one.
    let out = ws.dhib(&["lock", "--index", amd64_index.to_str().unwrap()]);
    if !stderr(&out).contains("locked") {
        assert!(stderr(&out).contains("--index arm64=FILE"), "{}", stderr(&out));
    }
    let out = ws.dhib(&["lock", "--index", amd64_index.to_str().unwrap(), "--index", &format!("arm64={}", arm64_index.display())]);
    assert!(out.status.success(), "{}", stderr(&out));
    let locked = std::fs::read_to_string(ws.path().join("debian/BUILD.dhi")).unwrap();
    assert!(locked.contains("for_arch = { arm64 = :busybox-static-arm64 }"), "{locked}");
    assert!(locked.contains("deb \"busybox-static-arm64\" {") && locked.contains(&format!("sha256 = \"{arm64_sha}\"")), "{locked}");
    // A repository with the pool paths the lock names.
    for line in locked.lines().filter_map(|l| l.trim().strip_prefix("filename = \"")) {
        let pool = line.trim_end_matches('"');
        let base = pool.rsplit('/').next().unwrap();
        assert!(base == amd64_file || base == arm64_file, "{pool}");
        std::fs::create_dir_all(repo.join(pool).parent().unwrap()).unwrap();
        std::fs::copy(debs.join(base), repo.join(pool)).unwrap();
    }
    ws.write(
        "images/BUILD.dhi",
        "image \"box\" {\n  packages = [//debian:busybox-static]\n  entrypoint = [\"/bin/busybox\"]\n  cmd = [\"echo\", \"hi\"]\n  \
         user = 65532\n  platforms = [\"linux/amd64\", \"linux/arm64\"]\n}\n",
    );
    let run = ws.dhib(&["run", "//images:box"]);
    assert_eq!(stdout(&run), "hi\n", "{}", stderr(&run));
    let q = ws.dhib(&["query", "deps(//images:box@linux/arm64)"]);
    assert!(stdout(&q).contains("//debian:busybox-static-arm64"), "{}", stdout(&q));
}

#[test]
fn declared_ca_certificates_become_the_bundle_programs_read() {
    let (ca_dir, ca_file, ca_sha) = common::debian_deb("ca-certificates");
    let ws = workspace();
    assert_eq!(ca_dir, busybox_deb().0);
    ws.write(
        "debian/ca.dhi",
        &format!(
            "deb \"ca-certificates\" {{\n  version = \"1\"\n  arch = \"all\"\n  filename = \"{ca_file}\"\n  sha256 = \"{ca_sha}\"\n}}\n"
        ),
    );
    let acme = "-----BEGIN CERTIFICATE-----\nQUNNRSBDb3JwIHRlc3QgQ0E=\n-----END CERTIFICATE-----\n";
    ws.write("tls/acme.crt", acme);
    ws.write(
        "tls/BUILD.dhi",
        "image \"tls\" {\n  packages = [//debian:busybox-static, //debian:ca-certificates]\n  \
         files = [file(\"acme.crt\", to = \"/usr/local/share/ca-certificates/acme.crt\")]\n  ca_certificates = true\n  \
         entrypoint = [\"/bin/busybox\", \"sh\", \"-c\"]\n  \
         cmd = [\"/bin/busybox grep -c 'BEGIN CERTIFICATE' /etc/ssl/certs/ca-certificates.crt; /bin/busybox tail -n 3 /etc/ssl/certs/ca-certificates.crt\"]\n  \
         user = 65532\n}\n",
    );
    let run = ws.dhib(&["run", "//tls:tls"]);
    assert!(run.status.success(), "{}", stderr(&run));
    let out = stdout(&run);
    let (count, tail) = out.split_once('\n').unwrap();
    assert!(count.parse::<u32>().unwrap() > 100, "Debian's certificates are in the bundle: {out}");
    assert_eq!(tail, acme, "the local certificate comes last");

    // Declared without any certificate in the image: a clear error.
    ws.write("tls/BUILD.dhi", "image \"bare\" {\n  packages = [//debian:busybox-static]\n  ca_certificates = true\n  user = 65532\n}\n");
    let out = ws.dhib(&["build", "//tls:bare"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no layer has a certificate below /usr/share/ca-certificates"), "{}", stderr(&out));
}

#[test]
fn a_customization_adds_the_layers_of_an_oci_layout_made_by_another_tool() {
    let ws = workspace();
    // A vendor's agent, packed by umoci into a layout in the workspace.
    let layout = ws.path().join("vendor/agent");
    let bundle = tempfile::tempdir().unwrap();
    let sh = |script: &str| {
        let out = Command::new("sh").args(["-ec", script]).output().unwrap();
        assert!(out.status.success(), "{script}: {}", stderr(&out));
    };
    sh(&format!(
        "umoci init --layout {l}; umoci new --image {l}:latest; umoci unpack --rootless --image {l}:latest {b}/b; \
         mkdir -p {b}/b/rootfs/opt/agent; echo 'agent 2.1' > {b}/b/rootfs/opt/agent/VERSION; \
         umoci repack --image {l}:latest {b}/b",
        l = layout.display(),
        b = bundle.path().display()
    ));
    ws.write(
        "customizations/BUILD.dhi",
        "customization \"hello-agent\" {\n  base = //images:hello\n  layers_from = [file(\"//vendor/agent/index.json\")]\n  \
         cmd = [\"-c\", \"/bin/busybox cat /opt/agent/VERSION\"]\n}\n",
    );
    let run = ws.dhib(&["run", "//customizations:hello-agent"]);
    assert_eq!(stdout(&run), "agent 2.1\n", "{}", stderr(&run));
    assert!(ws.dhib(&["build", "//images:hello", "//customizations:hello-agent"]).status.success());
    let (custom, _) = image(&ws, "customizations/hello-agent");
    let (base, _) = image(&ws, "images/hello");
    let agent_index: Value = serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let agent_manifest: Value = serde_json::from_slice(
        &std::fs::read(
            layout.join("blobs/sha256").join(agent_index["manifests"][0]["digest"].as_str().unwrap().trim_start_matches("sha256:")),
        )
        .unwrap(),
    )
    .unwrap();
    let (custom, base, agent) = (layer_digests(&custom), layer_digests(&base), layer_digests(&agent_manifest));
    assert_eq!(custom, [base, agent.clone()].concat(), "the base's layers, then the agent's, all by digest");

    // A blob that does not match its digest is refused.
    let blob = layout.join("blobs/sha256").join(agent.last().unwrap().trim_start_matches("sha256:"));
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[20] ^= 1;
    std::fs::write(&blob, bytes).unwrap();
    let store = ws.path().join(".dhib");
    std::fs::remove_dir_all(&store).unwrap();
    let out = ws.dhib(&["build", "//customizations:hello-agent"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("does not match its digest"), "{}", stderr(&out));
}

#[test]
fn hard_links_stay_hard_links_in_layers() {
    let ws = workspace();
    ws.write("debian/env.dhi", "env \"busybox\" {\n  packages = [:busybox-static]\n}\n");
    ws.write(
        "pkgs/BUILD.dhi",
        "package \"twins\" {\n  version = \"1\"\n  env = //debian:busybox\n  build { steps = [\n    \
         \"mkdir -p $DESTDIR/usr/share/twins\",\n    \"echo same > $DESTDIR/usr/share/twins/a\",\n    \
         \"ln $DESTDIR/usr/share/twins/a $DESTDIR/usr/share/twins/b\",\n  ] }\n  outputs { runtime = [\"usr/**\"] }\n}\n",
    );
    ws.write("twins/BUILD.dhi", "image \"twins\" {\n  packages = [//pkgs:twins]\n  user = 65532\n}\n");
    let out = ws.dhib(&["build", "//twins:twins"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let bundle = validated_rootfs(&ws, "twins/twins");
    use std::os::unix::fs::MetadataExt;
    let (a, b) = (bundle.path().join("rootfs/usr/share/twins/a"), bundle.path().join("rootfs/usr/share/twins/b"));
    let (a, b) = (std::fs::metadata(a).unwrap(), std::fs::metadata(b).unwrap());
    assert_eq!((a.ino(), a.nlink()), (b.ino(), 2), "one file, two names");
}
