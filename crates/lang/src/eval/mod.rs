//! Lowering: evaluates a file's syntax tree into typed target definitions.
//!
//! Pure: everything it needs from other files (templates and `let`s they
//! export) comes through [`Scopes`], which the salsa layer implements.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::label::Label;
use crate::schema::{Field, Kind, Ty};
use crate::syntax::{self, Block, Body, Call, Entry, Expr, ExprKind, Item, TemplateDef};
use crate::value::{BuiltinCall, FileRef, Value};
use dhib_core::diag::{did_you_mean, Diag, Span};

mod builtins;
mod expr;
mod targets;
mod templates;
#[cfg(test)]
mod tests;
mod types;

pub use types::is_date;

use builtins::*;

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

    // ---- template expansion into targets ----

    // ---- expressions ----
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
