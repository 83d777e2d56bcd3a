//! An image or customization: its base's layers and config as the start,
//! a layer per deb and per package (compressed in parallel), a layer of
//! the files it adds, a user layer; then config and manifest.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self};
use std::path::Path;
use std::sync::Arc;

use super::env::{collect_debs, merged_usr};
use super::image_files::{ca_bundle, files_tree, passwd_tree};
use crate::deb;
use crate::job::*;
use dhib_graph::{NodeId, Role, Roles};
use dhib_lang::eval::TargetDef;
use dhib_lang::schema::Kind;
use dhib_lang::value::Value;
use dhib_store::{ActionResult, Digest, Store, Tree};

/// The platform's architecture name in OCI terms.
pub(crate) fn oci_arch(platform: &str) -> &str {
    platform.rsplit('/').next().unwrap_or("amd64")
}

/// Assembles an image or a customization: the base's layers as they are
/// (shared by digest), then one layer per Debian package and per built
/// package, a layer of the files the definition adds, and a layer with the
/// image user's `/etc/passwd` and `/etc/group` when it sets a user. The
/// config is the base's with this definition's settings on top.
pub(crate) fn image(cx: &Context<'_>, job: &Job<'_>, work: &Path) -> Result<ActionResult, BuildError> {
    use dhib_oci;
    use rayon::prelude::*;
    let def = &job.def;
    let mtime = cx.source_date_epoch;
    let compression = match str_attr(def, "compression") {
        Some("zstd") => dhib_oci::Compression::Zstd,
        _ => dhib_oci::Compression::Gzip,
    };
    let mut layers: Vec<dhib_oci::Layer> = Vec::new();
    let mut debs: BTreeMap<String, Digest> = BTreeMap::new();
    let mut trees: Vec<Digest> = Vec::new();
    let mut run = dhib_oci::RunConfig::default();
    for (roles, id, r) in &job.deps {
        for role in roles.iter() {
            match role {
                Role::Base => {
                    let m = crate::facts::manifest(r)
                        .ok_or_else(|| BuildError::Invalid(format!("{id} is not an image this version can build on")))?;
                    layers.extend(dhib_oci::manifest_layers(cx.store, &m)?);
                    run = dhib_oci::image_config(cx.store, &m)?.0;
                }
                Role::Packages => {}
                other => return Err(BuildError::Invalid(format!("{}: unexpected dependency {id} ({other})", job.id))),
            }
        }
    }
    for r in shipped(job) {
        if r.outputs.contains_key("file") {
            collect_debs(cx.store, r, &mut debs)?;
        } else if let Some(t) = r.outputs.get("runtime") {
            trees.push(*t);
        }
    }
    // A deb (by name) or a stored tree, grouped into layers: one each, unless
    // that exceeds the image's layer budget.
    let sources: Vec<(Option<&String>, Digest)> =
        debs.iter().map(|(name, d)| (Some(name), *d)).chain(trees.iter().map(|t| (None, *t))).collect();
    let ca = matches!(def.attrs.get("ca_certificates"), Some(Value::Bool(true)));
    let fixed = layers.len() + usize::from(has_files(def)) + usize::from(ca) + usize::from(sets_user(def, &run));
    let groups = match def.attrs.get("max_layers") {
        Some(Value::Int(max)) => {
            let budget = usize::try_from(*max).unwrap_or(0).checked_sub(fixed).filter(|b| *b > 0).ok_or_else(|| {
                BuildError::Invalid(format!(
                    "{}: max_layers = {max} leaves no layer for its packages: the base, the added files, the CA bundle and the user take {fixed}",
                    job.id
                ))
            })?;
            budget_groups(sources, budget, &deb_popularity(cx.store, &job.deps)?)
        }
        _ => sources.into_iter().map(|s| vec![s]).collect(),
    };
    // Unpacking and compressing are the slow part: each layer is made once
    // per store, and the missing ones in parallel.
    let source_tree = |deb: Option<&String>, digest: &Digest| -> Result<Tree, BuildError> {
        let Some(name) = deb else { return Ok(cx.store.get_tree(digest)?) };
        let root = work.join("debs").join(name);
        merged_usr(&root)?;
        let blob = cx.store.blob_path(digest);
        deb::unpack(&blob, &root)?;
        let control = deb::read_control(&blob)?;
        let status = root.join("var/lib/dpkg/status.d");
        fs::create_dir_all(&status).map_err(io(status.display()))?;
        fs::write(status.join(&control.package), control.status_stanza()).map_err(io(status.display()))?;
        Ok(cx.store.get_tree(&cx.store.put_tree(&root)?)?)
    };
    let package_layers: Vec<dhib_oci::Layer> = groups
        .par_iter()
        .map(|group| {
            let (what, id) = match &group[..] {
                [(deb, digest)] => (if deb.is_some() { "deb" } else { "tree" }, *digest),
                _ => {
                    let ids: Vec<String> = group.iter().map(|(deb, d)| format!("{}:{d}", deb.is_some())).collect();
                    ("group", Digest::of(ids.join(" ").as_bytes()))
                }
            };
            dhib_oci::cached_layer(cx.store, what, &id, mtime, compression, || -> Result<Tree, BuildError> {
                let mut union = Tree::new();
                for (deb, digest) in group {
                    union.extend(source_tree(*deb, digest)?);
                }
                Ok(union)
            })
        })
        .collect::<Result<_, _>>()?;
    layers.extend(package_layers);
    // Layers of OCI layouts, each named by its index.json (whose content,
    // keyed, pins every blob by digest) or by a registry reference pinned by
    // digest, pulled into a layout first.
    let mut imported_layers = Vec::new();
    if let Some(Value::List(items)) = def.attrs.get("layers_from") {
        let arch = oci_arch(job.id.platform.as_deref().unwrap_or("linux/amd64"));
        for (i, item) in items.iter().enumerate() {
            let (dir, shown) = match item {
                Value::File(index) => {
                    keyed_file(cx, &index.file)?;
                    (cx.root.join(&index.file).parent().map(Path::to_path_buf).unwrap_or_default(), index.file.clone())
                }
                Value::Str(reference) => {
                    let dir = work.join(format!("pulled-{i}"));
                    dhib_oci::registry::pull_layout(reference, cx.insecure_registries, &dir)
                        .map_err(|d| BuildError::Invalid(d.to_string()))?;
                    (dir, reference.clone())
                }
                _ => continue,
            };
            let imported = dhib_oci::import_layout(cx.store, &dir, arch).map_err(|e| BuildError::Invalid(format!("{shown}: {e}")))?;
            imported_layers.push(crate::facts::ImportedLayers { reference: shown, layers: imported.iter().map(|l| l.digest).collect() });
            layers.extend(imported);
        }
    }
    let added = added_files(def);
    if !added.is_empty() {
        let (tree, modes) = files_tree(cx, &added)?;
        layers.push(dhib_oci::store_layer(cx.store, &dhib_oci::layer_tar(cx.store, &tree, mtime, &modes)?, compression)?);
    }
    let strs = |name: &str| match def.attrs.get(name) {
        Some(Value::List(items)) => Some(items.iter().filter_map(|v| v.as_str().map(str::to_string)).collect::<Vec<_>>()),
        _ => None,
    };
    let map = |name: &str| match def.attrs.get(name) {
        Some(Value::Map(m)) => m.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string()))).collect(),
        _ => BTreeMap::new(),
    };
    if ca {
        let bundle = ca_bundle(cx.store, &layers).map_err(|e| BuildError::Invalid(format!("{}: {e}", job.id)))?;
        layers.push(dhib_oci::store_layer(cx.store, &dhib_oci::layer_tar(cx.store, &bundle, mtime, &BTreeMap::new())?, compression)?);
    }
    // The base's layers already hold the passwd entries of the user it sets.
    let own_user = own_user(def, &run);
    let uid = own_user.as_deref().and_then(|u| u.split(':').next()?.parse::<u32>().ok());
    if let Some(uid) = uid {
        let tree = passwd_tree(cx.store, uid)?;
        layers.push(dhib_oci::store_layer(cx.store, &dhib_oci::layer_tar(cx.store, &tree, mtime, &BTreeMap::new())?, compression)?);
        run.user = own_user;
    }
    let mut env: BTreeMap<String, String> =
        run.env.iter().filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect();
    env.extend(map("env"));
    run.env = env.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    if let Some(e) = strs("entrypoint") {
        run.entrypoint = Some(e);
        // As in a Dockerfile: a new entrypoint drops the base's arguments.
        run.cmd = None;
    }
    if let Some(c) = strs("cmd") {
        run.cmd = Some(c);
    }
    if let Some(w) = str_attr(def, "workdir") {
        run.workdir = Some(w.to_string());
    }
    run.labels.extend(map("labels"));
    if let Some(p) = strs("ports") {
        run.ports.extend(p);
        run.ports.sort();
        run.ports.dedup();
    }
    let annotations = image_annotations(job, mtime);
    let platform =
        job.id.platform.clone().or_else(|| strs("platforms").and_then(|p| p.first().cloned())).unwrap_or_else(|| "linux/amd64".into());
    let (manifest, size) = dhib_oci::store_image(cx.store, oci_arch(&platform), &layers, &run, mtime, &annotations)?;
    let layout = dhib_oci::layout_tree(cx.store, &manifest, size, "latest")?;
    let mut r = ActionResult { outputs: BTreeMap::from([("oci".to_string(), cx.store.put_manifest(&layout)?)]), ..Default::default() };
    crate::facts::set_manifest(&mut r, &manifest);
    // Which layers came from other images, for the SBOM.
    crate::facts::set_imported_layers(&mut r, &imported_layers);
    Ok(r)
}

/// What an image installs, in order: its `packages`, then (breadth first)
/// what they need at run time, each once.
pub(crate) fn shipped<'j>(job: &'j Job<'_>) -> Vec<&'j ActionResult> {
    let by_id: std::collections::HashMap<&NodeId, &Material<'_>> = job.closure.iter().map(|m| (m.id, m)).collect();
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    let mut queue: std::collections::VecDeque<(&NodeId, &ActionResult)> =
        job.deps.iter().filter(|(roles, ..)| roles.contains(Role::Packages)).map(|(_, id, r)| (*id, &**r)).collect();
    while let Some((id, r)) = queue.pop_front() {
        if !seen.insert(id) {
            continue;
        }
        out.push(r);
        if let Some(m) = by_id.get(id) {
            for d in runtime_deps(m, &by_id) {
                queue.push_back((d.id, &d.result));
            }
        }
    }
    out
}

/// The `file(...)`s an image (`files`) or customization (`add`) lays over
/// its packages.
pub(crate) fn added_files(def: &TargetDef) -> Vec<&dhib_lang::value::FileRef> {
    match def.attrs.get(if def.kind == Kind::Customization { "add" } else { "files" }) {
        Some(Value::List(items)) => items.iter().filter_map(|v| if let Value::File(f) = v { Some(f) } else { None }).collect(),
        _ => Vec::new(),
    }
}

pub(crate) fn has_files(def: &TargetDef) -> bool {
    !added_files(def).is_empty()
}

/// The user an image sets itself, when it differs from its base's (`base`
/// being the base's config): only then does it get a passwd layer.
pub(crate) fn own_user(def: &TargetDef, base: &dhib_oci::RunConfig) -> Option<String> {
    let user = match def.attrs.get("user") {
        Some(Value::Int(u)) => u.to_string(),
        Some(Value::Str(u)) => u.clone(),
        _ => return None,
    };
    (Some(user.as_str()) != base.user.as_deref()).then_some(user)
}

pub(crate) fn sets_user(def: &TargetDef, base: &dhib_oci::RunConfig) -> bool {
    own_user(def, base).and_then(|u| u.split(':').next()?.parse::<u32>().ok()).is_some()
}

/// How many of an image's debs depend on each (by file name).
pub(crate) fn deb_popularity(store: &Store, deps: &[(&Roles, &NodeId, Arc<ActionResult>)]) -> Result<BTreeMap<String, usize>, BuildError> {
    let mut packages = BTreeMap::new();
    let mut wanted: Vec<String> = Vec::new();
    for (_, _, r) in deps {
        let Some(control) = crate::facts::control(r) else { continue };
        packages.insert(the_file(store, r)?.0, control.package.clone());
        for field in [&control.depends, &control.pre_depends] {
            for group in deb::parse_relations(field).unwrap_or_default() {
                wanted.extend(group.into_iter().map(|rel| rel.name));
            }
        }
    }
    Ok(packages.into_iter().map(|(file, package)| (file, wanted.iter().filter(|w| **w == package).count())).collect())
}

/// One layer per source while they fit in `budget`; past it, as in Nix's
/// popularity layering, the most depended-on debs (which other images share)
/// keep layers of their own and the rest share the last one. Layers keep the
/// order of `sources`, so a changed package changes its own layer or the
/// shared one, and no other.
pub(crate) fn budget_groups<'a>(
    sources: Vec<(Option<&'a String>, Digest)>,
    budget: usize,
    popularity: &BTreeMap<String, usize>,
) -> Vec<Vec<(Option<&'a String>, Digest)>> {
    if sources.len() <= budget {
        return sources.into_iter().map(|s| vec![s]).collect();
    }
    let score = |s: &(Option<&String>, Digest)| s.0.and_then(|name| popularity.get(name)).copied().unwrap_or(0);
    let mut ranked: Vec<usize> = (0..sources.len()).collect();
    // Most popular first; ties in the sources' own (name) order.
    ranked.sort_by_key(|i| (std::cmp::Reverse(score(&sources[*i])), *i));
    let alone: BTreeSet<usize> = ranked.into_iter().take(budget - 1).collect();
    let mut groups: Vec<Vec<_>> = Vec::new();
    let mut shared = Vec::new();
    for (i, s) in sources.into_iter().enumerate() {
        if alone.contains(&i) {
            groups.push(vec![s]);
        } else {
            shared.push(s);
        }
    }
    groups.push(shared);
    groups
}

/// The image's own `annotations` plus the `org.opencontainers.image.*` ones
/// dhib knows: created (SOURCE_DATE_EPOCH, never the clock), title (the
/// label), and version, description, source and revision when declared.
pub(crate) fn image_annotations(job: &Job<'_>, created: u64) -> BTreeMap<String, String> {
    let mut annotations: BTreeMap<String, String> = match job.def.attrs.get("annotations") {
        Some(Value::Map(m)) => m.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string()))).collect(),
        _ => BTreeMap::new(),
    };
    annotations.insert("org.opencontainers.image.created".into(), dhib_core::rfc3339(created));
    annotations.insert("org.opencontainers.image.title".into(), job.id.label.to_string());
    for attr in ["version", "description", "source", "revision"] {
        if let Some(v) = str_attr(&job.def, attr) {
            annotations.insert(format!("org.opencontainers.image.{attr}"), v.to_string());
        }
    }
    annotations
}
