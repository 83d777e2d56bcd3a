//! Lowering: evaluates a file's syntax tree into typed target definitions.
//!
//! Pure: everything it needs from other files (templates and `let`s they
//! export) comes through [`Scopes`], which the salsa layer implements.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::diag::{did_you_mean, Diag, Span};
use super::label::Label;
use super::schema::{Field, Kind, Ty};
use super::syntax::{self, Block, Body, Call, Entry, Expr, ExprKind, Item, TemplateDef};
use super::value::{BuiltinCall, FileRef, Value};

/// What a file makes visible to code evaluated in it: its own `let`s and
/// templates, plus the names it loads from other files.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scope {
    pub lets: BTreeMap<String, Defined<Expr>>,
    pub templates: BTreeMap<String, Defined<Arc<TemplateDef>>>,
    /// Names a failed `load` should have defined: their uses are not
    /// reported again as unknown.
    pub unloaded: BTreeSet<String>,
    pub diags: Vec<Diag>,
}

/// A definition and the file it was written in (where its spans point, and
/// whose scope its body is evaluated in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Defined<T> {
    pub file: String,
    pub def: T,
}

/// Gives the evaluator the scope of any file (by the path diagnostics use).
pub trait Scopes {
    fn scope(&self, file: &str) -> Option<Arc<Scope>>;
}

/// A dependency written in a target, with where it was written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LabelRef {
    pub label: Label,
    pub attr: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetDef {
    pub label: Label,
    pub kind: Kind,
    pub attrs: BTreeMap<String, Value>,
    /// The file the target's spans point into.
    pub file: String,
    /// Span of the target's name.
    pub span: Span,
    pub attr_spans: BTreeMap<String, Span>,
    pub refs: Vec<LabelRef>,
    /// For `variant "dev"` of image `lua`: `Some("lua")`; the target is `lua-dev`.
    pub variant_of: Option<String>,
    pub dev: bool,
}

impl TargetDef {
    pub fn attr(&self, name: &str) -> Option<&Value> {
        self.attrs.get(name)
    }
    pub fn attr_span(&self, name: &str) -> Span {
        self.attr_spans.get(name).copied().unwrap_or(self.span)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Lowered {
    pub targets: Vec<Arc<TargetDef>>,
    pub diags: Vec<Diag>,
}

/// A file's parse result, shared.
pub type Parsed = Arc<Result<syntax::File, Diag>>;

/// Builds the scope of a file from its own definitions and its loads.
/// `exports(path)` returns the parsed file a `load` names, if it exists.
pub fn build_scope(file: &str, ast: &syntax::File, exports: &dyn Fn(&str) -> Option<Parsed>) -> Scope {
    let mut scope = Scope::default();
    let own = |scope: &mut Scope, item: &Item, from: &str| match item {
        Item::Let(l) => {
            scope.lets.insert(l.name.name.clone(), Defined { file: from.to_string(), def: l.value.clone() });
        }
        Item::Template(t) => {
            scope.templates.insert(t.name.name.clone(), Defined { file: from.to_string(), def: Arc::new(t.clone()) });
        }
        _ => {}
    };
    for item in &ast.items {
        own(&mut scope, item, file);
    }
    for item in &ast.items {
        let Item::Load(load) = item else { continue };
        let failed = |scope: &mut Scope| scope.unloaded.extend(load.names.iter().map(|n| n.value.clone()));
        let Some(target) = load_path(&load.path.value) else {
            failed(&mut scope);
            scope.diags.push(
                Diag::error(file, load.path.span, "E0110", format!("cannot load `{}`", load.path.value))
                    .with_label("not a loadable path")
                    .with_help("load a workspace file as \"//dir/file.dhi\" or a stdlib file as \"@stdlib//file.dhi\""),
            );
            continue;
        };
        let parsed = match exports(&target) {
            Some(p) => p,
            None => {
                failed(&mut scope);
                let mut d =
                    Diag::error(file, load.path.span, "E0111", format!("`{}` does not exist", load.path.value)).with_label("no such file");
                if !target.starts_with('@') {
                    d = d.with_help("a `//` path starts at the workspace root, the directory of dhi.toml");
                }
                scope.diags.push(d);
                continue;
            }
        };
        let Ok(loaded) = &*parsed else {
            failed(&mut scope);
            scope.diags.push(
                Diag::error(file, load.path.span, "E0112", format!("`{}` has syntax errors", load.path.value)).with_label("loaded here"),
            );
            continue;
        };
        let mut theirs = Scope::default();
        for it in &loaded.items {
            own(&mut theirs, it, &target);
        }
        for name in &load.names {
            let n = &name.value;
            if let Some(t) = theirs.templates.get(n) {
                scope.templates.insert(n.clone(), t.clone());
            } else if let Some(l) = theirs.lets.get(n) {
                scope.lets.insert(n.clone(), l.clone());
            } else {
                scope.unloaded.insert(n.clone());
                let names: Vec<&str> = theirs.templates.keys().chain(theirs.lets.keys()).map(|s| s.as_str()).collect();
                let mut d = Diag::error(file, name.span, "E0113", format!("`{}` defines no `{n}`", load.path.value))
                    .with_label("not defined there");
                if let Some(s) = did_you_mean(n, names.iter().copied()) {
                    d = d.with_help(format!("did you mean `{s}`?"));
                } else if !names.is_empty() {
                    d = d.with_help(format!("it defines: {}", names.join(", ")));
                }
                scope.diags.push(d);
            }
        }
    }
    scope
}

/// `//lib/x.dhi` → `lib/x.dhi`; `@stdlib//x.dhi` stays as it is.
pub fn load_path(text: &str) -> Option<String> {
    let ok = |p: &str| p.ends_with(".dhi") && !p.split('/').any(|s| s.is_empty() || s == "..");
    if let Some(rest) = text.strip_prefix("@stdlib//") {
        return ok(rest).then(|| text.to_string());
    }
    text.strip_prefix("//").filter(|p| ok(p)).map(str::to_string)
}

/// Lowers one parsed file of package `pkg`.
pub fn lower(file: &str, pkg: &str, ast: &syntax::File, scopes: &dyn Scopes) -> Lowered {
    let scope = scopes.scope(file).unwrap_or_default();
    let mut ev = Evaluator { scopes, diags: scope.diags.clone(), depth: 0 };
    let mut targets = Vec::new();
    let cx = Cx { file, pkg, scope: scope.clone(), locals: None, block: None };
    for item in &ast.items {
        match item {
            Item::Block(b) => ev.target(&cx, b, &mut targets),
            Item::Call(c) => ev.expand_targets(&cx, c, &mut targets),
            Item::Let(l) => {
                // Evaluate for its diagnostics even when unused.
                let _ = ev.expr(&cx, &l.value);
            }
            Item::Load(_) | Item::Template(_) => {}
        }
    }
    let mut seen: BTreeMap<&str, &TargetDef> = BTreeMap::new();
    for t in &targets {
        if let Some(first) = seen.get(t.label.name.as_str()) {
            ev.diags.push(
                Diag::error(&t.file, t.span, "E0201", format!("duplicate target `{}`", t.label))
                    .with_label("defined again here")
                    .with_note(&first.file, first.span, "first defined here")
                    .with_help("target names must be unique within a directory: rename one of them"),
            );
        } else {
            seen.insert(&t.label.name, t);
        }
    }
    Lowered { targets: targets.into_iter().map(Arc::new).collect(), diags: ev.diags }
}

const MAX_DEPTH: usize = 64;

struct Evaluator<'a> {
    scopes: &'a dyn Scopes,
    diags: Vec<Diag>,
    depth: usize,
}

/// Where an expression is evaluated.
#[derive(Clone)]
struct Cx<'a> {
    /// The file the expression is written in.
    file: &'a str,
    /// The package labels like `:x` resolve against (the caller's, in a template).
    pkg: &'a str,
    scope: Arc<Scope>,
    locals: Option<&'a BTreeMap<String, Value>>,
    block: Option<&'a BlockCx<'a>>,
}

/// A block's raw attributes, so `{version}` inside it can see `version`.
struct BlockCx<'a> {
    attrs: BTreeMap<&'a str, &'a Expr>,
    cache: RefCell<BTreeMap<String, Option<Value>>>,
    labels: RefCell<Vec<(Label, Span, String)>>,
}

impl<'a> BlockCx<'a> {
    fn new(body: &'a Body) -> Self {
        let mut attrs = BTreeMap::new();
        for e in &body.entries {
            if let Entry::Attr(a) = e {
                attrs.entry(a.name.name.as_str()).or_insert(&a.value);
            }
        }
        BlockCx { attrs, cache: RefCell::default(), labels: RefCell::default() }
    }
}

/// Marks evaluation errors that were already reported.
struct Reported;
type Ev<T> = Result<T, Reported>;

impl<'a> Evaluator<'a> {
    fn err(&mut self, d: Diag) -> Reported {
        self.diags.push(d);
        Reported
    }

    // ---- targets ----

    fn target(&mut self, cx: &Cx<'_>, b: &Block, out: &mut Vec<TargetDef>) {
        let Some(kind) = Kind::from_name(&b.kind.name) else {
            let names = Kind::ALL.map(|k| k.name());
            let mut d = Diag::error(cx.file, b.kind.span, "E0202", format!("unknown block kind `{}`", b.kind.name))
                .with_label("not a kind of target");
            d = match did_you_mean(&b.kind.name, names) {
                Some(s) => d.with_help(format!("did you mean `{s}`?")),
                None => d.with_help(format!("the kinds of target are: {}", names.join(", "))),
            };
            self.diags.push(d);
            return;
        };
        let Ok(name) = self.interpolate(cx, &b.name.value, b.name.span, b.name.text_at) else { return };
        if let Err(msg) = Label::parse(&format!(":{name}"), cx.pkg) {
            self.diags.push(Diag::error(cx.file, b.name.span, "E0203", msg).with_label("invalid name"));
            return;
        }
        let bcx = BlockCx::new(&b.body);
        let inner = Cx { block: Some(&bcx), ..cx.clone() };
        let mut attrs = BTreeMap::new();
        let mut spans = BTreeMap::new();
        let mut variants = Vec::new();
        self.body_attrs(&inner, &b.body, kind.fields(), kind.name(), &mut attrs, &mut spans, Some(&mut variants));
        if kind != Kind::Image && !variants.is_empty() {
            for v in &variants {
                self.diags.push(
                    Diag::error(cx.file, v.kind.span, "E0204", format!("a {kind} cannot have variants"))
                        .with_label("variant here")
                        .with_help("variants belong to images: define another target instead"),
                );
            }
            variants.clear();
        }
        let labels = bcx.labels.borrow().clone();
        let mut base = TargetDef {
            label: Label::new(cx.pkg, name.clone()),
            kind,
            dev: matches!(attrs.get("dev"), Some(Value::Bool(true))),
            attrs,
            file: cx.file.to_string(),
            span: b.name.span,
            attr_spans: spans,
            refs: Vec::new(),
            variant_of: None,
        };
        base.refs = refs_from_attrs(&base, &labels);
        self.check_target(&base);
        for v in variants {
            if let Some(t) = self.variant(&inner, &base, &v) {
                out.push(t);
            }
        }
        out.push(base);
    }

    fn variant(&mut self, cx: &Cx<'_>, base: &TargetDef, v: &Block) -> Option<TargetDef> {
        let vname = self.interpolate(cx, &v.name.value, v.name.span, v.name.text_at).ok()?;
        let name = format!("{}-{vname}", base.label.name);
        let mut t = base.clone();
        t.label = Label::new(cx.pkg, name);
        t.span = v.name.span;
        t.variant_of = Some(base.label.name.clone());
        for e in &v.body.entries {
            match e {
                Entry::Attr(a) => {
                    let Some(field) = self.known_field(cx, base.kind, &a.name) else { continue };
                    let Ok(value) = self.expr(cx, &a.value) else { continue };
                    let value = if a.append {
                        match (t.attrs.remove(&a.name.name), value) {
                            (None, v) => v,
                            (Some(Value::List(mut old)), Value::List(new)) => {
                                old.extend(new);
                                Value::List(old)
                            }
                            (Some(Value::Map(mut old)), Value::Map(new)) => {
                                old.extend(new);
                                Value::Map(old)
                            }
                            (Some(old), new) => {
                                let (n, o) = (new.type_name(), old.type_name());
                                let help = match (&old, &new) {
                                    (Value::List(_), Value::Str(s)) => format!("append a list: `{} += [\"{s}\"]`", a.name.name),
                                    _ => "`+=` appends a list to a list or a map to a map; use `=` to replace".to_string(),
                                };
                                self.diags.push(
                                    Diag::error(
                                        cx.file,
                                        a.value.span,
                                        "E0205",
                                        format!("cannot append {} {n} to {} {o}", article(n), article(o)),
                                    )
                                    .with_label(format!("{} {n}", article(n)))
                                    .with_help(help),
                                );
                                continue;
                            }
                        }
                    } else {
                        value
                    };
                    if self.check_type(cx.file, a.value.span, &field.ty, &value, &a.name.name).is_ok() {
                        t.attrs.insert(a.name.name.clone(), value);
                        t.attr_spans.insert(a.name.name.clone(), a.value.span);
                    }
                }
                Entry::Section(s) => {
                    let Some(field) = self.known_field(cx, base.kind, &s.name) else { continue };
                    if let Ok(v) = self.section(cx, &s.body, &field.ty, &format!("section `{}`", s.name.name)) {
                        t.attrs.insert(s.name.name.clone(), v);
                        t.attr_spans.insert(s.name.name.clone(), s.span);
                    }
                }
                Entry::Block(inner) => {
                    self.diags.push(
                        Diag::error(cx.file, inner.kind.span, "E0206", "blocks cannot nest inside a variant").with_label("nested block"),
                    );
                }
                Entry::Call(c) => self.misplaced_call(cx, c),
            }
        }
        t.dev = v.name.value == "dev" || matches!(t.attrs.get("dev"), Some(Value::Bool(true)));
        // The block's label list holds the image's labels and this variant's.
        let labels = cx.block.expect("variants evaluate in their image").labels.borrow().clone();
        t.refs = refs_from_attrs(&t, &labels);
        self.check_user(&t);
        Some(t)
    }

    #[allow(clippy::too_many_arguments)]
    fn body_attrs(
        &mut self,
        cx: &Cx<'_>,
        body: &Body,
        fields: &'static [Field],
        owner: &str,
        attrs: &mut BTreeMap<String, Value>,
        spans: &mut BTreeMap<String, Span>,
        mut variants: Option<&mut Vec<Block>>,
    ) {
        let mut first: BTreeMap<&str, Span> = BTreeMap::new();
        for e in &body.entries {
            let (name, span) = match e {
                Entry::Attr(a) => (&a.name, a.name.span),
                Entry::Section(s) => (&s.name, s.name.span),
                Entry::Block(b) if b.kind.name == "variant" => {
                    match variants.as_deref_mut() {
                        Some(v) => v.push(b.clone()),
                        None => self.diags.push(
                            Diag::error(cx.file, b.kind.span, "E0206", "a variant cannot appear here")
                                .with_label("variant here")
                                .with_help("variants go directly inside an image block"),
                        ),
                    }
                    continue;
                }
                Entry::Block(b) => {
                    self.diags.push(
                        Diag::error(
                            cx.file,
                            b.kind.span,
                            "E0206",
                            format!("{} `{}` block cannot nest inside another block", article(&b.kind.name), b.kind.name),
                        )
                        .with_label("nested block")
                        .with_help("targets are defined at the top level of a file; inside a block only `variant` is allowed"),
                    );
                    continue;
                }
                Entry::Call(c) => {
                    self.misplaced_call(cx, c);
                    continue;
                }
            };
            if let Some(prev) = first.insert(&name.name, span) {
                self.diags.push(
                    Diag::error(cx.file, span, "E0207", format!("attribute `{}` is set twice", name.name))
                        .with_label("set again here")
                        .with_note(cx.file, prev, "first set here")
                        .with_help("remove one of them"),
                );
                continue;
            }
            let Some(field) = fields.iter().find(|f| f.name == name.name) else {
                // A misspelt required attribute is reported once, as the typo.
                if let Some(meant) = self.unknown_attr(cx, owner, fields, name) {
                    spans.entry(meant.to_string()).or_insert(name.span);
                }
                continue;
            };
            let value = match e {
                Entry::Attr(a) => {
                    if a.append {
                        self.diags.push(
                            Diag::error(cx.file, a.name.span, "E0208", "`+=` has nothing to append to here")
                                .with_label("no inherited value")
                                .with_help(format!("`+=` extends a value inherited by a variant; write `{} = ...`", a.name.name)),
                        );
                        continue;
                    }
                    spans.insert(a.name.name.clone(), a.value.span);
                    match self.expr(cx, &a.value) {
                        Ok(v) => match self.check_type(cx.file, a.value.span, &field.ty, &v, &a.name.name) {
                            Ok(()) => v,
                            Err(_) => continue,
                        },
                        Err(_) => continue,
                    }
                }
                Entry::Section(s) => {
                    spans.insert(s.name.name.clone(), s.span);
                    match self.section(cx, &s.body, &field.ty, &format!("section `{}`", s.name.name)) {
                        Ok(v) => v,
                        Err(_) => continue,
                    }
                }
                _ => unreachable!(),
            };
            attrs.insert(name.name.clone(), value);
        }
    }

    fn known_field(&mut self, cx: &Cx<'_>, kind: Kind, name: &syntax::Ident) -> Option<&'static Field> {
        let f = kind.field(&name.name);
        if f.is_none() {
            let _ = self.unknown_attr(cx, kind.name(), kind.fields(), name);
        }
        f
    }

    /// Reports an unknown attribute; returns the attribute it likely meant.
    /// `owner` is a block kind (`package`) or a section (``section `build` ``).
    fn unknown_attr(&mut self, cx: &Cx<'_>, owner: &str, fields: &[Field], name: &syntax::Ident) -> Option<&'static str> {
        let names: Vec<&'static str> = fields.iter().map(|f| f.name).collect();
        let mut d = Diag::error(cx.file, name.span, "E0209", format!("unknown attribute `{}` for {owner}", name.name))
            .with_label("not an attribute of this block");
        let meant = did_you_mean(&name.name, names.iter().copied());
        let takes = match owner.strip_prefix("section ") {
            Some(section) => format!("the section {section} takes"),
            None => format!("{} {owner} takes", capitalized_article(owner)),
        };
        d = match meant {
            Some(s) => d.with_help(format!("did you mean `{s}`?")),
            None => d.with_help(format!("{takes}: {}", names.join(", "))),
        };
        self.diags.push(d);
        meant
    }

    /// A section `name { ... }` of a record type, or a map section.
    fn section(&mut self, cx: &Cx<'_>, body: &Body, ty: &Ty, owner: &str) -> Ev<Value> {
        match ty {
            Ty::Record(fields) => {
                let mut attrs = BTreeMap::new();
                let before = self.diags.len();
                self.body_attrs(cx, body, fields, owner, &mut attrs, &mut BTreeMap::new(), None);
                if self.diags.len() > before {
                    return Err(Reported);
                }
                Ok(Value::Map(attrs))
            }
            Ty::Map(inner) => {
                let mut map = BTreeMap::new();
                for e in &body.entries {
                    match e {
                        Entry::Attr(a) if !a.append => {
                            let v = self.expr(cx, &a.value)?;
                            self.check_type(cx.file, a.value.span, inner, &v, &a.name.name)?;
                            map.insert(a.name.name.clone(), v);
                        }
                        other => {
                            let span = entry_span(other);
                            return Err(self.err(
                                Diag::error(cx.file, span, "E0210", "expected `name = value` in this section").with_label("not an entry"),
                            ));
                        }
                    }
                }
                Ok(Value::Map(map))
            }
            other => Err(self.err(
                Diag::error(cx.file, entry_span_body(body), "E0211", format!("expected {other}, found a section"))
                    .with_label("section here"),
            )),
        }
    }

    fn misplaced_call(&mut self, cx: &Cx<'_>, c: &Call) {
        self.diags.push(
            Diag::error(cx.file, c.span, "E0212", format!("`{}(...)` cannot stand alone inside a block", c.name.name))
                .with_label("call here")
                .with_help(format!("assign it to an attribute, e.g. `build = {}(...)`", c.name.name)),
        );
    }

    /// Kind-specific rules beyond types: required attributes, pins, users.
    fn check_target(&mut self, t: &TargetDef) {
        for f in t.kind.fields() {
            if f.required && !t.attrs.contains_key(f.name) && !self.reported_attr(t, f.name) {
                let (code, message, help) = if f.name == "sha256" {
                    (
                        "E0220",
                        format!("{} `{}` has no sha256 pin", t.kind, t.label.name),
                        "every download is pinned: add `sha256 = \"<64 hex digits>\"` (`sha256sum FILE` prints it)".to_string(),
                    )
                } else {
                    (
                        "E0221",
                        format!("{} `{}` is missing required attribute `{}`", t.kind, t.label.name, f.name),
                        format!("add `{} = {}`", f.name, f.example),
                    )
                };
                self.diags.push(Diag::error(&t.file, t.span, code, message).with_label("declared here").with_help(help));
            }
        }
        if t.kind == Kind::Source {
            let git = t.attrs.get("url").and_then(Value::as_str).is_some_and(|u| u.starts_with("git+"));
            if git && !t.attrs.contains_key("rev") {
                self.diags.push(
                    Diag::error(&t.file, t.attr_span("url"), "E0224", format!("git source `{}` names no revision", t.label.name))
                        .with_label("a git repository")
                        .with_help("add `rev = \"v1.2.3\"` (a tag) or a full commit id; `sha256` pins `git archive` of it"),
                );
            }
        }
        self.check_user(t);
    }

    /// An attribute that was written but failed to evaluate is not "missing".
    fn reported_attr(&self, t: &TargetDef, name: &str) -> bool {
        t.attr_spans.contains_key(name)
    }

    fn check_user(&mut self, t: &TargetDef) {
        if t.kind != Kind::Image || t.dev || matches!(t.attrs.get("allow_root"), Some(Value::Bool(true))) {
            return;
        }
        let inherits_user = matches!(t.attrs.get("base"), Some(Value::Label(_)));
        match t.attrs.get("user") {
            None if !inherits_user && !t.attr_spans.contains_key("user") => self.diags.push(
                Diag::error(&t.file, t.span, "E0222", format!("image `{}` declares no user", t.label.name))
                    .with_label("runtime image without a user")
                    .with_help("runtime images run as a non-root user: add `user = 65532`"),
            ),
            Some(u) if is_root(u) => self.diags.push(
                Diag::error(&t.file, t.attr_span("user"), "E0223", format!("image `{}` runs as root", t.label.name))
                    .with_label("root in a runtime image")
                    .with_help("use a non-root user such as `user = 65532`, keep root for `variant \"dev\"`, or set `allow_root = true`"),
            ),
            _ => {}
        }
    }

    // ---- template expansion into targets ----

    fn expand_targets(&mut self, cx: &Cx<'_>, c: &Call, out: &mut Vec<TargetDef>) {
        let Some(tpl) = self.find_template(cx, c) else { return };
        let Ok(locals) = self.bind_args(cx, c, &tpl) else { return };
        let Some(tscope) = self.scopes.scope(&tpl.file) else { return };
        let tcx = Cx { file: &tpl.file, pkg: cx.pkg, scope: tscope, locals: Some(&locals), block: None };
        if !self.enter(cx.file, c.span) {
            return;
        }
        let mut any = false;
        for e in &tpl.def.body.entries {
            match e {
                Entry::Block(b) => {
                    any = true;
                    self.target(&tcx, b, out);
                }
                other => {
                    self.diags.push(
                        Diag::error(cx.file, c.span, "E0230", format!("template `{}` makes attributes, not targets", c.name.name))
                            .with_label("used as a statement here")
                            .with_note(&tpl.file, entry_span(other), "this template body sets an attribute")
                            .with_help(format!("assign it to an attribute inside a block, e.g. `build = {}(...)`", c.name.name)),
                    );
                    self.depth -= 1;
                    return;
                }
            }
        }
        if !any {
            self.diags.push(
                Diag::error(cx.file, c.span, "E0230", format!("template `{}` defines no targets", c.name.name))
                    .with_label("used as a statement here"),
            );
        }
        self.depth -= 1;
    }

    fn enter(&mut self, file: &str, span: Span) -> bool {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            self.depth -= 1;
            self.diags.push(
                Diag::error(file, span, "E0231", "templates call each other too deeply")
                    .with_label("while expanding this call")
                    .with_help(format!("templates may nest at most {MAX_DEPTH} deep: look for a template that calls itself")),
            );
            return false;
        }
        true
    }

    fn find_template(&mut self, cx: &Cx<'_>, c: &Call) -> Option<Defined<Arc<TemplateDef>>> {
        if let Some(t) = cx.scope.templates.get(&c.name.name) {
            return Some(t.clone());
        }
        if cx.scope.unloaded.contains(&c.name.name) {
            return None;
        }
        let mut candidates: Vec<&str> = cx.scope.templates.keys().map(|s| s.as_str()).collect();
        candidates.extend(BUILTINS.iter().map(|b| b.name));
        let mut d = Diag::error(cx.file, c.name.span, "E0232", format!("unknown template `{}`", c.name.name))
            .with_label("not defined or loaded in this file");
        d = match did_you_mean(&c.name.name, candidates.iter().copied()) {
            Some(s) => d.with_help(format!("did you mean `{s}`?")),
            None => d.with_help(format!("load it first, e.g. load(\"@stdlib//build.dhi\", \"{}\")", c.name.name)),
        };
        self.diags.push(d);
        None
    }

    fn bind_args(&mut self, cx: &Cx<'_>, c: &Call, tpl: &Defined<Arc<TemplateDef>>) -> Ev<BTreeMap<String, Value>> {
        let params = &tpl.def.params;
        let mut bound: BTreeMap<String, Value> = BTreeMap::new();
        let mut given: BTreeMap<String, Span> = BTreeMap::new();
        let mut ok = true;
        let mut positional = 0;
        for arg in &c.args {
            let name = match &arg.name {
                Some(n) => {
                    if !params.iter().any(|p| p.name.name == n.name) {
                        let names: Vec<&str> = params.iter().map(|p| p.name.name.as_str()).collect();
                        let mut d =
                            Diag::error(cx.file, n.span, "E0233", format!("template `{}` has no parameter `{}`", c.name.name, n.name))
                                .with_label("unknown parameter")
                                .with_note(&tpl.file, tpl.def.name.span, "template defined here");
                        d = match did_you_mean(&n.name, names.iter().copied()) {
                            Some(s) => d.with_help(format!("did you mean `{s}`?")),
                            None => d.with_help(format!(
                                "its parameters are: {}",
                                if names.is_empty() { "(none)".into() } else { names.join(", ") }
                            )),
                        };
                        self.diags.push(d);
                        ok = false;
                        continue;
                    }
                    n.name.clone()
                }
                None => {
                    let Some(p) = params.get(positional) else {
                        let names: Vec<&str> = params.iter().map(|p| p.name.name.as_str()).collect();
                        let mut d = Diag::error(
                            cx.file,
                            arg.value.span,
                            "E0234",
                            format!("template `{}` takes {}", c.name.name, at_most(params.len())),
                        )
                        .with_label("one argument too many")
                        .with_note(&tpl.file, tpl.def.name.span, "template defined here");
                        if !names.is_empty() {
                            d = d.with_help(format!("its parameters are, in order: {}", names.join(", ")));
                        }
                        self.diags.push(d);
                        ok = false;
                        continue;
                    };
                    positional += 1;
                    p.name.name.clone()
                }
            };
            if let Some(first) = given.insert(name.clone(), arg.value.span) {
                let order: Vec<String> = params.iter().map(|p| format!("`{}`", p.name.name)).collect();
                self.diags.push(
                    Diag::error(cx.file, arg.value.span, "E0235", format!("parameter `{name}` is given twice"))
                        .with_label("given again here")
                        .with_note(cx.file, first, "first given here")
                        .with_help(format!("give each parameter once; unnamed arguments fill {} in order", order.join(", "))),
                );
                ok = false;
                continue;
            }
            match self.expr(cx, &arg.value) {
                Ok(v) => {
                    bound.insert(name, v);
                }
                Err(_) => ok = false,
            }
        }
        let defining = self.scopes.scope(&tpl.file).unwrap_or_default();
        let dcx = Cx { file: &tpl.file, pkg: cx.pkg, scope: defining, locals: None, block: None };
        for p in params {
            if bound.contains_key(&p.name.name) {
                continue;
            }
            match &p.default {
                Some(default) => match self.expr(&dcx, default) {
                    Ok(v) => {
                        bound.insert(p.name.name.clone(), v);
                    }
                    Err(_) => ok = false,
                },
                None => {
                    self.diags.push(
                        Diag::error(cx.file, c.span, "E0236", format!("template `{}` needs parameter `{}`", c.name.name, p.name.name))
                            .with_label("missing an argument")
                            .with_note(&tpl.file, p.name.span, "parameter declared here")
                            .with_help(format!("pass it: {}({} = ...)", c.name.name, p.name.name)),
                    );
                    ok = false;
                }
            }
        }
        if ok {
            Ok(bound)
        } else {
            Err(Reported)
        }
    }

    // ---- expressions ----

    fn expr(&mut self, cx: &Cx<'_>, e: &Expr) -> Ev<Value> {
        Ok(match &e.kind {
            ExprKind::Str(s, at) => Value::Str(self.interpolate(cx, s, e.span, *at)?),
            ExprKind::Int(i) => Value::Int(*i),
            ExprKind::Bool(b) => Value::Bool(*b),
            ExprKind::List(items) => {
                let mut out = Vec::with_capacity(items.len());
                let mut failed = false;
                for i in items {
                    match self.expr(cx, i) {
                        Ok(v) => out.push(v),
                        Err(_) => failed = true,
                    }
                }
                if failed {
                    return Err(Reported);
                }
                Value::List(out)
            }
            ExprKind::Map(entries) => {
                let mut out = BTreeMap::new();
                for (k, v) in entries {
                    let v = self.expr(cx, v)?;
                    if out.insert(k.name.clone(), v).is_some() {
                        return Err(self.err(
                            Diag::error(cx.file, k.span, "E0240", format!("key `{}` appears twice in this map", k.name))
                                .with_label("repeated key"),
                        ));
                    }
                }
                Value::Map(out)
            }
            ExprKind::Label(text) => {
                let label = Label::parse(text, cx.pkg)
                    .map_err(|msg| self.err(Diag::error(cx.file, e.span, "E0241", msg).with_label("invalid label")))?;
                if let Some(b) = cx.block {
                    b.labels.borrow_mut().push((label.clone(), e.span, cx.file.to_string()));
                }
                Value::Label(label)
            }
            ExprKind::Call(c) => self.call(cx, c)?,
            ExprKind::Ref(path) => self.reference(cx, path, e.span, false)?,
            ExprKind::Concat(terms) => {
                let mut acc: Option<Value> = None;
                for t in terms {
                    let v = self.expr(cx, t)?;
                    acc = Some(match (acc, v) {
                        (None, v) => v,
                        (Some(Value::Str(a)), Value::Str(b)) => Value::Str(a + &b),
                        (Some(Value::List(mut a)), Value::List(b)) => {
                            a.extend(b);
                            Value::List(a)
                        }
                        (Some(Value::Map(mut a)), Value::Map(b)) => {
                            a.extend(b);
                            Value::Map(a)
                        }
                        (Some(a), b) => {
                            return Err(self.err(
                                Diag::error(
                                    cx.file,
                                    t.span,
                                    "E0242",
                                    format!(
                                        "cannot add {} {} to {} {}",
                                        article(b.type_name()),
                                        b.type_name(),
                                        article(a.type_name()),
                                        a.type_name()
                                    ),
                                )
                                .with_label(format!("{} {}", article(b.type_name()), b.type_name()))
                                .with_help("`+` joins two strings, two lists or two maps"),
                            ))
                        }
                    });
                }
                acc.expect("a concatenation has two or more terms")
            }
        })
    }

    /// `in_string`: the reference is a `{name}` inside a string.
    fn reference(&mut self, cx: &Cx<'_>, path: &[syntax::Ident], span: Span, in_string: bool) -> Ev<Value> {
        let head = &path[0];
        let mut v = self.lookup(cx, &head.name, head.span, in_string)?;
        for field in &path[1..] {
            v = match v {
                Value::Map(mut m) => match m.remove(&field.name) {
                    Some(x) => x,
                    None => {
                        let keys: Vec<&str> = m.keys().map(|s| s.as_str()).collect();
                        let mut d = Diag::error(cx.file, field.span, "E0243", format!("no field `{}` here", field.name))
                            .with_label("not in this map");
                        if let Some(s) = did_you_mean(&field.name, keys.iter().copied()) {
                            d = d.with_help(format!("did you mean `{s}`?"));
                        }
                        return Err(self.err(d));
                    }
                },
                other => {
                    let ty = other.type_name();
                    return Err(self.err(
                        Diag::error(cx.file, span, "E0243", format!("`.{}` on {} {ty}, which has no fields", field.name, article(ty)))
                            .with_label("not a map"),
                    ));
                }
            };
        }
        Ok(v)
    }

    /// Resolves a bare name: template parameters, then the enclosing block's
    /// attributes, then `let`s, then builtin constants.
    fn lookup(&mut self, cx: &Cx<'_>, name: &str, span: Span, in_string: bool) -> Ev<Value> {
        if let Some(v) = cx.locals.and_then(|l| l.get(name)) {
            return Ok(v.clone());
        }
        if let Some(b) = cx.block {
            if let Some(expr) = b.attrs.get(name).copied() {
                if let Some(cached) = b.cache.borrow().get(name) {
                    return cached.clone().ok_or_else(|| {
                        self.err(
                            Diag::error(cx.file, span, "E0244", format!("`{name}` refers to itself"))
                                .with_label("used while it is being defined"),
                        )
                    });
                }
                b.cache.borrow_mut().insert(name.to_string(), None);
                let v = self.expr(cx, expr);
                if let Ok(v) = &v {
                    b.cache.borrow_mut().insert(name.to_string(), Some(v.clone()));
                }
                return v;
            }
        }
        if let Some(l) = cx.scope.lets.get(name) {
            if !self.enter(cx.file, span) {
                return Err(Reported);
            }
            let scope = self.scopes.scope(&l.file).unwrap_or_default();
            let lcx = Cx { file: &l.file, pkg: cx.pkg, scope, locals: None, block: None };
            let v = self.expr(&lcx, &l.def);
            self.depth -= 1;
            return v;
        }
        if name == "scratch" {
            return Ok(Value::Str("scratch".into()));
        }
        if cx.scope.unloaded.contains(name) {
            return Err(Reported);
        }
        let mut candidates: Vec<&str> = cx.scope.lets.keys().map(|s| s.as_str()).collect();
        if let Some(l) = cx.locals {
            candidates.extend(l.keys().map(|s| s.as_str()));
        }
        if let Some(b) = cx.block {
            // Not the attribute this name is written in: using it would refer to itself.
            candidates.extend(b.attrs.iter().filter(|(_, e)| !within(span, e.span)).map(|(n, _)| *n));
        }
        let mut d = Diag::error(cx.file, span, "E0245", format!("unknown name `{name}`")).with_label("not defined here");
        d = match did_you_mean(name, candidates.iter().copied()) {
            Some(s) => d.with_help(format!("did you mean `{s}`?")),
            None if in_string => d.with_help(format!("to keep the braces, as in a shell `${{{name}}}`, write `{{{{{name}}}}}`")),
            None => d.with_help("strings are written in double quotes; labels start with `//` or `:`"),
        };
        Err(self.err(d))
    }

    /// Expands `{name}` inside a string; `{{` and `}}` are literal braces.
    /// `text_at` (see [`syntax::Str`]) lets errors point at the `{...}` itself.
    fn interpolate(&mut self, cx: &Cx<'_>, s: &str, span: Span, text_at: Option<u32>) -> Ev<String> {
        if !s.contains('{') && !s.contains('}') {
            return Ok(s.to_string());
        }
        let part = |a: usize, b: usize| text_at.map_or(span, |t| Span::new(t as usize + a, t as usize + b));
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(i) = rest.find(['{', '}']) {
            out.push_str(&rest[..i]);
            let tail = &rest[i..];
            let at = s.len() - tail.len();
            if tail.starts_with("{{") || tail.starts_with("}}") {
                out.push_str(&tail[..1]);
                rest = &tail[2..];
                continue;
            }
            if tail.starts_with('}') {
                return Err(self.err(
                    Diag::error(cx.file, part(at, at + 1), "E0246", "unmatched `}` in string")
                        .with_label("no `{` opens it")
                        .with_help("write `}}` for a literal brace"),
                ));
            }
            let Some(close) = tail.find('}') else {
                return Err(self.err(
                    Diag::error(cx.file, part(at, at + 1), "E0246", "unclosed `{` in string")
                        .with_label("never closed")
                        .with_help("interpolate as `{name}`, or write `{{` for a literal brace"),
                ));
            };
            let name = &tail[1..close];
            let here = part(at, at + close + 1);
            let parts: Vec<&str> = name.split('.').collect();
            if parts.iter().any(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')) {
                return Err(self.err(
                    Diag::error(cx.file, here, "E0246", format!("`{{{name}}}` is not a valid interpolation"))
                        .with_label("in this string")
                        .with_help("interpolate a name as `{version}`; write `{{` for a literal brace"),
                ));
            }
            let idents: Vec<syntax::Ident> = parts.iter().map(|p| syntax::Ident { name: p.to_string(), span: here }).collect();
            match self.reference(cx, &idents, here, true)? {
                Value::Str(v) => out.push_str(&v),
                Value::Int(i) => out.push_str(&i.to_string()),
                other => {
                    let ty = other.type_name();
                    return Err(self.err(
                        Diag::error(cx.file, here, "E0247", format!("cannot interpolate `{name}`, which is {} {ty}", article(ty)))
                            .with_label("in this string")
                            .with_help("only strings and integers can be interpolated"),
                    ));
                }
            }
            rest = &tail[close + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn call(&mut self, cx: &Cx<'_>, c: &Call) -> Ev<Value> {
        if let Some(b) = BUILTINS.iter().find(|b| b.name == c.name.name) {
            if !cx.scope.templates.contains_key(b.name) {
                return self.builtin(cx, c, b);
            }
        }
        let tpl = self.find_template(cx, c).ok_or(Reported)?;
        let locals = self.bind_args(cx, c, &tpl)?;
        let tscope = self.scopes.scope(&tpl.file).unwrap_or_default();
        let tcx = Cx { file: &tpl.file, pkg: cx.pkg, scope: tscope, locals: Some(&locals), block: None };
        if !self.enter(cx.file, c.span) {
            return Err(Reported);
        }
        let result = self.template_value(&tcx, cx, c, &tpl);
        self.depth -= 1;
        result
    }

    /// A template used as a value: its attributes and sections make a map.
    fn template_value(&mut self, tcx: &Cx<'_>, cx: &Cx<'_>, c: &Call, tpl: &Defined<Arc<TemplateDef>>) -> Ev<Value> {
        let mut map = BTreeMap::new();
        let before = self.diags.len();
        // An error may have been reported elsewhere (a failed `load` of the
        // template's file), so failures are counted, not only diagnostics.
        let mut failed = false;
        for e in &tpl.def.body.entries {
            match e {
                Entry::Attr(a) => match self.expr(tcx, &a.value) {
                    Ok(v) => {
                        map.insert(a.name.name.clone(), v);
                    }
                    Err(_) => failed = true,
                },
                Entry::Section(s) => {
                    let mut inner = BTreeMap::new();
                    for se in &s.body.entries {
                        if let Entry::Attr(a) = se {
                            match self.expr(tcx, &a.value) {
                                Ok(v) => {
                                    inner.insert(a.name.name.clone(), v);
                                }
                                Err(_) => failed = true,
                            }
                        }
                    }
                    map.insert(s.name.name.clone(), Value::Map(inner));
                }
                Entry::Block(b) => {
                    self.diags.push(
                        Diag::error(cx.file, c.span, "E0230", format!("template `{}` makes targets, not a value", c.name.name))
                            .with_label("used as a value here")
                            .with_note(&tpl.file, b.span, "this template body defines a target")
                            .with_help(format!("call it on its own line at the top level: {}(...)", c.name.name)),
                    );
                    return Err(Reported);
                }
                Entry::Call(inner) => self.misplaced_call(tcx, inner),
            }
        }
        if failed || self.diags.len() > before {
            return Err(Reported);
        }
        Ok(Value::Map(map))
    }

    fn builtin(&mut self, cx: &Cx<'_>, c: &Call, b: &Builtin) -> Ev<Value> {
        let mut args: BTreeMap<String, Value> = BTreeMap::new();
        let mut positional = 0;
        for arg in &c.args {
            let name = match &arg.name {
                Some(n) if b.params.iter().any(|(p, _)| *p == n.name) => n.name.clone(),
                Some(n) => {
                    let names: Vec<&str> = b.params.iter().map(|(p, _)| *p).collect();
                    let mut d = Diag::error(cx.file, n.span, "E0233", format!("`{}` has no parameter `{}`", b.name, n.name))
                        .with_label("unknown parameter");
                    d = match did_you_mean(&n.name, names.iter().copied()) {
                        Some(s) => d.with_help(format!("did you mean `{s}`?")),
                        None => d.with_help(format!("its parameters are: {}", names.join(", "))),
                    };
                    return Err(self.err(d));
                }
                None => match b.params.get(positional) {
                    Some((p, _)) => {
                        positional += 1;
                        p.to_string()
                    }
                    None => {
                        let names: Vec<&str> = b.params.iter().map(|(p, _)| *p).collect();
                        return Err(self.err(
                            Diag::error(cx.file, arg.value.span, "E0234", format!("`{}` takes {}", b.name, at_most(b.params.len())))
                                .with_label("one argument too many")
                                .with_help(format!("its parameters are, in order: {}", names.join(", "))),
                        ));
                    }
                },
            };
            // Monitor patterns such as "v{version}" are templates for later
            // matching, not interpolations.
            let v = match (&arg.value.kind, b.raw_strings) {
                (ExprKind::Str(s, _), true) => Value::Str(s.clone()),
                _ => self.expr(cx, &arg.value)?,
            };
            args.insert(name, v);
        }
        for (p, required) in b.params {
            if *required && !args.contains_key(*p) {
                return Err(self.err(
                    Diag::error(cx.file, c.span, "E0236", format!("`{}` needs parameter `{p}`", b.name)).with_label("missing an argument"),
                ));
            }
        }
        match b.name {
            "file" => return self.file_ref(cx, c, b, args),
            "join" => return self.join(cx, c, &args),
            _ => {}
        }
        Ok(Value::Call(BuiltinCall { function: b.name.to_string(), args }))
    }

    fn file_ref(&mut self, cx: &Cx<'_>, c: &Call, b: &Builtin, args: BTreeMap<String, Value>) -> Ev<Value> {
        let bad = |ev: &mut Self, param: &str, what: &str, label: &str| {
            ev.err(Diag::error(cx.file, arg_span(c, b, param), "E0248", format!("`file`: {what}")).with_label(label))
        };
        let outside = |ev: &mut Self, what: &str, label: &str| {
            let d = Diag::error(cx.file, arg_span(c, b, "path"), "E0248", format!("`file`: {what}"))
                .with_label(label)
                .with_help("a path is relative to the directory of this .dhi file, or to the workspace root when it starts with `//`; copy files from elsewhere into the workspace");
            ev.err(d)
        };
        let Some(Value::Str(path)) = args.get("path") else {
            return Err(bad(self, "path", "`path` must be a string", "not a string"));
        };
        let to = match args.get("to") {
            None => None,
            Some(Value::Str(t)) if t.starts_with('/') && t[1..].split('/').all(|c| !matches!(c, "" | "." | "..")) => Some(t.clone()),
            Some(_) => {
                return Err(bad(
                    self,
                    "to",
                    "`to` must be an absolute path in the image, like \"/etc/app.conf\"",
                    "not a clean absolute path",
                ))
            }
        };
        let mode = match args.get("mode") {
            None => None,
            Some(Value::Int(m)) if (0..=0o7777).contains(m) => Some(*m),
            Some(_) => return Err(bad(self, "mode", "`mode` must be an octal mode like 0o644", "not a file mode")),
        };
        let joined = if let Some(abs) = path.strip_prefix("//") {
            abs.to_string()
        } else if cx.pkg.is_empty() {
            path.clone()
        } else {
            format!("{}/{}", cx.pkg, path)
        };
        let mut parts: Vec<&str> = Vec::new();
        for seg in joined.split('/') {
            match seg {
                "" | "." => {}
                ".." => {
                    if parts.pop().is_none() {
                        return Err(outside(self, "the path leaves the workspace", "outside the workspace"));
                    }
                }
                s => parts.push(s),
            }
        }
        if (path.starts_with('/') && !path.starts_with("//")) || parts.is_empty() {
            return Err(outside(self, "the path must name a file inside the workspace", "not a file of the workspace"));
        }
        Ok(Value::File(FileRef { file: parts.join("/"), to, mode }))
    }

    /// `join(["a", "b"], sep = " ")` → `"a b"`: lists into command lines.
    fn join(&mut self, cx: &Cx<'_>, c: &Call, args: &BTreeMap<String, Value>) -> Ev<Value> {
        let sep = match args.get("sep") {
            None => " ",
            Some(Value::Str(s)) => s.as_str(),
            Some(_) => {
                return Err(self.err(Diag::error(cx.file, c.span, "E0249", "`join`: `sep` must be a string").with_label("in this call")))
            }
        };
        let Some(Value::List(items)) = args.get("list") else {
            return Err(self.err(Diag::error(cx.file, c.span, "E0249", "`join` takes a list of strings").with_label("in this call")));
        };
        let mut parts = Vec::with_capacity(items.len());
        for i in items {
            match i {
                Value::Str(s) => parts.push(s.clone()),
                Value::Int(n) => parts.push(n.to_string()),
                other => {
                    return Err(self.err(
                        Diag::error(cx.file, c.span, "E0249", format!("`join` cannot join {}", other.type_name()))
                            .with_label("in this call"),
                    ))
                }
            }
        }
        Ok(Value::Str(parts.join(sep)))
    }

    fn check_type(&mut self, file: &str, span: Span, ty: &Ty, v: &Value, attr: &str) -> Ev<()> {
        if let Some(problem) = type_problem(ty, v) {
            let mut d = Diag::error(file, span, "E0250", format!("`{attr}` expects {ty}, found {problem}"))
                .with_label(format!("this is {problem}"));
            if let (Ty::List(_), Value::Str(s)) = (ty, v) {
                d = d.with_help(format!("wrap it in a list: [\"{s}\"]"));
            } else if let (Ty::Str, Value::List(items)) = (ty, v) {
                if let [Value::Str(s)] = items.as_slice() {
                    d = d.with_help(format!("write the string without brackets: \"{s}\""));
                }
            } else if let (Ty::Str, Value::Int(i)) = (ty, v) {
                d = d.with_help(format!("quote it: \"{i}\""));
            } else if let (Ty::Label(_) | Ty::Base, Value::Str(s)) = (ty, v) {
                d = d.with_help(format!("labels are not quoted: write `:{s}` or `//dir:{s}`"));
            } else if let Ty::Sha256 = ty {
                d = d.with_help("write the lowercase hex sha256, e.g. the first field of `sha256sum FILE`");
            }
            return Err(self.err(d));
        }
        Ok(())
    }
}

/// Describes why `v` is not of type `ty`, or `None` when it is.
fn type_problem(ty: &Ty, v: &Value) -> Option<String> {
    let found = || format!("{} {}", article(v.type_name()), v.type_name());
    match (ty, v) {
        (Ty::Str, Value::Str(_)) | (Ty::Int, Value::Int(_)) | (Ty::Bool, Value::Bool(_)) => None,
        (Ty::Label(_), Value::Label(_)) | (Ty::File | Ty::LayerSource, Value::File(_)) => None,
        (Ty::LayerSource, Value::Str(s)) => match s.split_once("@sha256:") {
            Some((name, hex)) if name.contains('/') && hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => None,
            _ => Some(format!("\"{s}\", a reference not pinned by digest")),
        },
        (Ty::Base, Value::Label(_)) => None,
        (Ty::Base, Value::Str(s)) if s == "scratch" => None,
        (Ty::Monitor, Value::Call(c)) if MONITORS.contains(&c.function.as_str()) => None,
        (Ty::User, Value::Int(u)) if *u >= 0 && *u <= u32::MAX as i64 => None,
        (Ty::User, Value::Str(s)) if !s.is_empty() && !s.contains(char::is_whitespace) => None,
        (Ty::OneOf(options), Value::Str(s)) if options.contains(&s.as_str()) => None,
        (Ty::OneOf(_), Value::Str(s)) => Some(format!("\"{s}\"")),
        (Ty::Sha256, Value::Str(s)) => {
            if s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
                None
            } else if s.bytes().all(|b| b.is_ascii_hexdigit()) {
                Some(format!("{} hex digits{}", s.len(), if s.bytes().any(|b| b.is_ascii_uppercase()) { " (uppercase)" } else { "" }))
            } else {
                Some("a string that is not hex".to_string())
            }
        }
        (Ty::List(inner), Value::List(items)) => items.iter().find_map(|i| type_problem(inner, i)).map(|p| format!("a list holding {p}")),
        (Ty::Map(inner), Value::Map(m)) => m.values().find_map(|i| type_problem(inner, i)).map(|p| format!("a map holding {p}")),
        (Ty::Record(fields), Value::Map(m)) => {
            for (k, val) in m {
                match fields.iter().find(|f| f.name == k) {
                    None => return Some(format!("a map with unknown key `{k}`")),
                    Some(f) => {
                        if let Some(p) = type_problem(&f.ty, val) {
                            return Some(format!("`{k}` = {p}"));
                        }
                    }
                }
            }
            fields.iter().find(|f| f.required && !m.contains_key(f.name)).map(|f| format!("a map without `{}`", f.name))
        }
        _ => Some(found()),
    }
}

fn at_most(n: usize) -> String {
    match n {
        0 => "no arguments".to_string(),
        1 => "at most 1 argument".to_string(),
        n => format!("at most {n} arguments"),
    }
}

fn capitalized_article(word: &str) -> &'static str {
    if article(word) == "an" {
        "An"
    } else {
        "A"
    }
}

pub fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// Whether a `user` value names root.
pub fn is_root(v: &Value) -> bool {
    match v {
        Value::Int(0) => true,
        Value::Str(s) => s == "root" || s == "0" || s.starts_with("0:") || s.starts_with("root:"),
        _ => false,
    }
}

fn entry_span(e: &Entry) -> Span {
    match e {
        Entry::Block(b) => b.span,
        Entry::Section(s) => s.span,
        Entry::Attr(a) => Span { start: a.name.span.start, end: a.value.span.end },
        Entry::Call(c) => c.span,
    }
}

fn entry_span_body(b: &Body) -> Span {
    b.entries.first().map(entry_span).unwrap_or_default()
}

/// Which attribute each label was written in, for edge spans.
fn refs_from_attrs(t: &TargetDef, labels: &[(Label, Span, String)]) -> Vec<LabelRef> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for (attr, value) in &t.attrs {
        let mut ls = Vec::new();
        value.labels(&mut ls);
        for l in ls {
            if !seen.insert((attr.clone(), l.clone())) {
                continue;
            }
            // Prefer the span where the label itself was written in this file;
            // labels produced by a template point at the attribute.
            let written_here = |(x, _, f): &&(Label, Span, String)| x == l && *f == t.file;
            let span = labels
                .iter()
                .filter(written_here)
                .find(|(_, s, _)| within(*s, t.attr_span(attr)))
                .or_else(|| labels.iter().find(written_here))
                .map(|(_, s, _)| *s)
                .unwrap_or_else(|| t.attr_span(attr));
            out.push(LabelRef { label: l.clone(), attr: attr.clone(), span });
        }
    }
    out
}

/// Where the argument bound to builtin parameter `param` was written (the
/// whole call when it was not).
fn arg_span(c: &Call, b: &Builtin, param: &str) -> Span {
    let mut positional = b.params.iter().map(|(p, _)| *p);
    c.args
        .iter()
        .find(|a| match &a.name {
            Some(n) => n.name == param,
            None => positional.next() == Some(param),
        })
        .map_or(c.span, |a| a.value.span)
}

fn within(inner: Span, outer: Span) -> bool {
    inner.start >= outer.start && inner.end <= outer.end
}

struct Builtin {
    name: &'static str,
    params: &'static [(&'static str, bool)],
    raw_strings: bool,
}

const MONITORS: &[&str] = &["git_tags", "github_releases", "debian_index"];

const BUILTINS: &[Builtin] = &[
    Builtin { name: "file", params: &[("path", true), ("to", false), ("mode", false)], raw_strings: false },
    Builtin { name: "join", params: &[("list", true), ("sep", false)], raw_strings: false },
    Builtin { name: "git_tags", params: &[("url", true), ("pattern", false), ("prereleases", false)], raw_strings: true },
    Builtin {
        name: "github_releases",
        params: &[("repo", true), ("pattern", false), ("api", false), ("prereleases", false), ("tags", false)],
        raw_strings: true,
    },
    Builtin { name: "debian_index", params: &[("repo", true), ("package", false), ("suite", false)], raw_strings: true },
];
