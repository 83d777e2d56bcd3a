//! The actions of attestation nodes (`#sbom`, `#provenance`, `#vex`,
//! `#test-report`): the facts about an image gathered from the store and
//! from what it was built from, handed to `dhib_attest` to become
//! documents and in-toto statements. Signing happens later, when images are
//! written out: a node's key never depends on a signing key.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::Path;
use std::sync::Arc;

use serde_json::Value as Json;

use crate::deb;
use crate::facts;
use crate::job::{keyed_file, runtime_deps, the_file, BuildError, Context, Job, Material};
use dhib_attest::{checks, ctrf, provenance, sbom, statement, vex};
use dhib_graph::components::{self, Components};
use dhib_graph::query::Targets;
use dhib_graph::{NodeId, Role};
use dhib_lang::eval::TargetDef;
use dhib_lang::label::Label;
use dhib_lang::schema::Kind;
use dhib_lang::value::Value;
use dhib_oci::rootfs;
use dhib_store::{ActionResult, Digest, Store};

/// The version dhib writes into its documents.
pub const TOOL: &str = concat!("dhib ", env!("CARGO_PKG_VERSION"));

/// What an image's VEX document is made from: its components and their
/// definitions.
pub struct VexFacts {
    pub components: Components,
    pub defs: BTreeMap<Label, Arc<TargetDef>>,
}

pub fn vex_facts(targets: &dyn Targets, image: &Label) -> VexFacts {
    let all = targets.all_labels();
    let get = |l: &Label| targets.target(l);
    let components = components::components(&get, &all, image);
    let mut defs: BTreeMap<Label, Arc<TargetDef>> = std::iter::once(image)
        .chain(&components.in_image)
        .chain(components.elsewhere.keys())
        .filter_map(|l| get(l).map(|d| (l.clone(), d)))
        .collect();
    // The builds of rebuilt debs, then sources: a package's purl names its
    // source, a rebuilt deb's version is its build's source's and bump.
    for attr in ["built", "source"] {
        let more: Vec<Label> = defs.values().flat_map(|d| d.refs.iter().filter(|r| r.attr == attr).map(|r| r.label.clone())).collect();
        defs.extend(more.into_iter().filter_map(|l| get(&l).map(|d| (l, d))));
    }
    VexFacts { components, defs }
}

pub fn attest(cx: &Context<'_>, job: &Job<'_>) -> Result<ActionResult, BuildError> {
    let (_, subject, top) = job.image(Role::Subject)?;
    let about = Subject { name: job.id.label.to_string(), digest: top };
    let mut r = ActionResult::default();
    match job.id.facet.as_deref() {
        Some("sbom") => {
            let contents = sbom_contents(cx, job, &about)?;
            let spdx = sbom::spdx(&contents);
            let cdx = sbom::cyclonedx(&contents);
            store(cx.store, &mut r, "sbom.spdx.json", &spdx)?;
            store(cx.store, &mut r, "sbom.cdx.json", &cdx)?;
            statement_of(cx.store, &mut r, "sbom.spdx", &about, statement::SPDX, &spdx)?;
            statement_of(cx.store, &mut r, "sbom.cdx", &about, statement::CYCLONEDX, &cdx)?;
            let mut unaccounted = Vec::new();
            for (manifest, _) in dhib_oci::platform_manifests(cx.store, &top)? {
                let files: Vec<(String, String)> = rootfs::rootfs(cx.store, &manifest)?
                    .into_iter()
                    .filter(|(_, n)| n.kind == rootfs::Kind::File)
                    .map(|(p, n)| (format!("/{p}"), n.sha256))
                    .collect();
                unaccounted.extend(sbom::unaccounted(&contents, &files));
            }
            unaccounted.sort();
            unaccounted.dedup();
            facts::set_unaccounted(&mut r, &unaccounted);
        }
        Some("provenance") => {
            let predicate = provenance::predicate(&provenance_facts(cx, job, subject)?);
            statement_of(
                cx.store,
                &mut r,
                "provenance",
                &about,
                statement::SLSA_PROVENANCE,
                &serde_json::to_vec(&predicate).expect("json"),
            )?;
        }
        Some("vex") => {
            // OpenVEX has no empty document: with no statement there is none.
            if let Some(doc) = vex_document(cx, job, &about)? {
                store(cx.store, &mut r, "vex.openvex.json", &doc)?;
                statement_of(cx.store, &mut r, "vex", &about, statement::OPENVEX, &doc)?;
            }
        }
        Some("test-report") => {
            let report = test_report(cx, job, &top)?;
            facts::set_failed_count(&mut r, ctrf::failed(&report) as u64);
            let bytes = serde_json::to_vec(&report).expect("json");
            store(cx.store, &mut r, "test-report.ctrf.json", &bytes)?;
            statement_of(cx.store, &mut r, "test-report", &about, statement::CTRF, &bytes)?;
        }
        other => return Err(BuildError::Invalid(format!("{}: no attestation is called {other:?}", job.id))),
    }
    Ok(r)
}

/// The image an attestation is about.
struct Subject {
    name: String,
    digest: Digest,
}

fn store(store: &Store, r: &mut ActionResult, name: &str, bytes: &[u8]) -> Result<(), BuildError> {
    r.outputs.insert(name.to_string(), store.put_bytes(bytes)?);
    Ok(())
}

/// Stores the in-toto statement of `document` as output `NAME.intoto.json`.
fn statement_of(
    store_: &Store,
    r: &mut ActionResult,
    name: &str,
    about: &Subject,
    predicate_type: &str,
    document: &[u8],
) -> Result<(), BuildError> {
    let predicate: Json = serde_json::from_slice(document).map_err(|e| BuildError::Invalid(format!("{name}: {e}")))?;
    let st = statement::statement(&about.name, &about.digest.hex(), predicate_type, predicate);
    store(store_, r, &format!("{name}.intoto.json"), &st)
}

/// Every node of the closure by id.
fn by_id<'j>(job: &'j Job<'_>) -> HashMap<&'j NodeId, &'j Material<'j>> {
    job.closure.iter().map(|m| (m.id, m)).collect()
}

/// The per-platform image nodes of the subject: its `platform` nodes, or
/// the subject itself.
fn platform_images<'j>(job: &'j Job<'_>) -> Vec<&'j Material<'j>> {
    let all = by_id(job);
    let subject = job.closure.iter().find(|m| m.id.label == job.id.label && m.id.platform.is_none() && m.id.facet.is_none());
    let Some(subject) = subject else { return Vec::new() };
    let platforms: Vec<&Material<'_>> =
        subject.deps.iter().filter(|(roles, _)| roles.contains(Role::Platform)).filter_map(|(_, id)| all.get(id).copied()).collect();
    if platforms.is_empty() {
        vec![subject]
    } else {
        platforms
    }
}

fn attr<'d>(def: &'d TargetDef, name: &str) -> Option<&'d str> {
    def.attrs.get(name).and_then(Value::as_str)
}

fn sbom_contents(cx: &Context<'_>, job: &Job<'_>, about: &Subject) -> Result<sbom::Contents, BuildError> {
    let all = by_id(job);
    let mut packages: BTreeMap<String, sbom::Package> = BTreeMap::new();
    let mut image_os = None;
    for image in platform_images(job) {
        let manifest = facts::manifest(&image.result).ok_or_else(|| BuildError::Invalid(format!("{} built no image", image.id)))?;
        let view = rootfs::rootfs(cx.store, &manifest)?;
        let layer_digests: Vec<Digest> = dhib_oci::manifest_layers(cx.store, &manifest)?.into_iter().map(|l| l.digest).collect();
        let os = os_release(cx.store, &manifest);
        let distro = distro(os.as_ref());
        image_os = image_os.or(os);
        let file = |path: &str| -> Option<sbom::File> {
            let n = view.get(path.trim_start_matches('/'))?;
            (n.kind == rootfs::Kind::File).then(|| sbom::File {
                path: format!("/{}", path.trim_start_matches('/')),
                sha256: n.sha256.clone(),
                sha1: n.sha1.clone(),
                size: n.size,
            })
        };
        // The image, then its base, and the base's base.
        let mut chain = vec![image];
        while let Some(base) =
            chain.last().and_then(|m| m.deps.iter().find(|(roles, _)| roles.contains(Role::Base))).and_then(|(_, id)| all.get(id))
        {
            chain.push(base);
        }
        for img in &chain {
            let Some(def) = &img.def else { continue };
            // Its packages and, breadth first, what they need at run time.
            let mut queue: std::collections::VecDeque<&NodeId> =
                img.deps.iter().filter(|(roles, _)| roles.contains(Role::Packages)).map(|(_, id)| *id).collect();
            while let Some(id) = queue.pop_front() {
                let Some(m) = all.get(id) else { continue };
                queue.extend(runtime_deps(m, &all).into_iter().map(|d| d.id));
                if packages.contains_key(&id.to_string()) {
                    continue;
                }
                let p = if m.result.outputs.contains_key("file") {
                    deb_package(cx, m, &all, &distro, &file)?
                } else {
                    built_package(cx.store, m, &all, &file)?
                };
                packages.insert(id.to_string(), p);
            }
            // Files the definition adds itself.
            let mut own: Vec<String> = Vec::new();
            if def.attrs.contains_key("user") {
                own.extend(["/etc/passwd".to_string(), "/etc/group".to_string()]);
            }
            if matches!(def.attrs.get("ca_certificates"), Some(Value::Bool(true))) {
                own.push("/etc/ssl/certs/ca-certificates.crt".into());
            }
            for name in ["files", "add"] {
                if let Some(Value::List(items)) = def.attrs.get(name) {
                    for item in items {
                        if let Value::File(f) = item {
                            let file_name = f.file.rsplit('/').next().unwrap_or(&f.file);
                            own.push(f.to.clone().unwrap_or_else(|| format!("/{file_name}")));
                        }
                    }
                }
            }
            let files: Vec<sbom::File> = own.iter().filter_map(|p| file(p)).collect();
            if !files.is_empty() {
                let key = format!("{}#files", img.id);
                packages.insert(
                    key.clone(),
                    sbom::Package {
                        label: key,
                        name: format!("{}-files", img.id.label.name),
                        version: attr(def, "version").unwrap_or("0").to_string(),
                        supplier: None,
                        license: None,
                        description: Some(format!("files {} adds itself", img.id.label)),
                        homepage: None,
                        cpe: None,
                        origin: sbom::Origin::Image,
                        files,
                    },
                );
            }
            // Layers taken from other images.
            for (i, entry) in facts::imported_layers(&img.result).into_iter().enumerate() {
                let reference = entry.reference;
                let theirs: BTreeSet<usize> = entry.layers.iter().filter_map(|d| layer_digests.iter().position(|l| l == d)).collect();
                let files: Vec<sbom::File> = view
                    .iter()
                    .filter(|(_, n)| n.kind == rootfs::Kind::File && theirs.contains(&n.layer))
                    .filter_map(|(p, _)| file(p))
                    .collect();
                let digest = entry.layers.last().map(Digest::hex).unwrap_or_default();
                let key = format!("{}#layers_from-{i}", img.id);
                let name = reference.rsplit('/').next().unwrap_or(&reference).split(['@', ':']).next().unwrap_or("image").to_string();
                packages.insert(
                    key.clone(),
                    sbom::Package {
                        label: key,
                        name,
                        version: digest.chars().take(12).collect(),
                        supplier: None,
                        license: None,
                        description: Some(format!("layers of {reference}")),
                        homepage: None,
                        cpe: None,
                        origin: sbom::Origin::Oci { reference: reference.clone(), digest: format!("sha256:{digest}") },
                        files,
                    },
                );
            }
        }
    }
    let subject_def = job.closure.iter().find(|m| m.id.label == job.id.label).and_then(|m| m.def.clone());
    let manifests = dhib_oci::platform_manifests(cx.store, &about.digest)?;
    // The image's vendor label (a base's is inherited) names who supplies it.
    let supplier = match manifests.first() {
        Some((manifest, _)) => dhib_oci::image_config(cx.store, manifest)?.0.labels.get("org.opencontainers.image.vendor").cloned(),
        None => None,
    };
    Ok(sbom::Contents {
        subject: sbom::Subject {
            label: about.name.clone(),
            name: job.id.label.name.clone(),
            manifest_digest: format!("sha256:{}", about.digest),
            platforms: manifests.into_iter().map(|(_, p)| p).collect(),
            version: subject_def.as_deref().and_then(|d| attr(d, "version")).map(str::to_string),
            supplier,
        },
        os: image_os,
        packages: packages.into_values().collect(),
        created: cx.source_date_epoch,
        tool: TOOL.to_string(),
    })
}

/// The image's operating system, from the os-release and debian_version
/// its layers hold (the last layer to write one wins).
fn os_release(store: &Store, manifest: &Digest) -> Option<sbom::Os> {
    let mut found: BTreeMap<String, String> = BTreeMap::new();
    let wanted = ["usr/lib/os-release", "etc/os-release", "etc/debian_version"];
    for layer in dhib_oci::manifest_layers(store, manifest).unwrap_or_default() {
        for (path, bytes) in dhib_oci::layer_files(store, &layer, |p| wanted.contains(&p)).unwrap_or_default() {
            let key = if path.ends_with("os-release") { "os-release" } else { "debian_version" };
            found.insert(key.to_string(), String::from_utf8_lossy(&bytes).into_owned());
        }
    }
    let text = found.get("os-release")?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .map(|v| v.trim().trim_matches('"').to_string())
            .filter(|v| !v.is_empty())
    };
    let id = field("ID")?;
    let version_id = field("VERSION_ID").unwrap_or_default();
    // Debian's point release ("12.13") is in debian_version, as scanners read it.
    let point = found.get("debian_version").map(|v| v.trim().to_string()).filter(|v| v.starts_with(|c: char| c.is_ascii_digit()));
    Some(sbom::Os { version: point.unwrap_or_else(|| version_id.clone()), pretty_name: field("PRETTY_NAME"), id, version_id })
}

/// The distribution a deb's purl names: "debian-12", or "debian" when the
/// image has no os-release.
fn distro(os: Option<&sbom::Os>) -> String {
    match os {
        Some(os) if !os.version_id.is_empty() => format!("{}-{}", os.id, os.version_id),
        Some(os) => os.id.clone(),
        None => "debian".to_string(),
    }
}

fn deb_package(
    cx: &Context<'_>,
    m: &Material<'_>,
    all: &HashMap<&NodeId, &Material<'_>>,
    distro: &str,
    file: &dyn Fn(&str) -> Option<sbom::File>,
) -> Result<sbom::Package, BuildError> {
    let control: deb::Control =
        facts::control(&m.result).ok_or_else(|| BuildError::Invalid(format!("{} has no control metadata; rebuild it", m.id)))?;
    let (_, blob) = the_file(cx.store, &m.result)?;
    let def = m.def.as_deref();
    let filename = def.and_then(|d| attr(d, "filename")).unwrap_or_default();
    // The paths the package installs, as dpkg would (merged /usr).
    let mut files: Vec<sbom::File> = deb::paths(&cx.store.blob_path(&blob))?.iter().filter_map(|p| file(p)).collect();
    files.extend(file(&format!("var/lib/dpkg/status.d/{}", control.package)));
    // "Source: glibc" or, when its version is not the binary's, "Source: glibc (2.36-9+deb12u3)".
    let source = control.source.as_deref().and_then(|s| {
        let name = s.split_whitespace().next()?.to_string();
        let version = s.split_once('(').and_then(|(_, v)| v.split_once(')')).map(|(v, _)| v.trim().to_string());
        Some((name, version.unwrap_or_else(|| control.version.clone())))
    });
    Ok(sbom::Package {
        label: m.id.to_string(),
        name: control.package.clone(),
        version: control.version.clone(),
        supplier: control.maintainer.clone(),
        license: facts::license(&m.result),
        description: Some(control.description.clone()).filter(|d| !d.is_empty()),
        homepage: control.homepage.clone(),
        cpe: None,
        origin: sbom::Origin::Deb {
            arch: control.architecture.clone(),
            source,
            distro: distro.to_string(),
            download_url: if filename.is_empty() {
                String::new()
            } else {
                crate::fetch::deb_url(def.and_then(|d| attr(d, "repo")), filename)
            },
            sha256: blob.hex(),
            rebuilt: rebuilt(cx, m, all)?,
        },
        files,
    })
}

/// How a deb a `debian_build` made was built: the build, its Debian
/// source and the patches it added.
fn rebuilt(cx: &Context<'_>, m: &Material<'_>, all: &HashMap<&NodeId, &Material<'_>>) -> Result<Option<sbom::Rebuilt>, BuildError> {
    let dep =
        |of: &Material<'_>, role: Role| of.deps.iter().find(|(roles, _)| roles.contains(role)).and_then(|(_, id)| all.get(id).copied());
    let Some(build) = dep(m, Role::Built) else { return Ok(None) };
    let (Some(build_def), Some(source_def)) = (build.def.as_deref(), dep(build, Role::Source).and_then(|s| s.def.as_deref())) else {
        return Err(BuildError::Invalid(format!("{}: the build of {} is not among its materials", build.id, m.id)));
    };
    let (dsc_url, dsc_sha256) = dsc(source_def).unwrap_or_default();
    let mut patches = Vec::new();
    if let Some(Value::List(items)) = build_def.attrs.get("patches") {
        for item in items {
            if let Value::File(f) = item {
                patches.push((f.file.clone(), Digest::of(&keyed_file(cx, &f.file)?).hex()));
            }
        }
    }
    Ok(Some(sbom::Rebuilt {
        build: build.id.to_string(),
        source: source_def.label.name.strip_suffix("-source").unwrap_or(&source_def.label.name).to_string(),
        source_version: attr(source_def, "version").unwrap_or_default().to_string(),
        dsc_url,
        dsc_sha256: dsc_sha256.to_string(),
        patches,
    }))
}

/// Where a `debian_source`'s `.dsc` is downloaded from, and its pin.
fn dsc(source: &TargetDef) -> Option<(String, &str)> {
    let Some(Value::Map(files)) = source.attrs.get("files") else { return None };
    let (path, pin) = files.iter().find(|(path, _)| path.ends_with(".dsc"))?;
    Some((crate::fetch::deb_url(attr(source, "repo"), path), pin.as_str()?))
}

fn built_package(
    store: &Store,
    m: &Material<'_>,
    all: &HashMap<&NodeId, &Material<'_>>,
    file: &dyn Fn(&str) -> Option<sbom::File>,
) -> Result<sbom::Package, BuildError> {
    let def = m.def.as_deref().ok_or_else(|| BuildError::Invalid(format!("{} has no definition", m.id)))?;
    let mut files = Vec::new();
    if let Some(tree) = m.result.outputs.get("runtime") {
        for (path, entry) in store.get_tree(tree)? {
            if matches!(entry, dhib_store::Entry::File { .. }) {
                files.extend(file(&path));
            }
        }
    }
    let source = m.deps.iter().find(|(roles, _)| roles.contains(Role::Source)).and_then(|(_, id)| all.get(id)).and_then(|s| {
        let sdef = s.def.as_deref()?;
        Some(sbom::Source {
            label: s.id.to_string(),
            url: attr(sdef, "url")?.to_string(),
            sha256: attr(sdef, "sha256")?.to_string(),
            version: attr(sdef, "version").map(str::to_string),
        })
    });
    let license = attr(def, "license").map(str::to_string).or_else(|| {
        let (_, id) = m.deps.iter().find(|(roles, _)| roles.contains(Role::Source))?;
        all.get(id)?.def.as_deref().and_then(|d| attr(d, "license")).map(str::to_string)
    });
    Ok(sbom::Package {
        label: m.id.to_string(),
        name: m.id.label.name.clone(),
        version: attr(def, "version").unwrap_or("0").to_string(),
        supplier: attr(def, "supplier").map(str::to_string),
        license,
        description: attr(def, "description").map(str::to_string),
        homepage: attr(def, "homepage").map(str::to_string),
        cpe: attr(def, "cpe").map(str::to_string),
        origin: sbom::Origin::Built { source },
        files,
    })
}

fn provenance_facts(cx: &Context<'_>, job: &Job<'_>, subject: &ActionResult) -> Result<provenance::Provenance, BuildError> {
    let mut definitions = BTreeSet::from(["dhi.toml".to_string()]);
    definitions.extend(job.closure.iter().filter_map(|m| m.def.as_ref().map(|d| d.file.clone())));
    // And the files they take with `file(...)`: patches, files added to images.
    for def in job.closure.iter().filter_map(|m| m.def.as_deref()) {
        let mut files = Vec::new();
        def.attrs.values().for_each(|v| v.files(&mut files));
        definitions.extend(files.into_iter().map(|f| f.file.clone()));
    }
    let dependencies =
        job.closure.iter().filter(|m| m.id.label != job.id.label).filter_map(|m| dependency(m.id, m.def.as_deref(), &m.result)).collect();
    // What the guardrail said of each source archive, when it vetted it.
    let guardrail = job
        .closure
        .iter()
        .filter(|m| m.id.facet.is_none())
        .filter_map(|m| m.def.as_deref().filter(|d| d.kind == Kind::Source))
        .filter_map(|d| Some((Digest::parse(attr(d, "sha256")?)?, guard_record_path(&d.file, &d.label.name))))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter_map(|(archive, record_file)| {
            let parsed = |(d, bytes): (Digest, Vec<u8>)| Some((serde_json::from_slice::<serde_json::Value>(&bytes).ok()?, d.hex()));
            // The workspace's record (committed with the update) first, then
            // the store's; a record left by an earlier update names another archive.
            let in_workspace = fs::read(cx.root.join(&record_file)).ok().and_then(|b| parsed((Digest::of(&b), b)));
            in_workspace
                .filter(|(r, _)| r["sha256"].as_str() == Some(archive.hex().as_str()))
                .or_else(|| parsed(cx.store.guard_report(&archive)?))
        })
        .collect();
    let definitions =
        definitions.into_iter().filter_map(|f| fs::read(cx.root.join(&f)).ok().map(|bytes| (f, Digest::of(&bytes).hex()))).collect();
    let runs: Vec<facts::Run> = platform_images(job).iter().map(|m| &*m.result).chain([subject]).map(facts::run).collect();
    let started = runs.iter().filter_map(|r| r.started_on).min().unwrap_or(0);
    let finished = runs.iter().filter_map(|r| r.finished_on).max().unwrap_or(started);
    let sandbox = facts::run(subject).sandbox;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let mut h = blake3::Hasher::new();
    h.update(&job.key.0);
    h.update(&now.to_le_bytes());
    h.update(&std::process::id().to_le_bytes());
    Ok(provenance::Provenance {
        target: job.id.label.to_string(),
        definitions,
        revision: revision(cx.root),
        dependencies,
        invocation_id: dhib_core::uuid(h.finalize().as_bytes()[..16].try_into().expect("blake3 has 32 bytes"), 4),
        started,
        finished,
        sandbox,
        source_date_epoch: cx.source_date_epoch,
        dhib_version: env!("CARGO_PKG_VERSION").to_string(),
        guardrail,
    })
}

/// Where `dhib upstream update` writes the guardrail's record of a source
/// beside the `.dhi` file defining it: `pkgs/lua/lua-src.guard.json`.
pub fn guard_record_path(dhi_file: &str, source: &str) -> String {
    match dhi_file.rsplit_once('/') {
        Some((dir, _)) => format!("{dir}/{source}.guard.json"),
        None => format!("{source}.guard.json"),
    }
}

/// How provenance names a node the image was built from: sources and debs
/// by their pinned download, images by manifest, packages and environments
/// by the tree they made. Tests and attestations are not dependencies.
pub fn dependency(id: &NodeId, def: Option<&TargetDef>, result: &ActionResult) -> Option<provenance::Dependency> {
    let pinned = || def.and_then(|d| attr(d, "sha256")).and_then(Digest::parse);
    let (uri, digest) = match def?.kind {
        _ if id.facet.is_some() => return None,
        Kind::Source => (def.and_then(|d| attr(d, "url")).map(str::to_string), pinned()),
        Kind::Deb => match def.and_then(|d| attr(d, "filename")) {
            Some(filename) => (Some(crate::fetch::deb_url(def.and_then(|d| attr(d, "repo")), filename)), pinned()),
            // Built: by the file tree it is, as packages are.
            None => (None, result.outputs.get("file").copied()),
        },
        Kind::DebianSource => match def.and_then(dsc) {
            Some((url, pin)) => (Some(url), Digest::parse(pin)),
            None => (None, None),
        },
        Kind::DebianBuild => (None, result.outputs.values().next().copied()),
        Kind::Image | Kind::Customization => (None, facts::manifest(result)),
        Kind::Test => return None,
        Kind::Package | Kind::Env => (None, result.outputs.get("runtime").or_else(|| result.outputs.values().next()).copied()),
    };
    Some(provenance::Dependency { name: id.to_string(), uri, sha256: digest?.hex() })
}

/// The git revision of the workspace, when it is a git checkout.
fn revision(root: &Path) -> Option<String> {
    let out = std::process::Command::new("git").arg("-C").arg(root).args(["rev-parse", "HEAD"]).output().ok()?;
    let rev = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !rev.is_empty()).then_some(rev)
}

fn declared(map: Option<&Value>) -> Vec<vex::Declared> {
    let Some(Value::Map(m)) = map else { return Vec::new() };
    m.iter()
        .filter_map(|(id, v)| {
            let Value::Map(s) = v else { return None };
            let text = |k: &str| s.get(k).and_then(Value::as_str).map(str::to_string);
            let status = match text("status")?.as_str() {
                "not_affected" => vex::Status::NotAffected,
                "affected" => vex::Status::Affected,
                "fixed" => vex::Status::Fixed,
                _ => vex::Status::UnderInvestigation,
            };
            Some(vex::Declared {
                vulnerability: id.clone(),
                status,
                justification: text("justification"),
                impact_statement: text("impact"),
                action_statement: text("action"),
            })
        })
        .collect()
}

/// How VEX statements name a component: its plain purl (no qualifiers),
/// from its definition alone.
fn component_purl(label: &Label, def: &TargetDef, defs: &BTreeMap<Label, Arc<TargetDef>>, distro: &str) -> String {
    let get = |l: &Label| defs.get(l).cloned();
    let (name, origin) = if def.kind == Kind::Deb {
        let file = attr(def, "filename").or(attr(def, "package")).and_then(|f| f.rsplit('/').next()).unwrap_or_default();
        let origin = sbom::Origin::Deb {
            arch: String::new(),
            source: None,
            distro: distro.to_string(),
            download_url: String::new(),
            sha256: String::new(),
            rebuilt: None,
        };
        (file.split('_').next().filter(|n| !n.is_empty()).unwrap_or(&label.name).to_string(), origin)
    } else {
        (label.name.clone(), sbom::Origin::Built { source: None })
    };
    let version = match dhib_graph::built_by(&get, def) {
        Some(build) => dhib_graph::built_version(&get, &build),
        None => attr(def, "version").map(str::to_string),
    };
    sbom::plain_purl(&sbom::Package {
        label: label.to_string(),
        name,
        version: version.unwrap_or_else(|| "0".into()),
        supplier: None,
        license: None,
        description: None,
        homepage: None,
        cpe: None,
        origin,
        files: Vec::new(),
    })
}

fn vex_document(cx: &Context<'_>, job: &Job<'_>, about: &Subject) -> Result<Option<Vec<u8>>, BuildError> {
    let facts = job.vex.as_deref().ok_or_else(|| BuildError::Invalid(format!("{} has no components", job.id)))?;
    let first = dhib_oci::platform_manifests(cx.store, &about.digest)?.into_iter().next().map(|(d, _)| d).unwrap_or(about.digest);
    let distro = distro(os_release(cx.store, &first).as_ref());
    let image_purl = format!("pkg:oci/{}@sha256%3A{}", job.id.label.name, about.digest);
    let own = declared(job.def.attrs.get("vex"));
    let component = |label: &Label, place: &str| -> Option<vex::Component> {
        let def = facts.defs.get(label)?;
        let declared = declared(dhib_graph::declared_vex(&|l| facts.defs.get(l).cloned(), def).as_ref());
        (!declared.is_empty()).then(|| vex::Component {
            purl: component_purl(label, def, &facts.defs, &distro),
            label: label.to_string(),
            declared,
            where_used: place.to_string(),
        })
    };
    let in_image: Vec<vex::Component> = facts.components.in_image.iter().filter_map(|l| component(l, "the image")).collect();
    let elsewhere: Vec<vex::Component> = facts.components.elsewhere.iter().filter_map(|(l, place)| component(l, place)).collect();
    let statements = vex::image_statements(&image_purl, &own, &in_image, &elsewhere);
    for s in &statements {
        vex::validate(s).map_err(|e| BuildError::Invalid(format!("{}: VEX statement on {}: {e}", job.id, s.vulnerability)))?;
    }
    if statements.is_empty() {
        return Ok(None);
    }
    Ok(Some(vex::document(
        &format!("https://dhib.dev/vex/{}-{}", job.id.label.name, about.digest),
        "dhib",
        cx.source_date_epoch,
        &statements,
    )))
}

fn test_report(cx: &Context<'_>, job: &Job<'_>, top: &Digest) -> Result<Json, BuildError> {
    let now_ms = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let start = now_ms();
    let mut cases = Vec::new();
    for (roles, id, r) in &job.deps {
        if !roles.contains(Role::Tests) {
            continue;
        }
        let outcome = facts::test_outcome(r);
        let status = if outcome.as_ref().is_some_and(|t| t.passed) { ctrf::Status::Passed } else { ctrf::Status::Failed };
        cases.push(ctrf::TestCase {
            name: id.to_string(),
            status,
            duration_ms: outcome.as_ref().map_or(0, |t| t.duration_ms),
            message: outcome.and_then(|t| t.message),
            suite: "tests".into(),
        });
    }
    let skip: BTreeMap<String, String> = match job.def.attrs.get("skip_checks") {
        Some(Value::Map(m)) => m.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string()))).collect(),
        _ => BTreeMap::new(),
    };
    if let Some((_, _, sbom)) = job.deps.iter().find(|(roles, ..)| roles.contains(Role::Sbom)) {
        let missing = facts::unaccounted(sbom);
        let (status, message) = match (skip.get("sbom_complete"), missing.len()) {
            (Some(reason), _) => (ctrf::Status::Skipped, Some(reason.clone())),
            (None, 0) => (ctrf::Status::Passed, None),
            (None, n) => (ctrf::Status::Failed, Some(format!("{n} files are in no package of the SBOM: {}", missing.join(", ")))),
        };
        cases.push(ctrf::TestCase { name: "sbom_complete".into(), status, duration_ms: 0, message, suite: "standard checks".into() });
    }
    let budget_mb = match job.def.attrs.get("size_budget_mb") {
        Some(Value::Int(n)) if *n > 0 => *n as u64,
        _ => checks::DEFAULT_BUDGET_MB,
    };
    let manifests = dhib_oci::platform_manifests(cx.store, top)?;
    let present: Vec<String> = manifests.iter().map(|(_, p)| p.clone()).collect();
    let declared_platforms: Vec<String> = match job.def.attrs.get("platforms") {
        Some(Value::List(ps)) => ps.iter().filter_map(|p| p.as_str().map(str::to_string)).collect(),
        _ => present.clone(),
    };
    for (manifest, platform) in &manifests {
        let view = rootfs::rootfs(cx.store, manifest)?;
        let (config, _) = dhib_oci::image_config(cx.store, manifest)?;
        let annotations = dhib_oci::annotations(cx.store, manifest)?;
        let facts = checks::Facts {
            platform,
            rootfs: &view,
            user: config.user.as_deref(),
            annotations: &annotations,
            dev: job.def.dev,
            budget_mb,
            declared_platforms: &declared_platforms,
            present_platforms: &present,
        };
        cases.extend(checks::run(&facts, &skip));
    }
    Ok(ctrf::report(env!("CARGO_PKG_VERSION"), &cases, start, now_ms()))
}
