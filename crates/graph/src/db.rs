//! The salsa database: file texts and local file digests are inputs; parsing,
//! lowering, dependency resolution and keys are tracked queries, so an edit
//! recomputes only what depends on the edited file.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::{BuildGraph, Definitions, NodeDeps, NodeId, ATTESTATIONS};
use dhib_core::diag::{Diag, Span};
use dhib_lang::eval::{self, Lowered, Scope, Scopes, TargetDef};
use dhib_lang::label::Label;
use dhib_lang::schema::Kind;
use dhib_lang::syntax;

/// One `.dhi` file, by the path diagnostics show (`pkgs/zlib/BUILD.dhi`, or
/// `@stdlib//build.dhi` for files shipped with dhib).
#[salsa::input(debug)]
pub struct SourceFile {
    #[returns(ref)]
    pub path: String,
    #[returns(ref)]
    pub text: Arc<str>,
}

/// A workspace file referenced with `file(...)`; analysis sees only its digest.
#[salsa::input(debug)]
pub struct LocalFile {
    /// blake3 of the content, hex; `None` when the file does not exist.
    #[returns(ref)]
    pub digest: Option<String>,
}

#[salsa::input(debug)]
pub struct Workspace {
    #[returns(ref)]
    pub files: Arc<BTreeMap<String, SourceFile>>,
    #[returns(ref)]
    pub local_files: Arc<BTreeMap<String, LocalFile>>,
    /// The platform targets are configured for unless an image says otherwise.
    #[returns(ref)]
    pub default_platform: String,
    /// The time builds claim (`SOURCE_DATE_EPOCH`): part of the key of every
    /// node whose output carries times.
    pub source_date_epoch: u64,
}

/// A node of the build graph, interned so queries can take it as a key.
#[salsa::interned(debug)]
pub struct Node<'db> {
    #[returns(ref)]
    pub id: NodeId,
}

#[salsa::db]
#[derive(Clone, Default)]
pub struct Database {
    storage: salsa::Storage<Self>,
}

#[salsa::db]
impl salsa::Database for Database {}

impl Database {
    /// A database that calls `on_execute` with the name of each query it runs
    /// (not the ones it reuses), for tests of incrementality.
    pub fn with_execution_log(on_execute: impl Fn(String) + Send + Sync + 'static) -> Self {
        Database {
            storage: salsa::Storage::new(Some(Box::new(move |event: salsa::Event| {
                if let salsa::EventKind::WillExecute { database_key } = event.kind {
                    on_execute(format!("{database_key:?}"));
                }
            }))),
        }
    }
}

/// The package (directory) a `.dhi` path belongs to.
pub fn package_of(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

#[salsa::tracked(returns(ref))]
pub fn parse(db: &dyn salsa::Database, file: SourceFile) -> Arc<Result<syntax::File, Diag>> {
    Arc::new(syntax::parse(file.path(db), file.text(db)))
}

#[salsa::tracked(returns(ref))]
pub fn file_scope(db: &dyn salsa::Database, ws: Workspace, file: SourceFile) -> Arc<Scope> {
    let Ok(ast) = &**parse(db, file) else { return Arc::default() };
    let files = ws.files(db);
    let exports = |path: &str| files.get(path).map(|f| parse(db, *f).clone());
    Arc::new(eval::build_scope(file.path(db), ast, &exports))
}

struct DbScopes<'a> {
    db: &'a dyn salsa::Database,
    ws: Workspace,
}

impl Scopes for DbScopes<'_> {
    fn scope(&self, path: &str) -> Option<Arc<Scope>> {
        let f = self.ws.files(self.db).get(path)?;
        Some(file_scope(self.db, self.ws, *f).clone())
    }
}

#[salsa::tracked(returns(ref))]
pub fn lower_file(db: &dyn salsa::Database, ws: Workspace, file: SourceFile) -> Arc<Lowered> {
    let path = file.path(db);
    if path.starts_with('@') {
        return Arc::default(); // stdlib files only provide templates
    }
    let Ok(ast) = &**parse(db, file) else { return Arc::default() };
    Arc::new(eval::lower(path, package_of(path), ast, &DbScopes { db, ws }))
}

/// Every package directory and the `.dhi` files in it.
#[salsa::tracked(returns(ref))]
pub fn packages(db: &dyn salsa::Database, ws: Workspace) -> Arc<BTreeMap<String, Vec<SourceFile>>> {
    let mut out: BTreeMap<String, Vec<SourceFile>> = BTreeMap::new();
    for (path, file) in ws.files(db).iter() {
        if !path.starts_with('@') {
            out.entry(package_of(path).to_string()).or_default().push(*file);
        }
    }
    Arc::new(out)
}

/// A package's targets by name, and the problems found across its files.
pub type PackageTargets = (BTreeMap<String, Arc<TargetDef>>, Vec<Diag>);

/// Keys of the nodes of each package, sorted by node.
pub type KeysByPackage = BTreeMap<String, Arc<Vec<(NodeId, crate::Key)>>>;

#[salsa::interned(debug)]
pub struct PackageName<'db> {
    #[returns(ref)]
    pub dir: String,
}

/// The targets of one package, across its files; a name defined in two of
/// its files is reported here.
#[salsa::tracked(returns(ref))]
pub fn package_targets<'db>(db: &'db dyn salsa::Database, ws: Workspace, pkg: PackageName<'db>) -> Arc<PackageTargets> {
    let mut targets: BTreeMap<String, Arc<TargetDef>> = BTreeMap::new();
    let mut diags = Vec::new();
    let Some(files) = packages(db, ws).get(pkg.dir(db)) else { return Arc::default() };
    for f in files {
        for t in &lower_file(db, ws, *f).targets {
            match targets.get(&t.label.name) {
                Some(first) if first.file != t.file => diags.push(
                    Diag::error(&t.file, t.span, "E0201", format!("duplicate target `{}`", t.label))
                        .with_label("defined again here")
                        .with_note(&first.file, first.span, "first defined here")
                        .with_help("target names must be unique within a directory: rename one of them"),
                ),
                Some(_) => {} // reported by lowering
                None => {
                    targets.insert(t.label.name.clone(), t.clone());
                }
            }
        }
    }
    Arc::new((targets, diags))
}

#[salsa::interned(debug)]
pub struct LabelName<'db> {
    #[returns(ref)]
    pub label: Label,
}

/// One target's definition. Its own query so that an edit elsewhere in the
/// same package leaves this target's dependents untouched.
#[salsa::tracked(returns(ref))]
pub fn target<'db>(db: &'db dyn salsa::Database, ws: Workspace, label: LabelName<'db>) -> Option<Arc<TargetDef>> {
    let l = label.label(db);
    let pkg = PackageName::new(db, l.pkg.clone());
    package_targets(db, ws, pkg).0.get(&l.name).cloned()
}

/// Every label defined in the workspace and its kind, sorted. Unchanged by
/// edits to attribute values, so what depends on it is not recomputed.
#[salsa::tracked(returns(ref))]
pub fn all_labels(db: &dyn salsa::Database, ws: Workspace) -> Arc<Vec<(Label, Kind)>> {
    let mut out = Vec::new();
    for pkg in packages(db, ws).keys() {
        let p = PackageName::new(db, pkg.clone());
        out.extend(package_targets(db, ws, p).0.values().map(|t| (t.label.clone(), t.kind)));
    }
    Arc::new(out)
}

/// For each image, the tests that run against it (their test-report
/// attestation depends on them).
#[salsa::tracked(returns(ref))]
pub fn tests_by_image(db: &dyn salsa::Database, ws: Workspace) -> Arc<BTreeMap<Label, Vec<Label>>> {
    let mut out: BTreeMap<Label, Vec<Label>> = BTreeMap::new();
    for pkg in packages(db, ws).keys() {
        let p = PackageName::new(db, pkg.clone());
        for t in package_targets(db, ws, p).0.values() {
            if let Some(dhib_lang::value::Value::Label(image)) = t.attrs.get("image") {
                if t.kind == dhib_lang::schema::Kind::Test {
                    out.entry(image.clone()).or_default().push(t.label.clone());
                }
            }
        }
    }
    Arc::new(out)
}

/// The packages and debs that declare VEX statements (usually few): only
/// they make an image's `#vex` key depend on its components.
#[salsa::tracked(returns(ref))]
pub fn vex_components(db: &dyn salsa::Database, ws: Workspace) -> Arc<std::collections::BTreeSet<Label>> {
    let mut out = std::collections::BTreeSet::new();
    for pkg in packages(db, ws).keys() {
        let p = PackageName::new(db, pkg.clone());
        for t in package_targets(db, ws, p).0.values() {
            let get = |l: &Label| target(db, ws, LabelName::new(db, l.clone())).clone();
            if matches!(t.kind, Kind::Package | Kind::Deb) && crate::declared_vex(&get, t).is_some() {
                out.insert(t.label.clone());
            }
        }
    }
    Arc::new(out)
}

/// The database's answers to what [`Definitions`] asks, read through
/// tracked queries so that salsa records what each node depended on.
pub struct Lookup<'db> {
    pub db: &'db dyn salsa::Database,
    pub ws: Workspace,
}

impl Definitions for Lookup<'_> {
    fn target(&self, label: &Label) -> Option<Arc<TargetDef>> {
        target(self.db, self.ws, LabelName::new(self.db, label.clone())).clone()
    }
    fn all_labels(&self) -> &Arc<Vec<(Label, Kind)>> {
        all_labels(self.db, self.ws)
    }
    fn vex_components(&self) -> &Arc<std::collections::BTreeSet<Label>> {
        vex_components(self.db, self.ws)
    }
    fn tests_of(&self, image: &Label) -> Vec<Label> {
        tests_by_image(self.db, self.ws).get(image).cloned().unwrap_or_default()
    }
    fn default_platform(&self) -> &str {
        self.ws.default_platform(self.db)
    }
    fn source_date_epoch(&self) -> u64 {
        *self.ws.source_date_epoch(self.db)
    }
    fn file_digest(&self, path: &str) -> Option<String> {
        self.ws.local_files(self.db).get(path).and_then(|f| f.digest(self.db).clone())
    }
}

#[salsa::tracked(returns(ref))]
pub fn node_deps<'db>(db: &'db dyn salsa::Database, ws: Workspace, node: Node<'db>) -> Arc<NodeDeps> {
    Arc::new(crate::resolve_deps(&Lookup { db, ws }, node.id(db)))
}

/// The node's key. Callers must have checked the graph for cycles first: a
/// cycle here would recurse forever.
#[salsa::tracked(returns(copy))]
pub fn node_key<'db>(db: &'db dyn salsa::Database, ws: Workspace, node: Node<'db>) -> crate::Key {
    let deps = node_deps(db, ws, node);
    let dep_keys: Vec<(&crate::Dep, crate::Key)> = deps.deps.iter().map(|d| (d, node_key(db, ws, Node::new(db, d.node.clone())))).collect();
    let id = node.id(db);
    let def = target(db, ws, LabelName::new(db, id.label.clone()));
    crate::key::compute(&Lookup { db, ws }, id, def.as_deref(), deps, &dep_keys)
}

/// The root nodes of one package (its targets and their attestation nodes)
/// with their dependencies. Backdated when an edit leaves them unchanged,
/// so the graph depends on one query per package rather than per node.
#[salsa::tracked(returns(ref))]
pub fn package_deps<'db>(db: &'db dyn salsa::Database, ws: Workspace, pkg: PackageName<'db>) -> Arc<Vec<(NodeId, Arc<NodeDeps>)>> {
    let mut out = Vec::new();
    for t in package_targets(db, ws, pkg).0.values() {
        let mut ids = vec![NodeId::target(t.label.clone())];
        if matches!(t.kind, Kind::Image | Kind::Customization) {
            ids.extend(ATTESTATIONS.iter().map(|a| NodeId { label: t.label.clone(), platform: None, facet: Some(a.to_string()) }));
        }
        for id in ids {
            let deps = node_deps(db, ws, Node::new(db, id.clone())).clone();
            out.push((id, deps));
        }
    }
    Arc::new(out)
}

/// The whole graph and the diagnostics met building it. Rebuilt only when a
/// node's dependencies change, not when an attribute value does.
#[salsa::tracked(returns(ref), no_eq)]
pub fn build_graph(db: &dyn salsa::Database, ws: Workspace) -> Arc<(BuildGraph, Vec<Diag>)> {
    let lookup = Lookup { db, ws };
    let mut known: HashMap<NodeId, Arc<NodeDeps>> = HashMap::new();
    let mut roots = Vec::new();
    for pkg in packages(db, ws).keys() {
        for (id, deps) in package_deps(db, ws, PackageName::new(db, pkg.clone())).iter() {
            roots.push(id.clone());
            known.insert(id.clone(), deps.clone());
        }
    }
    Arc::new(BuildGraph::build(
        roots,
        // Nodes configured for another platform are not package roots.
        |id| known.get(id).cloned().unwrap_or_else(|| node_deps(db, ws, Node::new(db, id.clone())).clone()),
        |from, to, role| crate::edge_span(&lookup, from, to, role),
    ))
}

/// The keys of the nodes of one package, sorted by node.
#[salsa::tracked(returns(ref))]
pub fn package_keys<'db>(db: &'db dyn salsa::Database, ws: Workspace, pkg: PackageName<'db>) -> Arc<Vec<(NodeId, crate::Key)>> {
    let built = build_graph(db, ws);
    let ids = built.0.by_package.get(pkg.dir(db)).map(|v| v.as_slice()).unwrap_or_default();
    Arc::new(
        ids.iter()
            .map(|i| {
                let id = built.0.node(*i).clone();
                let key = node_key(db, ws, Node::new(db, id.clone()));
                (id, key)
            })
            .collect(),
    )
}

/// The key of every node of a graph without errors, by package: an edit
/// replaces the tables of the packages it reaches and shares the rest.
#[salsa::tracked(returns(ref))]
pub fn all_keys(db: &dyn salsa::Database, ws: Workspace) -> Arc<KeysByPackage> {
    let built = build_graph(db, ws);
    Arc::new(built.0.by_package.keys().map(|pkg| (pkg.clone(), package_keys(db, ws, PackageName::new(db, pkg.clone())).clone())).collect())
}

/// The workspace files one `.dhi` file references with `file(...)`, each with
/// the place that references it.
#[salsa::tracked(returns(ref))]
pub fn file_refs(db: &dyn salsa::Database, ws: Workspace, file: SourceFile) -> Arc<Vec<(String, String, Span)>> {
    let mut out = Vec::new();
    for t in &lower_file(db, ws, file).targets {
        for (attr, v) in &t.attrs {
            let mut refs = Vec::new();
            v.files(&mut refs);
            out.extend(refs.into_iter().map(|r| (r.file.clone(), t.file.clone(), t.attr_span(attr))));
        }
    }
    Arc::new(out)
}

/// Every workspace file referenced with `file(...)`, with the first place
/// that references it (for "does not exist" diagnostics).
#[salsa::tracked(returns(ref))]
pub fn referenced_files(db: &dyn salsa::Database, ws: Workspace) -> Arc<BTreeMap<String, (String, Span)>> {
    let mut wanted = BTreeMap::new();
    for (path, f) in ws.files(db).iter() {
        if !path.starts_with('@') {
            for (target, file, span) in file_refs(db, ws, *f).iter() {
                wanted.entry(target.clone()).or_insert_with(|| (file.clone(), *span));
            }
        }
    }
    Arc::new(wanted)
}

/// The problems of one file: syntax or lowering. Its own query so that an
/// edit that fixes nothing and breaks nothing leaves the total untouched.
#[salsa::tracked(returns(ref))]
pub fn file_diags(db: &dyn salsa::Database, ws: Workspace, file: SourceFile) -> Arc<Vec<Diag>> {
    match &**parse(db, file) {
        Err(e) => Arc::new(vec![e.clone()]),
        Ok(_) => Arc::new(lower_file(db, ws, file).diags.clone()),
    }
}

/// Every problem in the `.dhi` files: syntax, lowering, duplicates.
#[salsa::tracked(returns(ref))]
pub fn file_diagnostics(db: &dyn salsa::Database, ws: Workspace) -> Arc<Vec<Diag>> {
    let mut diags = Vec::new();
    for (path, f) in ws.files(db).iter() {
        if !path.starts_with('@') {
            diags.extend(file_diags(db, ws, *f).iter().cloned());
        }
    }
    for pkg in packages(db, ws).keys() {
        diags.extend(package_targets(db, ws, PackageName::new(db, pkg.clone())).1.iter().cloned());
    }
    Arc::new(diags)
}
