//! The build graph: nodes configured per platform, dependency edges with
//! every attribute that made them, cycle reporting, and the node key; the
//! salsa database (`db`) that memoizes all of it; and the query language.
//!
//! # Architecture invariant
//! Pure: no file system, environment, clock or process. Everything arrives
//! as salsa inputs (texts and file digests set by `dhib-analysis`), and
//! resolution and keying ask only [`Definitions`].

// A `Diag` is returned once per failure, never on a hot path.
#![allow(clippy::result_large_err)]

pub mod components;
pub mod db;
pub mod key;
pub mod query;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;

use petgraph::stable_graph::{EdgeIndex, NodeIndex, StableDiGraph};
use petgraph::visit::EdgeRef;
use petgraph::Direction;
use serde::Serialize;

pub use key::Key;

use dhib_core::diag::{did_you_mean, Diag, Span};
use dhib_lang::eval::{article, is_root, LabelRef, TargetDef};
use dhib_lang::label::Label;
use dhib_lang::schema::{Kind, Ty};
use dhib_lang::value::Value;

/// What resolving and keying a node may know of the workspace. The salsa
/// database answers it (`db::Lookup`), recording each read as a dependency.
pub trait Definitions {
    fn target(&self, label: &Label) -> Option<Arc<TargetDef>>;
    fn all_labels(&self) -> &Arc<Vec<(Label, Kind)>>;
    fn vex_components(&self) -> &Arc<BTreeSet<Label>>;
    fn tests_of(&self, image: &Label) -> Vec<Label>;
    fn default_platform(&self) -> &str;
    fn source_date_epoch(&self) -> u64;
    fn file_digest(&self, path: &str) -> Option<String>;
}

/// What a node produces: a target of some kind, or an attestation of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NodeKind {
    Target(Kind),
    Attestation,
}

impl NodeKind {
    pub const NAMES: [&'static str; 8] = ["source", "package", "deb", "env", "image", "customization", "test", "attestation"];

    pub fn name(self) -> &'static str {
        match self {
            NodeKind::Target(k) => k.name(),
            NodeKind::Attestation => "attestation",
        }
    }

    pub fn from_name(s: &str) -> Option<NodeKind> {
        match s {
            "attestation" => Some(NodeKind::Attestation),
            other => Kind::from_name(other).map(NodeKind::Target),
        }
    }
}

impl Serialize for NodeKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl fmt::Display for NodeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What an image's VEX document is made from, as (component, bytes) pairs
/// for its key: the image's own statements, and the statements and
/// versions of every component it ships or was built with.
pub fn vex_inputs(lookup: &dyn Definitions, image: &Label) -> Vec<(String, Vec<u8>)> {
    let get = |l: &Label| lookup.target(l);
    // The image's own statements, then the declaring components it ships or
    // was built with (a component is named by its version, and where it is).
    let entry = |label: &Label, place: &str| -> Option<(String, Vec<u8>)> {
        let def = get(label)?;
        let attr = |name: &str| def.attrs.get(name).map(Value::canonical_bytes).unwrap_or_default();
        let vex = declared_vex(&get, &def).map(|v| v.canonical_bytes()).unwrap_or_default();
        Some((label.to_string(), [vex, attr("version"), place.as_bytes().to_vec()].join(&0u8)))
    };
    let mut out: Vec<(String, Vec<u8>)> = entry(image, "the image").into_iter().collect();
    let declaring = lookup.vex_components();
    // With no component declaring statements, no walk is needed.
    if declaring.is_empty() {
        return out;
    }
    let found = components::components(&get, lookup.all_labels(), image);
    for label in found.in_image.iter().filter(|l| declaring.contains(*l)) {
        out.extend(entry(label, "in the image"));
    }
    for (label, place) in found.elsewhere.iter().filter(|(l, _)| declaring.contains(*l)) {
        out.extend(entry(label, place));
    }
    out
}

/// The attestations every image and customization gets, one node each.
pub const ATTESTATIONS: [&str; 4] = ["sbom", "provenance", "vex", "test-report"];

/// A node: a target, optionally configured for a platform other than the
/// workspace default, or one attestation (`facet`) of an image.
///
/// Written `//images/lua:lua`, `//pkgs/zlib:zlib@linux/arm64`,
/// `//images/lua:lua#sbom`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    pub label: Label,
    pub platform: Option<String>,
    pub facet: Option<String>,
}

impl NodeId {
    pub fn target(label: Label) -> Self {
        NodeId { label, platform: None, facet: None }
    }

    /// Parses the written form; the label part must be absolute.
    pub fn parse(text: &str) -> Result<NodeId, String> {
        let (rest, facet) = match text.split_once('#') {
            Some((r, f)) => (r, Some(f.to_string())),
            None => (text, None),
        };
        let (label, platform) = match rest.split_once('@') {
            Some((l, p)) => (l, Some(p.to_string())),
            None => (rest, None),
        };
        if let Some(f) = &facet {
            if !ATTESTATIONS.contains(&f.as_str()) {
                return Err(format!("`#{f}` is not an attestation: use one of {}", ATTESTATIONS.join(", ")));
            }
        }
        Ok(NodeId { label: Label::parse(label, "")?, platform, facet })
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.label)?;
        if let Some(p) = &self.platform {
            write!(f, "@{p}")?;
        }
        if let Some(x) = &self.facet {
            write!(f, "#{x}")?;
        }
        Ok(())
    }
}

impl Serialize for NodeId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One dependency: the node depended on and the attribute that made it
/// (dependencies on the same node share one edge, with their [`Roles`]). No
/// span: an edit that only moves text must not look like a change of the
/// graph ([`edge_span`] finds it when a cycle is reported).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Dep {
    pub node: NodeId,
    pub role: Role,
}

/// Why a node depends on another: the attribute that names it, or what
/// dhib added (an image's `platform` builds, an attestation's `subject`,
/// `sbom` and `tests`). Variants are in the order of their names, so
/// `Roles` lists them as their names sort.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Base,
    Built,
    Deps,
    Depends,
    Env,
    ForArch,
    Image,
    Packages,
    Platform,
    RuntimeDeps,
    Sbom,
    Source,
    Subject,
    Tests,
}

impl Role {
    /// The name keys hash and diagnostics print: the attribute's own.
    pub fn name(self) -> &'static str {
        match self {
            Role::Base => "base",
            Role::Built => "built",
            Role::Deps => "deps",
            Role::Depends => "depends",
            Role::Env => "env",
            Role::ForArch => "for_arch",
            Role::Image => "image",
            Role::Packages => "packages",
            Role::Platform => "platform",
            Role::RuntimeDeps => "runtime_deps",
            Role::Sbom => "sbom",
            Role::Source => "source",
            Role::Subject => "subject",
            Role::Tests => "tests",
        }
    }

    /// The role of a label written in attribute `attr`; `None` for an
    /// attribute that holds no labels (its type error is reported).
    pub fn of_attr(attr: &str) -> Option<Role> {
        Some(match attr {
            "base" => Role::Base,
            "built" => Role::Built,
            "deps" => Role::Deps,
            "depends" => Role::Depends,
            "env" => Role::Env,
            "for_arch" => Role::ForArch,
            "image" => Role::Image,
            "packages" => Role::Packages,
            "platform" => Role::Platform,
            "runtime_deps" => Role::RuntimeDeps,
            "sbom" => Role::Sbom,
            "source" => Role::Source,
            "subject" => Role::Subject,
            "tests" => Role::Tests,
            _ => return None,
        })
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The roles that made one edge, each once, in the order of their names. A
/// target may name the same node in several (a library in `deps` and in
/// `runtime_deps`), and the one edge between them must still say that it
/// is needed at run time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Roles(Vec<Role>);

impl Roles {
    fn add(&mut self, role: Role) {
        if let Err(i) = self.0.binary_search(&role) {
            self.0.insert(i, role);
        }
    }

    pub fn contains(&self, role: Role) -> bool {
        self.0.contains(&role)
    }

    pub fn iter(&self) -> impl Iterator<Item = Role> + '_ {
        self.0.iter().copied()
    }
}

impl fmt::Display for Roles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.0.iter().map(|r| r.name()).collect();
        f.write_str(&names.join(","))
    }
}

/// A node's kind and dependencies, as resolved from its target.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeDeps {
    pub kind: Option<NodeKind>,
    pub deps: Vec<Dep>,
    pub diags: Vec<Diag>,
}

fn arch_of(platform: &str) -> &str {
    platform.rsplit('/').next().unwrap_or(platform)
}

/// The platforms an image or customization is built for.
pub fn platforms_of(lookup: &dyn Definitions, label: &Label) -> Vec<String> {
    let mut current = label.clone();
    // A customization inherits its base's platforms; bounded in case of a cycle,
    // which the graph reports on its own.
    for _ in 0..64 {
        let Some(def) = lookup.target(&current) else { break };
        if let Some(Value::List(ps)) = def.attrs.get("platforms") {
            return ps.iter().filter_map(|p| p.as_str().map(str::to_string)).collect();
        }
        match (def.kind, def.attrs.get("base")) {
            (Kind::Customization, Some(Value::Label(b))) => current = b.clone(),
            _ => break,
        }
    }
    vec![lookup.default_platform().to_string()]
}

/// A runtime image or customization that would run as root: set so by a
/// customization (analysis of one file checks images), or inherited from its
/// base chain, which only the whole workspace shows.
fn runs_as_inherited_root(lookup: &dyn Definitions, def: &TargetDef) -> Option<Diag> {
    if def.dev || matches!(def.attrs.get("allow_root"), Some(Value::Bool(true))) {
        return None;
    }
    let help = "use a non-root user such as `user = 65532`, or set `allow_root = true`";
    if let Some(user) = def.attrs.get("user") {
        return (def.kind == Kind::Customization && is_root(user)).then(|| {
            Diag::error(&def.file, def.attr_span("user"), "E0223", format!("customization `{}` runs as root", def.label.name))
                .with_label("root in a runtime image")
                .with_help(help)
        });
    }
    let mut base = match def.attrs.get("base") {
        Some(Value::Label(b)) => b.clone(),
        _ => return None,
    };
    // Bounded in case of a cycle, which the graph reports on its own.
    for _ in 0..64 {
        let b = lookup.target(&base)?;
        if let Some(user) = b.attrs.get("user") {
            return is_root(user).then(|| {
                Diag::error(
                    &def.file,
                    def.attr_span("base"),
                    "E0225",
                    format!("{} `{}` would run as root, the user of its base", def.kind, def.label.name),
                )
                .with_label(format!("`{base}` runs as root"))
                .with_help(help)
            });
        }
        base = match b.attrs.get("base") {
            Some(Value::Label(next)) => next.clone(),
            _ => return None,
        };
    }
    None
}

/// The build of a deb for `arch`: the deb itself when it fits, else the one
/// its `for_arch` names (`dhib lock` links the builds of one package so that
/// an image names it once for all its platforms).
fn deb_for_arch(lookup: &dyn Definitions, label: &Label, def: Arc<TargetDef>, arch: &str) -> (Label, Arc<TargetDef>) {
    let fits = matches!(def.attrs.get("arch"), Some(Value::Str(a)) if a == arch || a == "all");
    if def.kind != Kind::Deb || fits {
        return (label.clone(), def);
    }
    let twin = match def.attrs.get("for_arch") {
        Some(Value::Map(m)) => match m.get(arch) {
            Some(Value::Label(l)) => lookup.target(l).map(|t| (l.clone(), t)),
            _ => None,
        },
        _ => None,
    };
    twin.unwrap_or((label.clone(), def))
}

/// Resolves a node's dependencies, checking each referenced label.
pub fn resolve_deps(lookup: &dyn Definitions, id: &NodeId) -> NodeDeps {
    let Some(def) = lookup.target(&id.label) else { return NodeDeps::default() };
    let mut out = NodeDeps { kind: Some(NodeKind::Target(def.kind)), ..Default::default() };
    let default = lookup.default_platform();
    let configured = |p: &str| (p != default).then(|| p.to_string());

    if let Some(facet) = &id.facet {
        out.kind = Some(NodeKind::Attestation);
        let subject = NodeId::target(id.label.clone());
        out.deps.push(Dep { node: subject, role: Role::Subject });
        if facet == "test-report" {
            // The report says whether the SBOM accounts for every file.
            let sbom = NodeId { facet: Some("sbom".into()), ..id.clone() };
            out.deps.push(Dep { node: sbom, role: Role::Sbom });
            for t in lookup.tests_of(&id.label) {
                out.deps.push(Dep { node: NodeId::target(t), role: Role::Tests });
            }
        }
        return out;
    }

    if matches!(def.kind, Kind::Image | Kind::Customization) && id.platform.is_none() {
        out.diags.extend(runs_as_inherited_root(lookup, &def));
    }
    let platforms = match def.kind {
        Kind::Image | Kind::Customization => platforms_of(lookup, &id.label),
        _ => Vec::new(),
    };
    // A multi-platform image is an index over one node per platform.
    if def.kind == Kind::Image && id.platform.is_none() && platforms.len() > 1 {
        for p in &platforms {
            let node = NodeId { label: id.label.clone(), platform: Some(p.clone()), facet: None };
            out.deps.push(Dep { node, role: Role::Platform });
        }
        return out;
    }
    let platform: String = match (&id.platform, platforms.first()) {
        (Some(p), _) => p.clone(),
        (None, Some(p)) if def.kind == Kind::Image => p.clone(),
        _ => default.to_string(),
    };

    for r in &def.refs {
        // A .deb is fully identified by its pin: what it depends on is not
        // an input of the deb itself but of whatever installs it (below).
        // A built deb's `depends` are edges: its build checks them against
        // the control file it made.
        let built = def.attrs.contains_key("built");
        if def.kind == Kind::Deb && ((r.attr == "depends" && !built) || r.attr == "for_arch" || r.attr == "rebuilt") {
            if lookup.target(&r.label).is_none() {
                out.diags.push(unknown_label(lookup, &def, r));
            }
            continue;
        }
        let Some(dep_def) = lookup.target(&r.label) else {
            out.diags.push(unknown_label(lookup, &def, r));
            continue;
        };
        let (label, dep_def) =
            if def.kind == Kind::Deb { (r.label.clone(), dep_def) } else { deb_for_arch(lookup, &r.label, dep_def, arch_of(&platform)) };
        let r = &LabelRef { label, attr: r.attr.clone(), span: r.span };
        let field_ty = def.kind.field(&r.attr).map(|f| f.ty);
        if let Some(allowed) = field_ty.and_then(|t| label_kinds(&t)) {
            if !allowed.contains(&dep_def.kind) {
                let names: Vec<&str> = allowed.iter().map(|k| k.name()).collect();
                let fitting: Vec<String> =
                    lookup.all_labels().iter().filter(|(_, k)| allowed.contains(k)).map(|(l, _)| l.to_string()).collect();
                let mut d = Diag::error(
                    &def.file,
                    r.span,
                    "E0302",
                    format!(
                        "`{}` must name {} {} target, but `{}` is {} {}",
                        r.attr,
                        article(names[0]),
                        names.join(" or "),
                        r.label,
                        article(dep_def.kind.name()),
                        dep_def.kind
                    ),
                )
                .with_label(format!("{} {}", article(dep_def.kind.name()), dep_def.kind))
                .with_note(&dep_def.file, dep_def.span, format!("`{}` is defined here", r.label));
                // Naming the targets that would fit is only a help while there are few.
                match fitting.len() {
                    0 => d = d.with_help(format!("this workspace has no {} target yet", names.join(" or "))),
                    1..=5 => d = d.with_help(format!("the {} targets of this workspace: {}", names.join(" and "), fitting.join(", "))),
                    _ => {}
                }
                out.diags.push(d);
                continue;
            }
        }
        let node = match dep_def.kind {
            Kind::Source | Kind::Deb | Kind::DebianSource | Kind::DebianBuild | Kind::Test => NodeId::target(r.label.clone()),
            Kind::Package | Kind::Env => NodeId { label: r.label.clone(), platform: configured(&platform), facet: None },
            Kind::Image | Kind::Customization => {
                if def.kind == Kind::Test || def.kind == Kind::Customization {
                    NodeId::target(r.label.clone())
                } else {
                    let theirs = platforms_of(lookup, &r.label);
                    if !theirs.contains(&platform) {
                        out.diags.push(
                            Diag::error(&def.file, r.span, "E0303", format!("`{}` is not built for {platform}", r.label))
                                .with_label(format!("needed for {platform}"))
                                .with_help(format!("it is built for: {}; add {platform} to its `platforms`", theirs.join(", "))),
                        );
                        continue;
                    }
                    let p = (theirs.len() > 1).then(|| platform.clone());
                    NodeId { label: r.label.clone(), platform: p, facet: None }
                }
            }
        };
        if dep_def.kind == Kind::Deb {
            if let Some(Value::Str(arch)) = dep_def.attrs.get("arch") {
                let want = arch_of(&platform);
                if arch != "all" && arch != want && def.kind != Kind::Deb {
                    out.diags.push(
                        Diag::error(
                            &def.file,
                            r.span,
                            "E0304",
                            format!("`{}` is {} {arch} package, but this builds for {platform}", r.label, article(arch)),
                        )
                        .with_label(format!("needs {want}"))
                        .with_help(format!("use the {want} build of this package")),
                    );
                    continue;
                }
            }
        }
        // Only label-typed attributes hold labels: a label anywhere else is
        // a type error analysis has reported, so no key is computed.
        if let Some(role) = Role::of_attr(&r.attr) {
            out.deps.push(Dep { node, role });
        }
    }
    // Installing a deb installs what it depends on: environments and images
    // depend on the whole closure. Debian has dependency cycles, so the
    // closure is walked here with a visited set rather than made of edges.
    if def.kind != Kind::Deb {
        let ships = matches!(def.kind, Kind::Image | Kind::Customization);
        if ships {
            for d in &mut out.deps {
                d.node.label = installed(&|l| lookup.target(l), &d.node.label);
            }
        }
        let mut seen: BTreeSet<Label> = out.deps.iter().map(|d| d.node.label.clone()).collect();
        let mut queue: VecDeque<(Label, Role)> = out
            .deps
            .iter()
            .filter(|d| lookup.target(&d.node.label).is_some_and(|t| t.kind == Kind::Deb))
            .map(|d| (d.node.label.clone(), d.role))
            .collect();
        while let Some((label, role)) = queue.pop_front() {
            let Some(deb) = lookup.target(&label) else { continue };
            for r in deb.refs.iter().filter(|r| r.attr == "depends") {
                let dep = if ships { installed(&|l| lookup.target(l), &r.label) } else { r.label.clone() };
                if seen.insert(dep.clone()) && lookup.target(&dep).is_some() {
                    out.deps.push(Dep { node: NodeId::target(dep.clone()), role });
                    queue.push_back((dep, role));
                }
            }
        }
    }
    // Customizations build one overlay per platform of their base.
    if def.kind == Kind::Customization && platforms.len() > 1 {
        let extra: Vec<Dep> = out
            .deps
            .iter()
            .filter(|d| d.role == Role::Packages)
            .flat_map(|d| {
                platforms.iter().skip(1).map(move |p| Dep { node: NodeId { platform: configured(p), ..d.node.clone() }, ..d.clone() })
            })
            .collect();
        out.deps.extend(extra);
    }
    out
}

/// The deb an image installs for `label`: its rebuild from source when the
/// lock names one (`rebuilt`), else the deb itself. Build environments keep
/// the archive's packages, so a package can be rebuilt with its own earlier
/// build (zlib's toolchain links Debian's zlib1g) without a cycle.
pub fn installed(get: &dyn Fn(&Label) -> Option<Arc<TargetDef>>, label: &Label) -> Label {
    match get(label).as_deref().map(|d| (d.kind, d.attrs.get("rebuilt"))) {
        Some((Kind::Deb, Some(Value::Label(rebuilt)))) => rebuilt.clone(),
        _ => label.clone(),
    }
}

/// The `debian_build` a deb is made by, if it is one of its binaries.
pub fn built_by(get: &dyn Fn(&Label) -> Option<Arc<TargetDef>>, def: &TargetDef) -> Option<Arc<TargetDef>> {
    match (def.kind, def.attrs.get("built")) {
        (Kind::Deb, Some(Value::Label(build))) => get(build),
        _ => None,
    }
}

/// A component's VEX statements: its own, or for a deb a `debian_build`
/// made, the build's (a patch fixes the source, and so each binary of it).
pub fn declared_vex(get: &dyn Fn(&Label) -> Option<Arc<TargetDef>>, def: &TargetDef) -> Option<Value> {
    def.attrs.get("vex").cloned().or_else(|| built_by(get, def)?.attrs.get("vex").cloned())
}

/// The version a `debian_build` gives the binaries of its source: the
/// source's, extended by the bump's suffix (`1:1.2.13.dfsg-1+dhib1`).
pub fn built_version(get: &dyn Fn(&Label) -> Option<Arc<TargetDef>>, build: &TargetDef) -> Option<String> {
    let source = build.refs.iter().find(|r| r.attr == "source").and_then(|r| get(&r.label))?;
    let version = source.attrs.get("version")?.as_str()?;
    let suffix = match build.attrs.get("bump") {
        Some(Value::Map(bump)) => bump.get("suffix").and_then(Value::as_str).unwrap_or_default(),
        _ => "",
    };
    Some(format!("{version}{suffix}"))
}

fn label_kinds(t: &Ty) -> Option<&'static [Kind]> {
    match t {
        Ty::Label(k) => Some(k),
        Ty::Base => Some(&[Kind::Image, Kind::Customization]),
        Ty::List(inner) => label_kinds(inner),
        _ => None,
    }
}

fn unknown_label(lookup: &dyn Definitions, def: &TargetDef, r: &dhib_lang::eval::LabelRef) -> Diag {
    let wanted = r.label.to_string();
    let all = lookup.all_labels();
    let strings: Vec<String> = all.iter().map(|(l, _)| l.to_string()).collect();
    // Compare same-package names first: `:zlb` is likelier `:zlib` than a far label.
    let same_pkg: Vec<&str> = all.iter().filter(|(l, _)| l.pkg == r.label.pkg).map(|(l, _)| l.name.as_str()).collect();
    let suggestion = did_you_mean(&r.label.name, same_pkg.iter().copied())
        .map(|n| Label::new(r.label.pkg.clone(), n).to_string())
        .or_else(|| did_you_mean(&wanted, strings.iter().map(|s| s.as_str())).map(str::to_string))
        .or_else(|| {
            // `//pkgs/zlib` when the target lives in `//pkgs/zlib:zlib` of another dir.
            all.iter().find(|(l, _)| l.name == r.label.name).map(|(l, _)| l.to_string())
        });
    let mut d = Diag::error(&def.file, r.span, "E0301", format!("unknown label `{}`", r.label)).with_label("no such target");
    d = match suggestion {
        Some(s) => d.with_help(format!("did you mean `{s}`?")),
        None if same_pkg.is_empty() => {
            let dir = if r.label.pkg.is_empty() { "the workspace root".to_string() } else { format!("`{}/`", r.label.pkg) };
            d.with_help(format!("no .dhi file in {dir} defines targets; a label's directory is relative to the workspace root"))
        }
        None => d.with_help(format!("no target named `{}` is defined in `//{}`", r.label.name, r.label.pkg)),
    };
    d
}

/// Where the edge `from → to` was written: the first of the attributes
/// that made it.
pub fn edge_span(lookup: &dyn Definitions, from: &NodeId, to: &NodeId, roles: &Roles) -> (String, Span) {
    let Some(def) = lookup.target(&from.label) else { return Default::default() };
    let Some(first) = roles.iter().next() else { return (def.file.clone(), def.span) };
    let span = match first {
        Role::Platform => def.attr_span("platforms"),
        Role::Subject | Role::Tests | Role::Sbom => def.span,
        _ => def
            .refs
            .iter()
            .find(|r| Role::of_attr(&r.attr).is_some_and(|a| roles.contains(a)) && r.label == to.label)
            .map_or(def.attr_span(first.name()), |r| r.span),
    };
    (def.file.clone(), span)
}

/// The whole graph: every target, each configuration that images require,
/// and the attestation nodes. Edges point from a node to what it depends on.
#[derive(Debug, Default)]
pub struct BuildGraph {
    pub graph: StableDiGraph<NodeId, Roles>,
    pub index: HashMap<NodeId, NodeIndex>,
    pub kinds: HashMap<NodeIndex, NodeKind>,
    /// Every node, sorted: the order of outputs and of the key table.
    pub sorted: Vec<NodeIndex>,
    /// The nodes of each package, sorted.
    pub by_package: BTreeMap<String, Vec<NodeIndex>>,
}

impl BuildGraph {
    /// Builds the graph reachable from `roots`, asking `deps_of` for each node.
    /// Returns the graph and every diagnostic met, including cycles, whose
    /// edges `edge_span` locates.
    pub fn build(
        roots: Vec<NodeId>,
        deps_of: impl Fn(&NodeId) -> Arc<NodeDeps>,
        edge_span: impl Fn(&NodeId, &NodeId, &Roles) -> (String, Span),
    ) -> (BuildGraph, Vec<Diag>) {
        let mut g = BuildGraph::default();
        let mut diags = Vec::new();
        let mut queue: VecDeque<NodeId> = VecDeque::new();
        let mut edges: HashMap<(NodeIndex, NodeIndex), EdgeIndex> = HashMap::new();
        for r in roots {
            if !g.index.contains_key(&r) {
                let i = g.graph.add_node(r.clone());
                g.index.insert(r.clone(), i);
                queue.push_back(r);
            }
        }
        while let Some(id) = queue.pop_front() {
            let from = g.index[&id];
            let nd = deps_of(&id);
            diags.extend(nd.diags.iter().cloned());
            if let Some(k) = nd.kind {
                g.kinds.insert(from, k);
            }
            for dep in &nd.deps {
                let to = match g.index.get(&dep.node) {
                    Some(i) => *i,
                    None => {
                        let i = g.graph.add_node(dep.node.clone());
                        g.index.insert(dep.node.clone(), i);
                        queue.push_back(dep.node.clone());
                        i
                    }
                };
                let e = *edges.entry((from, to)).or_insert_with(|| g.graph.add_edge(from, to, Roles::default()));
                g.graph[e].add(dep.role);
            }
        }
        if let Some(cycle) = g.find_cycle() {
            diags.push(cycle_diag(&g, &cycle, &edge_span));
        }
        g.sorted = g.graph.node_indices().collect();
        g.sorted.sort_by(|a, b| g.graph[*a].cmp(&g.graph[*b]));
        for i in &g.sorted {
            g.by_package.entry(g.graph[*i].label.pkg.clone()).or_default().push(*i);
        }
        (g, diags)
    }

    /// A cycle as a list of nodes, the first repeated at the end.
    fn find_cycle(&self) -> Option<Vec<NodeIndex>> {
        let start = match petgraph::algo::toposort(&self.graph, None) {
            Ok(_) => return None,
            Err(c) => c.node_id(),
        };
        // The reported node is on a cycle or leads to one; the strongly
        // connected component holding a cycle gives the exact path.
        let sccs = petgraph::algo::tarjan_scc(&self.graph);
        let comp = sccs
            .iter()
            .find(|c| c.contains(&start) && (c.len() > 1 || self.graph.contains_edge(start, start)))
            .or_else(|| sccs.iter().find(|c| c.len() > 1 || self.graph.contains_edge(c[0], c[0])))?;
        let members: BTreeSet<NodeIndex> = comp.iter().copied().collect();
        let first = *comp.iter().min_by_key(|i| &self.graph[**i])?;
        // Breadth-first search inside the component for the shortest way back.
        let mut prev: HashMap<NodeIndex, NodeIndex> = HashMap::new();
        let mut queue = VecDeque::from([first]);
        while let Some(n) = queue.pop_front() {
            let mut next: Vec<NodeIndex> = self.graph.neighbors(n).filter(|m| members.contains(m)).collect();
            next.sort_by_key(|m| &self.graph[*m]);
            for m in next {
                if m == first {
                    let mut path = vec![first, n];
                    let mut cur = n;
                    while cur != first {
                        cur = prev[&cur];
                        path.push(cur);
                    }
                    path.reverse();
                    return Some(path);
                }
                if let std::collections::hash_map::Entry::Vacant(e) = prev.entry(m) {
                    e.insert(n);
                    queue.push_back(m);
                }
            }
        }
        None
    }

    pub fn node(&self, i: NodeIndex) -> &NodeId {
        &self.graph[i]
    }

    pub fn kind(&self, i: NodeIndex) -> Option<NodeKind> {
        self.kinds.get(&i).copied()
    }

    /// Every node id in the graph, sorted.
    pub fn node_ids(&self) -> impl Iterator<Item = &NodeId> + '_ {
        self.sorted.iter().map(|i| &self.graph[*i])
    }

    pub fn dependencies(&self, i: NodeIndex) -> impl Iterator<Item = NodeIndex> + '_ {
        self.graph.edges_directed(i, Direction::Outgoing).map(|e| e.target())
    }

    pub fn dependents(&self, i: NodeIndex) -> impl Iterator<Item = NodeIndex> + '_ {
        self.graph.edges_directed(i, Direction::Incoming).map(|e| e.source())
    }

    /// Nodes in dependency order: every node after all it depends on.
    pub fn topo_order(&self) -> Vec<NodeIndex> {
        let mut order = petgraph::algo::toposort(&self.graph, None).unwrap_or_default();
        order.reverse();
        order
    }
}

fn cycle_diag(g: &BuildGraph, cycle: &[NodeIndex], edge_span: &dyn Fn(&NodeId, &NodeId, &Roles) -> (String, Span)) -> Diag {
    let names: Vec<String> = cycle.iter().map(|i| g.graph[*i].to_string()).collect();
    let span_of = |a: NodeIndex, b: NodeIndex| {
        let roles = g.graph.find_edge(a, b).map(|e| g.graph[e].clone()).unwrap_or_default();
        edge_span(&g.graph[a], &g.graph[b], &roles)
    };
    let (file, span) = span_of(cycle[0], cycle[1]);
    let d = Diag::error(&file, span, "E0310", format!("dependency cycle: {}", names.join(" → ")));
    if cycle.len() == 2 {
        return d
            .with_label(format!("{} depends on itself", names[0]))
            .with_help("a target cannot depend on itself: remove this dependency");
    }
    let mut d = d
        .with_label(format!("{} depends on {}", names[0], names[1]))
        .with_help("a target cannot depend on itself, directly or through others: remove one of these edges");
    for w in cycle.windows(2).skip(1) {
        let (f, s) = span_of(w[0], w[1]);
        d = d.with_note(&f, s, format!("{} depends on {}", g.graph[w[0]], g.graph[w[1]]));
    }
    d
}
