//! `dhib run`: an image's root file system unpacked from its layers into a
//! scratch directory of the store, and its entrypoint run there in the
//! sandbox, as the image's user, with the image's environment and working
//! directory, and without network unless asked.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::Duration;

use crate::archive::{self, ExtractOptions, Format};
use crate::sandbox::{self, Limits, Mode, Step};
use petgraph::stable_graph::NodeIndex;

use dhib_analysis::{Analysis, Analyzed};
use dhib_core::diag::Diag;
use dhib_graph::query::NodeSet;
use dhib_oci::Compression;
use dhib_store::{Digest, Store};

use crate::{build, resolve, Event, Request};

/// The PATH of images that set none (the one container runtimes use).
pub(crate) const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Image(String),
    #[error(transparent)]
    Store(#[from] dhib_store::StoreError),
    #[error(transparent)]
    Archive(#[from] archive::ArchiveError),
    #[error(transparent)]
    Sandbox(#[from] sandbox::SandboxError),
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
}

/// This machine's architecture in OCI terms.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

pub struct RunOptions {
    /// Replaces the image's `cmd` (the arguments after its entrypoint).
    pub args: Vec<String>,
    pub network: bool,
}

/// Runs the image `manifest` and returns its exit code (128 + signal when
/// it was killed, as shells report it).
pub fn run_image(store: &Store, manifest: &Digest, opts: &RunOptions) -> Result<i32, RunError> {
    let (config, arch) = dhib_oci::image_config(store, manifest)?;
    let host = host_arch();
    if arch != host {
        return Err(RunError::Image(format!("the image is built for {arch}; this machine runs {host}")));
    }
    let mut argv = config.entrypoint.clone().unwrap_or_default();
    if opts.args.is_empty() {
        argv.extend(config.cmd.clone().unwrap_or_default());
    } else {
        argv.extend(opts.args.iter().cloned());
    }
    if argv.is_empty() {
        return Err(RunError::Image("the image has no entrypoint or cmd; give a command after `--`".into()));
    }
    let scratch = store.root().join("run");
    fs::create_dir_all(&scratch).map_err(|e| RunError::Io(scratch.display().to_string(), e))?;
    let rootfs = tempfile::tempdir_in(&scratch).map_err(|e| RunError::Io(scratch.display().to_string(), e))?;
    unpack(store, manifest, rootfs.path())?;
    let user = match config.user.as_deref() {
        None | Some("") => None,
        Some(u) => Some(resolve_user(rootfs.path(), u)?),
    };
    let mut env: BTreeMap<String, String> =
        config.env.iter().filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect();
    env.entry("PATH".into()).or_insert_with(|| DEFAULT_PATH.into());
    let step = Step {
        argv,
        rootfs: rootfs.path().to_path_buf(),
        mounts: Vec::new(),
        workdir: workdir(rootfs.path(), config.workdir.as_deref())?,
        env,
        // A program the user runs by hand is stopped by the user.
        limits: Limits { timeout: Duration::from_secs(u64::MAX / 4), ..Limits::default() },
        network: opts.network,
        user,
    };
    let outcome = sandbox::run_attached(&step, Mode::Bwrap, &BTreeMap::new())?;
    Ok(outcome.code.unwrap_or(128 + libc::SIGKILL))
}

/// The image's working directory, made in `rootfs` when the layers lack it,
/// as container runtimes do.
pub(crate) fn workdir(rootfs: &Path, workdir: Option<&str>) -> Result<String, RunError> {
    let dir = workdir.filter(|w| !w.is_empty()).unwrap_or("/");
    let path = rootfs.join(dir.trim_start_matches('/'));
    if !path.exists() {
        fs::create_dir_all(&path).map_err(|e| RunError::Io(path.display().to_string(), e))?;
    }
    Ok(dir.to_string())
}

/// Extracts the layers in order onto `dest`, each with the safe extractor
/// into its own directory and then moved over the ones below, and adds the
/// mount points the sandbox needs. Layers that delete files of earlier ones
/// (whiteouts) are refused rather than applied wrongly: dhib never writes
/// them.
pub(crate) fn unpack(store: &Store, manifest: &Digest, dest: &Path) -> Result<(), RunError> {
    let io = |p: &Path| {
        let shown = p.display().to_string();
        move |e| RunError::Io(shown, e)
    };
    for (i, layer) in dhib_oci::manifest_layers(store, manifest)?.into_iter().enumerate() {
        let path = store.blob_path(&layer.digest);
        let file = fs::File::open(&path).map_err(io(&path))?;
        let format = match layer.compression {
            Compression::Gzip => Format::TarGz,
            Compression::Zstd => Format::TarZst,
        };
        let unpacked = dest.with_extension(format!("layer{i}"));
        let opts = ExtractOptions { rootfs: true, ..Default::default() };
        archive::extract_tar(archive::decompress(format, std::io::BufReader::new(file)), &unpacked, &opts)?;
        for entry in walkdir::WalkDir::new(&unpacked).min_depth(1).sort_by_file_name() {
            let entry = entry.map_err(|e| RunError::Image(e.to_string()))?;
            let rel = entry.path().strip_prefix(&unpacked).expect("below the walk's root");
            if dhib_oci::is_whiteout(&entry.file_name().to_string_lossy()) {
                return Err(RunError::Image(format!(
                    "layer {} deletes files of the layers below it ({}), which dhib run does not support",
                    layer.digest,
                    rel.display()
                )));
            }
            let target = dest.join(rel);
            let existing = fs::symlink_metadata(&target).ok();
            if entry.file_type().is_dir() {
                // A directory merges with the one below and replaces anything
                // else, links included: no later path then resolves through a
                // link, which could point out of the root.
                match existing {
                    Some(m) if m.is_dir() => {}
                    Some(_) => {
                        fs::remove_file(&target).map_err(io(&target))?;
                        fs::create_dir(&target).map_err(io(&target))?;
                    }
                    None => fs::create_dir(&target).map_err(io(&target))?,
                }
                continue;
            }
            match existing {
                Some(m) if m.is_dir() => fs::remove_dir_all(&target).map_err(io(&target))?,
                Some(_) => fs::remove_file(&target).map_err(io(&target))?,
                None => {}
            }
            fs::rename(entry.path(), &target).map_err(io(&target))?;
        }
        fs::remove_dir_all(&unpacked).map_err(io(&unpacked))?;
    }
    for dir in ["proc", "dev", "tmp"] {
        let p = dest.join(dir);
        if !p.exists() {
            fs::create_dir_all(&p).map_err(io(&p))?;
        }
    }
    Ok(())
}

/// `uid[:gid]`, numeric or by name from the image's `/etc/passwd` and
/// `/etc/group`; a numeric uid alone runs with the gid of the same number,
/// as dhib's images define their user.
pub(crate) fn resolve_user(rootfs: &Path, spec: &str) -> Result<(u32, u32), RunError> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let lookup = |file: &str, name: &str| -> Option<(u32, Option<u32>)> {
        let text = fs::read_to_string(rootfs.join(file)).ok()?;
        text.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.first() != Some(&name) {
                return None;
            }
            Some((f.get(2)?.parse().ok()?, f.get(3).and_then(|g| g.parse().ok())))
        })
    };
    let unknown = |file: &str, name: &str| RunError::Image(format!("`{name}` of the image's user `{spec}` is not in its /{file}"));
    let (uid, primary) = match user.parse::<u32>() {
        Ok(n) => (n, None),
        Err(_) => lookup("etc/passwd", user).ok_or_else(|| unknown("etc/passwd", user))?,
    };
    let gid = match group {
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => lookup("etc/group", g).map(|(id, _)| id).ok_or_else(|| unknown("etc/group", g))?,
        },
        None => primary.unwrap_or(uid),
    };
    Ok((uid, gid))
}

/// Builds the one image (or customization) `text` names, for `dhib run`;
/// returns the store holding it and its manifest digest.
pub fn build_one_image(
    analysis: &Analysis,
    analyzed: &Analyzed,
    text: &str,
    req: &Request,
    on_event: &(dyn Fn(&Event) + Sync),
) -> Result<(Store, dhib_store::Digest), Diag> {
    use dhib_graph::NodeKind;
    use dhib_lang::schema::Kind;
    let set = resolve(analysis, analyzed, text)?;
    let is_image = |n: &NodeIndex| matches!(analyzed.graph.kind(*n), Some(NodeKind::Target(Kind::Image | Kind::Customization)));
    let mut images: Vec<NodeIndex> = set.iter().copied().filter(is_image).collect();
    // A multi-platform image stands for its per-platform images.
    let platforms: Vec<NodeIndex> = images
        .iter()
        .flat_map(|n| analyzed.graph.dependencies(*n).filter(|d| analyzed.graph.node(*d).label == analyzed.graph.node(*n).label))
        .collect();
    if !platforms.is_empty() {
        images.retain(|n| analyzed.graph.node(*n).platform.is_some());
        images.extend(platforms);
        images.sort();
        images.dedup();
    }
    // A multi-platform image runs as this machine's platform.
    let host = format!("linux/{}", host_arch());
    let same_image = images.windows(2).all(|w| analyzed.graph.node(w[0]).label == analyzed.graph.node(w[1]).label);
    let chosen = images.iter().copied().find(|n| analyzed.graph.node(*n).platform.as_deref() == Some(host.as_str()));
    let node = match (&images[..], chosen) {
        ([one], _) => *one,
        ([_, ..], Some(native)) if same_image => native,
        _ => {
            let names: Vec<String> = images.iter().take(5).map(|n| analyzed.graph.node(*n).to_string()).collect();
            let d = Diag::plain("E0506", format!("`{text}` names {} images; dhib run runs one", images.len()));
            return Err(if names.is_empty() {
                d.with_help("name an image or a customization, e.g. dhib run //images/lua:lua")
            } else {
                d.with_help(format!("for example: {}", names.join(", ")))
            });
        }
    };
    let summary = build(analysis, analyzed, &NodeSet::from([node]), req, on_event)?;
    let id = analyzed.graph.node(node);
    let store = Store::open(&req.store).map_err(|e| Diag::plain("E0502", e.to_string()))?;
    let manifest = analyzed
        .keys
        .get(id)
        .and_then(|key| store.ac_get(&key))
        .and_then(|r| crate::facts::manifest(&r))
        .filter(|_| summary.ok())
        .ok_or_else(|| Diag::plain("E0507", format!("`{id}` did not build, so there is nothing to run")))?;
    Ok((store, manifest))
}
