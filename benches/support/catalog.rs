//! A synthetic catalog at Docker Hardened Images scale, written as real
//! `.dhi` files: 25,000 packages built from 25,000 pinned sources with a
//! stdlib template, 2,000 images (each with a dev variant) of ~80 transitive
//! packages, 500 customizations and a test per image.
//!
//! Shape: 50 "base" stacks of 10 libraries (`//pkgs/base0:lib0` plays zlib:
//! every stack depends on it) and 2,450 "app" stacks of 10 packages. Inside a
//! stack each package depends on the previous one; each app stack's bottom
//! depends on the tops of three base stacks. An image installs the tops of
//! two app stacks: 20 app packages + 6 base stacks + zlib ≈ 80 packages.

use std::fmt::Write as _;
use std::path::Path;

pub const BASE_STACKS: usize = 50;
pub const APP_STACKS: usize = 2450;
pub const STACK: usize = 10;
pub const IMAGES: usize = 2000;
pub const CUSTOMIZATIONS: usize = 500;

/// The file a leaf edit touches: an app stack that two images use.
pub const LEAF_FILE: &str = "pkgs/app7/BUILD.dhi";
/// The package every image depends on.
pub const EVERYONE_USES: &str = "//pkgs/base0:lib0";

fn sha(seed: usize) -> String {
    blake3::hash(seed.to_string().as_bytes()).to_hex().to_string()
}

pub fn package_file(dir: &str, prefix: &str, stack: usize, deps_of_bottom: &[String], version: &str) -> String {
    let mut s = String::from("load(\"@stdlib//build.dhi\", \"autotools\")\n\n");
    for k in 0..STACK {
        let name = format!("{prefix}{k}");
        let mut deps: Vec<String> = Vec::new();
        if k > 0 {
            deps.push(format!(":{prefix}{}", k - 1));
        } else {
            deps.extend(deps_of_bottom.iter().cloned());
        }
        let deps = deps.join(", ");
        let _ = write!(
            s,
            "source \"{name}-src\" {{\n  version = \"{version}\"\n  url = \"https://example.org/{dir}/{name}-{{version}}.tar.gz\"\n  sha256 = \"{}\"\n}}\n\n\
             package \"{name}\" {{\n  version = \"{version}\"\n  source = :{name}-src\n  env = //toolchains:gcc\n  \
             build = autotools(configure = [\"--disable-static\"])\n  runtime_deps = [{deps}]\n  \
             outputs {{\n    runtime = [\"usr/lib/**\", \"usr/bin/**\"]\n    dev = [\"usr/include/**\"]\n  }}\n  license = \"MIT\"\n}}\n\n",
            sha(stack * STACK + k),
        );
    }
    s
}

/// Writes the catalog under `root` (which must be empty or absent).
pub fn generate(root: &Path) -> std::io::Result<usize> {
    let mut files = 0;
    let mut write = |rel: String, text: String| -> std::io::Result<()> {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().expect("relative paths have a parent"))?;
        files += 1;
        std::fs::write(p, text)
    };
    write("dhi.toml".into(), "[workspace]\nname = \"synthetic\"\n".into())?;
    let mut debs = String::new();
    for d in 0..30 {
        let _ = write!(
            debs,
            "deb \"deb{d}\" {{\n  version = \"1.{d}-1\"\n  arch = \"amd64\"\n  filename = \"pool/main/d/deb{d}/deb{d}_1.{d}-1_amd64.deb\"\n  sha256 = \"{}\"\n}}\n\n",
            sha(1_000_000 + d)
        );
    }
    write("debian/BUILD.dhi".into(), debs)?;
    let toolchain: Vec<String> = (0..20).map(|d| format!("//debian:deb{d}")).collect();
    write("toolchains/BUILD.dhi".into(), format!("env \"gcc\" {{\n  packages = [{}]\n}}\n", toolchain.join(", ")))?;
    let runtime: Vec<String> = (20..30).map(|d| format!("//debian:deb{d}")).collect();
    write(
        "bases/BUILD.dhi".into(),
        format!("image \"runtime\" {{\n  base = scratch\n  packages = [{}]\n  user = 65532\n}}\n", runtime.join(", ")),
    )?;
    for b in 0..BASE_STACKS {
        let bottom = if b == 0 { vec![] } else { vec![EVERYONE_USES.to_string()] };
        write(format!("pkgs/base{b}/BUILD.dhi"), package_file(&format!("base{b}"), "lib", b, &bottom, "1.0"))?;
    }
    for a in 0..APP_STACKS {
        let bottom: Vec<String> = (0..3).map(|j| format!("//pkgs/base{}:lib9", (a * 7 + j * 13) % BASE_STACKS)).collect();
        write(format!("pkgs/app{a}/BUILD.dhi"), package_file(&format!("app{a}"), "app", BASE_STACKS + a, &bottom, "2.0"))?;
    }
    for i in 0..IMAGES {
        let (x, y) = (i % APP_STACKS, (i + 1225) % APP_STACKS);
        write(
            format!("images/img{i}/BUILD.dhi"),
            format!(
                "image \"img{i}\" {{\n  base = //bases:runtime\n  packages = [//pkgs/app{x}:app9, //pkgs/app{y}:app9]\n  user = 65532\n  \
                 entrypoint = [\"/usr/bin/app9\"]\n\n  variant \"dev\" {{\n    packages += [//debian:deb0]\n    user = 0\n  }}\n}}\n\n\
                 test \"img{i}-smoke\" {{\n  image = :img{i}\n  run = [\"/usr/bin/app9\", \"--version\"]\n  expect {{\n    exit = 0\n  }}\n}}\n"
            ),
        )?;
    }
    for c in 0..CUSTOMIZATIONS {
        write(
            format!("custom/c{c}/BUILD.dhi"),
            format!(
                "customization \"c{c}\" {{\n  base = //images/img{}:img{}\n  env = {{ TEAM = \"team{c}\" }}\n  labels = {{ \"com.example.owner\" = \"team{c}\" }}\n}}\n",
                c * 4,
                c * 4
            ),
        )?;
    }
    Ok(files)
}
