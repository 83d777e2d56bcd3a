//! The query language of `dhib query`:
//!
//! ```text
//! expr := term (op term)*          op: + - ^ (or: union except intersect)
//! term := deps(expr [, depth]) | rdeps(universe, expr [, depth])
//!       | allpaths(from, to) | kind(KIND, expr) | attr(NAME, VALUE, expr)
//!       | tests(expr) | ( expr ) | PATTERN
//! ```
//! Operators are left-associative and need spaces around them, since `-`
//! may appear inside target names.

use std::collections::{BTreeSet, HashSet, VecDeque};
use std::sync::Arc;

use petgraph::stable_graph::NodeIndex;

use super::{BuildGraph, NodeId, NodeKind};
use dhib_core::diag::{did_you_mean, Diag, Span};
use dhib_lang::eval::TargetDef;
use dhib_lang::label::{Label, Pattern};
use dhib_lang::schema::Kind;
use dhib_lang::value::Value;

/// The pseudo-file name query diagnostics point into.
pub const QUERY_FILE: &str = "<query>";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    Pattern(String, Span),
    Deps(Box<Query>, Option<usize>),
    Rdeps(Box<Query>, Box<Query>, Option<usize>),
    AllPaths(Box<Query>, Box<Query>),
    Kind(String, Span, Box<Query>),
    Attr(String, String, Box<Query>),
    Tests(Box<Query>),
    /// `supported(DATE, X)` (true) and `unsupported(DATE, X)` (false): the
    /// images and customizations of X inside (or past) their support window
    /// on DATE; one without a window is always supported.
    Supported(String, bool, Box<Query>),
    Union(Box<Query>, Box<Query>),
    Except(Box<Query>, Box<Query>),
    Intersect(Box<Query>, Box<Query>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Open,
    Close,
    Comma,
    Word(String),
}

fn lex(text: &str) -> Result<Vec<(Tok, Span)>, Diag> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'(' | b')' | b',' => {
                let t = match c {
                    b'(' => Tok::Open,
                    b')' => Tok::Close,
                    _ => Tok::Comma,
                };
                out.push((t, Span::new(i, i + 1)));
                i += 1;
            }
            b'"' | b'\'' => {
                let end = text[i + 1..].find(c as char).map(|e| i + 1 + e).ok_or_else(|| {
                    Diag::error(QUERY_FILE, Span::new(i, text.len()), "E0401", "unterminated quoted word").with_label("starts here")
                })?;
                out.push((Tok::Word(text[i + 1..end].to_string()), Span::new(i, end + 1)));
                i = end + 1;
            }
            _ => {
                let start = i;
                while i < bytes.len() && !b" \t\n\r(),".contains(&bytes[i]) {
                    i += 1;
                }
                out.push((Tok::Word(text[start..i].to_string()), Span::new(start, i)));
            }
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<(Tok, Span)>,
    pos: usize,
    len: usize,
}

const FUNCTIONS: &[&str] = &["deps", "rdeps", "allpaths", "kind", "attr", "tests", "supported", "unsupported"];

pub fn parse(text: &str) -> Result<Query, Diag> {
    let mut p = Parser { toks: lex(text)?, pos: 0, len: text.len() };
    if p.toks.is_empty() {
        return Err(
            Diag::error(QUERY_FILE, Span::new(0, 0), "E0402", "empty query").with_help("try `//...` or `rdeps(//..., //pkgs/zlib)`")
        );
    }
    let q = p.expr()?;
    if let Some((_, span)) = p.toks.get(p.pos) {
        return Err(Diag::error(QUERY_FILE, *span, "E0403", "unexpected input after the query")
            .with_label("not expected here")
            .with_help("join expressions with ` + `, ` - ` or ` ^ ` (with spaces around them)"));
    }
    Ok(q)
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.0)
    }

    fn span(&self) -> Span {
        self.toks.get(self.pos).map_or(Span::new(self.len, self.len), |t| t.1)
    }

    fn expect(&mut self, want: Tok, what: &str) -> Result<(), Diag> {
        if self.peek() == Some(&want) {
            self.pos += 1;
            Ok(())
        } else {
            Err(Diag::error(QUERY_FILE, self.span(), "E0404", format!("expected {what}")).with_label("here"))
        }
    }

    fn expr(&mut self) -> Result<Query, Diag> {
        let mut left = self.term()?;
        loop {
            let op = match self.peek() {
                Some(Tok::Word(w)) if ["+", "union", "-", "except", "^", "intersect"].contains(&w.as_str()) => w.clone(),
                _ => return Ok(left),
            };
            self.pos += 1;
            let right = Box::new(self.term()?);
            left = match op.as_str() {
                "+" | "union" => Query::Union(Box::new(left), right),
                "-" | "except" => Query::Except(Box::new(left), right),
                _ => Query::Intersect(Box::new(left), right),
            };
        }
    }

    fn word(&mut self, what: &str) -> Result<(String, Span), Diag> {
        match self.toks.get(self.pos) {
            Some((Tok::Word(w), s)) => {
                self.pos += 1;
                Ok((w.clone(), *s))
            }
            _ => Err(Diag::error(QUERY_FILE, self.span(), "E0404", format!("expected {what}")).with_label("here")),
        }
    }

    fn depth(&mut self) -> Result<Option<usize>, Diag> {
        if self.peek() != Some(&Tok::Comma) {
            return Ok(None);
        }
        self.pos += 1;
        let (w, span) = self.word("a depth (a whole number)")?;
        w.parse()
            .map(Some)
            .map_err(|_| Diag::error(QUERY_FILE, span, "E0405", format!("`{w}` is not a depth")).with_label("expected a whole number"))
    }

    fn term(&mut self) -> Result<Query, Diag> {
        if self.peek() == Some(&Tok::Open) {
            self.pos += 1;
            let q = self.expr()?;
            self.expect(Tok::Close, "`)`")?;
            return Ok(q);
        }
        let (w, span) = self.word("a target pattern or a function such as deps(...)")?;
        if self.peek() != Some(&Tok::Open) {
            if FUNCTIONS.contains(&w.as_str()) {
                return Err(Diag::error(QUERY_FILE, span, "E0406", format!("`{w}` needs arguments"))
                    .with_label("here")
                    .with_help(format!("write `{w}(...)`")));
            }
            return Ok(Query::Pattern(w, span));
        }
        self.pos += 1;
        let q = match w.as_str() {
            "deps" => {
                let x = self.expr()?;
                Query::Deps(Box::new(x), self.depth()?)
            }
            "rdeps" => {
                let u = self.expr()?;
                self.expect(Tok::Comma, "`,` and the targets whose dependents to find")?;
                let x = self.expr()?;
                Query::Rdeps(Box::new(u), Box::new(x), self.depth()?)
            }
            "allpaths" => {
                let a = self.expr()?;
                self.expect(Tok::Comma, "`,` and the end of the paths")?;
                Query::AllPaths(Box::new(a), Box::new(self.expr()?))
            }
            "kind" => {
                let (k, kspan) = self.word("a kind such as `image`")?;
                self.expect(Tok::Comma, "`,`")?;
                Query::Kind(k, kspan, Box::new(self.expr()?))
            }
            "attr" => {
                let (name, _) = self.word("an attribute name")?;
                self.expect(Tok::Comma, "`,`")?;
                let (value, _) = self.word("a value")?;
                self.expect(Tok::Comma, "`,`")?;
                Query::Attr(name, value, Box::new(self.expr()?))
            }
            "tests" => Query::Tests(Box::new(self.expr()?)),
            "supported" | "unsupported" => {
                let (date, dspan) = self.word("a date (YYYY-MM-DD)")?;
                if !dhib_lang::eval::is_date(&date) {
                    return Err(Diag::error(QUERY_FILE, dspan, "E0404", format!("expected a date (YYYY-MM-DD), found `{date}`"))
                        .with_label("not a calendar date")
                        .with_help(format!("e.g. {w}(2027-01-01, //...)")));
                }
                self.expect(Tok::Comma, "`,`")?;
                Query::Supported(date, w == "supported", Box::new(self.expr()?))
            }
            _ => {
                let mut d = Diag::error(QUERY_FILE, span, "E0407", format!("unknown function `{w}`")).with_label("not a query function");
                d = match did_you_mean(&w, FUNCTIONS.iter().copied()) {
                    Some(s) => d.with_help(format!("did you mean `{s}`?")),
                    None => d.with_help(format!("the functions are: {}", FUNCTIONS.join(", "))),
                };
                return Err(d);
            }
        };
        self.expect(Tok::Close, "`)`")?;
        Ok(q)
    }
}

pub type NodeSet = BTreeSet<NodeIndex>;

/// Gives queries the definitions behind nodes, for `attr()` and `tests()`.
pub trait Targets {
    fn target(&self, label: &Label) -> Option<Arc<TargetDef>>;
    /// Every target of the workspace, with its kind.
    fn all_labels(&self) -> Arc<Vec<(Label, dhib_lang::schema::Kind)>>;
}

/// Evaluates a query against the graph.
pub fn eval(q: &Query, g: &BuildGraph, t: &dyn Targets) -> Result<NodeSet, Diag> {
    let eval = |q: &Query, g: &BuildGraph| eval(q, g, t);
    Ok(match q {
        Query::Pattern(p, span) => resolve_pattern(p, *span, g)?,
        Query::Deps(x, depth) => reach(g, &eval(x, g)?, *depth, true),
        Query::Rdeps(u, x, depth) => {
            let universe = eval(u, g)?;
            let mut r = reach(g, &eval(x, g)?, *depth, false);
            r.retain(|n| universe.contains(n));
            r
        }
        Query::AllPaths(a, b) => {
            let from = reach(g, &eval(a, g)?, None, true);
            let to = reach(g, &eval(b, g)?, None, false);
            from.intersection(&to).copied().collect()
        }
        Query::Kind(k, span, x) => {
            let Some(kind) = NodeKind::from_name(k) else {
                let mut d = Diag::error(QUERY_FILE, *span, "E0408", format!("unknown kind `{k}`")).with_label("not a kind");
                d = match did_you_mean(k, NodeKind::NAMES) {
                    Some(s) => d.with_help(format!("did you mean `{s}`?")),
                    None => d.with_help(format!("the kinds are: {}", NodeKind::NAMES.join(", "))),
                };
                return Err(d);
            };
            eval(x, g)?.into_iter().filter(|n| g.kind(*n) == Some(kind)).collect()
        }
        Query::Attr(name, value, x) => eval(x, g)?
            .into_iter()
            .filter(|n| {
                let id = g.node(*n);
                id.facet.is_none() && t.target(&id.label).and_then(|d| d.attrs.get(name).cloned()).is_some_and(|v| value_matches(&v, value))
            })
            .collect(),
        Query::Supported(date, inside, x) => eval(x, g)?
            .into_iter()
            .filter(|n| matches!(g.kind(*n), Some(NodeKind::Target(Kind::Image | Kind::Customization))) && g.node(*n).facet.is_none())
            .filter(|n| {
                let until = t.target(&g.node(*n).label).and_then(|d| match d.attrs.get("support") {
                    Some(Value::Map(m)) => m.get("until").and_then(Value::as_str).map(str::to_string),
                    _ => None,
                });
                // Days as YYYY-MM-DD compare as text.
                until.is_none_or(|u| u.as_str() >= date.as_str()) == *inside
            })
            .collect(),
        Query::Tests(x) => {
            let targets: HashSet<&Label> = eval(x, g)?.iter().map(|n| &g.node(*n).label).collect();
            g.graph
                .node_indices()
                .filter(|n| g.kind(*n) == Some(NodeKind::Target(Kind::Test)))
                .filter(|n| {
                    let image = t.target(&g.node(*n).label).and_then(|d| d.attrs.get("image").cloned());
                    matches!(image, Some(Value::Label(l)) if targets.contains(&l))
                })
                .collect()
        }
        Query::Union(a, b) => &eval(a, g)? | &eval(b, g)?,
        Query::Except(a, b) => &eval(a, g)? - &eval(b, g)?,
        Query::Intersect(a, b) => &eval(a, g)? & &eval(b, g)?,
    })
}

fn value_matches(v: &Value, want: &str) -> bool {
    match v {
        Value::List(items) => items.iter().any(|i| value_matches(i, want)),
        other => other.to_string() == want,
    }
}

/// Everything reachable from `start` (included) along dependency edges
/// (`forward`) or against them, at most `depth` edges away.
pub fn reach(g: &BuildGraph, start: &NodeSet, depth: Option<usize>, forward: bool) -> NodeSet {
    let mut seen: NodeSet = start.clone();
    let mut queue: VecDeque<(NodeIndex, usize)> = start.iter().map(|n| (*n, 0)).collect();
    while let Some((n, d)) = queue.pop_front() {
        if depth.is_some_and(|max| d >= max) {
            continue;
        }
        let next: Vec<NodeIndex> = if forward { g.dependencies(n).collect() } else { g.dependents(n).collect() };
        for m in next {
            if seen.insert(m) {
                queue.push_back((m, d + 1));
            }
        }
    }
    seen
}

/// `//...`, `//dir/...`, `//dir:all`, a label (every configuration of it),
/// or a node written with `@platform` / `#attestation`.
pub fn resolve_pattern(p: &str, span: Span, g: &BuildGraph) -> Result<NodeSet, Diag> {
    let bad = |msg: String| Diag::error(QUERY_FILE, span, "E0409", msg).with_label("in this pattern");
    if p.contains('@') || p.contains('#') {
        let id = NodeId::parse(p).map_err(bad)?;
        return match g.index.get(&id) {
            Some(i) => Ok(BTreeSet::from([*i])),
            None => Err(unknown(p, span, g)),
        };
    }
    let pattern = Pattern::parse(p).map_err(|m| bad(format!("{m}; patterns look like //..., //dir/..., //dir:name")))?;
    let set: NodeSet = g
        .graph
        .node_indices()
        .filter(|i| {
            let id = g.node(*i);
            pattern.matches(&id.label) && (!matches!(pattern, Pattern::Exact(_)) || id.facet.is_none())
        })
        .collect();
    if set.is_empty() && matches!(pattern, Pattern::Exact(_)) {
        return Err(unknown(p, span, g));
    }
    Ok(set)
}

fn unknown(p: &str, span: Span, g: &BuildGraph) -> Diag {
    let names: Vec<String> = g.node_ids().map(|n| n.to_string()).collect();
    let mut d = Diag::error(QUERY_FILE, span, "E0410", format!("no target `{p}`")).with_label("not in the graph");
    let normalized = Label::parse(p, "").map(|l| l.to_string()).unwrap_or_else(|_| p.to_string());
    if let Some(s) = did_you_mean(&normalized, names.iter().map(|s| s.as_str())) {
        d = d.with_help(format!("did you mean `{s}`?"));
    }
    d
}

/// The subgraph induced on `set`, in Graphviz dot.
pub fn to_dot(g: &BuildGraph, set: &NodeSet) -> String {
    let mut out = String::from("digraph dhib {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n");
    let mut nodes: Vec<&NodeIndex> = set.iter().collect();
    nodes.sort_by_key(|n| g.node(**n));
    for n in &nodes {
        let kind = g.kind(**n).map_or("missing", NodeKind::name);
        out.push_str(&format!("  \"{}\" [label=\"{}\\n({kind})\"];\n", g.node(**n), g.node(**n)));
    }
    for n in &nodes {
        let mut deps: Vec<NodeIndex> = g.dependencies(**n).filter(|d| set.contains(d)).collect();
        deps.sort_by_key(|d| g.node(*d));
        for d in deps {
            out.push_str(&format!("  \"{}\" -> \"{}\";\n", g.node(**n), g.node(d)));
        }
    }
    out.push_str("}\n");
    out
}
