//! The syntax tree of a `.dhi` file and its construction from pest pairs.
//!
//! Spans are byte offsets into the file's text (never pest's columns, which
//! count characters), so miette can point at them directly.

use pest::iterators::Pair;
use pest::Parser as _;

use super::diag::{Diag, Span};

#[derive(pest_derive::Parser)]
#[grammar = "grammar/dhi.pest"]
pub(crate) struct DhiParser;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct File {
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Item {
    Load(Load),
    Let(LetDef),
    Template(TemplateDef),
    Block(Block),
    Call(Call),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Str {
    /// The text with escapes resolved; `{name}` interpolation is still raw.
    pub value: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Load {
    pub path: Str,
    pub names: Vec<Str>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LetDef {
    pub name: Ident,
    pub value: Expr,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TemplateDef {
    pub name: Ident,
    pub params: Vec<Param>,
    pub body: Body,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Param {
    pub name: Ident,
    pub default: Option<Expr>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Block {
    pub kind: Ident,
    pub name: Str,
    pub body: Body,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Body {
    pub entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Entry {
    Block(Block),
    Section(Section),
    Attr(Attr),
    Call(Call),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Section {
    pub name: Ident,
    pub body: Body,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Attr {
    pub name: Ident,
    pub append: bool,
    pub value: Expr,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ExprKind {
    Str(String),
    Int(i64),
    Bool(bool),
    List(Vec<Expr>),
    Map(Vec<(Ident, Expr)>),
    Label(String),
    Call(Call),
    /// `name` or `name.field.field`
    Ref(Vec<Ident>),
    /// `a + b + c`
    Concat(Vec<Expr>),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Call {
    pub name: Ident,
    pub args: Vec<Arg>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Arg {
    pub name: Option<Ident>,
    pub value: Expr,
}

/// Parses one file. A syntax error is returned as a diagnostic at its span.
pub fn parse(path: &str, text: &str) -> Result<File, Diag> {
    let mut pairs = DhiParser::parse(Rule::file, text).map_err(|e| syntax_error(path, text, e))?;
    let file = pairs.next().expect("the file rule always yields one pair");
    let mut b = Builder { path };
    let items = children(file)
        .filter(|p| p.as_rule() != Rule::EOI)
        .map(|p| b.item(p))
        .collect::<Result<_, _>>()?;
    Ok(File { items })
}

/// Skips comments, which only the formatter looks at.
pub(crate) fn children(pair: Pair<'_, Rule>) -> impl Iterator<Item = Pair<'_, Rule>> {
    pair.into_inner().filter(|p| p.as_rule() != Rule::COMMENT)
}

fn span_of(pair: &Pair<'_, Rule>) -> Span {
    trimmed_span(pair)
}

/// A pair's span without the whitespace and comments pest leaves at the end
/// of a rule that ends in a repetition (`expr`, `body`), so diagnostics
/// underline only the code.
pub(crate) fn trimmed_span(pair: &Pair<'_, Rule>) -> Span {
    let s = pair.as_span();
    let last = pair.clone().into_inner().filter(|p| p.as_rule() != Rule::COMMENT).last();
    let end = match last {
        Some(child) if is_trivia(&s.get_input()[child.as_span().end()..s.end()]) => trimmed_span(&child).end as usize,
        _ => s.end(),
    };
    Span::new(s.start(), end)
}

fn is_trivia(mut s: &str) -> bool {
    loop {
        s = s.trim_start();
        match s.strip_prefix('#') {
            Some(rest) => s = rest.find('\n').map_or("", |i| &rest[i..]),
            None => return s.is_empty(),
        }
    }
}

struct Builder<'a> {
    path: &'a str,
}

impl Builder<'_> {
    fn item(&mut self, p: Pair<'_, Rule>) -> Result<Item, Diag> {
        Ok(match p.as_rule() {
            Rule::load => {
                let span = span_of(&p);
                let mut strs = children(p).map(|s| self.string(s));
                let path = strs.next().expect("grammar: load has a path")?;
                let names = strs.collect::<Result<Vec<_>, _>>()?;
                if names.is_empty() {
                    return Err(Diag::error(self.path, span, "E0101", "`load` imports nothing")
                        .with_label("no names listed")
                        .with_help(format!("name what to import: load(\"{}\", \"template_name\")", path.value)));
                }
                Item::Load(Load { path, names, span })
            }
            Rule::let_def => {
                let mut c = children(p);
                let name = ident(c.next().expect("grammar: let name"));
                let value = self.expr(c.next().expect("grammar: let value"))?;
                Item::Let(LetDef { name, value })
            }
            Rule::template_def => {
                let span = span_of(&p);
                let mut name = None;
                let mut params = Vec::new();
                let mut body = Body::default();
                for c in children(p) {
                    match c.as_rule() {
                        Rule::ident => name = Some(ident(c)),
                        Rule::params => {
                            for param in children(c) {
                                let mut pc = children(param);
                                let name = ident(pc.next().expect("grammar: param name"));
                                let default = pc.next().map(|e| self.expr(e)).transpose()?;
                                params.push(Param { name, default });
                            }
                        }
                        Rule::body => body = self.body(c)?,
                        r => unreachable!("template child {r:?}"),
                    }
                }
                Item::Template(TemplateDef { name: name.expect("grammar: template name"), params, body, span })
            }
            Rule::block => Item::Block(self.block(p)?),
            Rule::call_stmt => Item::Call(self.call(children(p).next().expect("grammar: call"))?),
            r => unreachable!("item {r:?}"),
        })
    }

    fn block(&mut self, p: Pair<'_, Rule>) -> Result<Block, Diag> {
        let span = span_of(&p);
        let mut c = children(p);
        let kind = ident(c.next().expect("grammar: block kind"));
        let name = self.string(c.next().expect("grammar: block name"))?;
        let body = self.body(c.next().expect("grammar: block body"))?;
        Ok(Block { kind, name, body, span })
    }

    fn body(&mut self, p: Pair<'_, Rule>) -> Result<Body, Diag> {
        let mut entries = Vec::new();
        for e in children(p) {
            entries.push(match e.as_rule() {
                Rule::block => Entry::Block(self.block(e)?),
                Rule::section => {
                    let span = span_of(&e);
                    let mut c = children(e);
                    let name = ident(c.next().expect("grammar: section name"));
                    let body = self.body(c.next().expect("grammar: section body"))?;
                    Entry::Section(Section { name, body, span })
                }
                Rule::attr => {
                    let mut c = children(e);
                    let name = ident(c.next().expect("grammar: attr name"));
                    let append = c.next().expect("grammar: assign op").as_str() == "+=";
                    let value = self.expr(c.next().expect("grammar: attr value"))?;
                    Entry::Attr(Attr { name, append, value })
                }
                Rule::call_stmt => Entry::Call(self.call(children(e).next().expect("grammar: call"))?),
                r => unreachable!("body entry {r:?}"),
            });
        }
        Ok(Body { entries })
    }

    fn expr(&mut self, p: Pair<'_, Rule>) -> Result<Expr, Diag> {
        let span = span_of(&p);
        let mut terms = Vec::new();
        for t in children(p) {
            if t.as_rule() != Rule::plus {
                terms.push(self.term(t)?);
            }
        }
        if terms.len() == 1 {
            Ok(terms.pop().expect("one term"))
        } else {
            Ok(Expr { kind: ExprKind::Concat(terms), span })
        }
    }

    fn term(&mut self, p: Pair<'_, Rule>) -> Result<Expr, Diag> {
        let span = span_of(&p);
        let kind = match p.as_rule() {
            Rule::string => ExprKind::Str(self.string(p)?.value),
            Rule::integer => {
                let s = p.as_str();
                let (neg, digits) = s.strip_prefix('-').map_or((false, s), |d| (true, d));
                let parsed = match digits.strip_prefix("0o") {
                    Some(oct) => i64::from_str_radix(oct, 8),
                    None => digits.parse::<i64>(),
                };
                let v = parsed.map_err(|_| {
                    Diag::error(self.path, span, "E0102", "integer out of range")
                        .with_label("does not fit in 64 bits")
                })?;
                ExprKind::Int(if neg { -v } else { v })
            }
            Rule::boolean => ExprKind::Bool(p.as_str() == "true"),
            Rule::list => ExprKind::List(children(p).map(|e| self.expr(e)).collect::<Result<_, _>>()?),
            Rule::map => {
                let mut entries = Vec::new();
                for entry in children(p) {
                    let mut c = children(entry);
                    let k = c.next().expect("grammar: map key");
                    let key = if k.as_rule() == Rule::string {
                        let s = self.string(k)?;
                        Ident { name: s.value, span: s.span }
                    } else {
                        ident(k)
                    };
                    entries.push((key, self.expr(c.next().expect("grammar: map value"))?));
                }
                ExprKind::Map(entries)
            }
            Rule::label => ExprKind::Label(p.as_str().to_string()),
            Rule::call => ExprKind::Call(self.call(p)?),
            Rule::reference => ExprKind::Ref(children(p).map(ident).collect()),
            r => unreachable!("term {r:?}"),
        };
        Ok(Expr { kind, span })
    }

    fn call(&mut self, p: Pair<'_, Rule>) -> Result<Call, Diag> {
        let span = span_of(&p);
        let mut c = children(p);
        let name = ident(c.next().expect("grammar: call name"));
        let mut args = Vec::new();
        if let Some(list) = c.next() {
            for arg in children(list) {
                let inner = children(arg).next().expect("grammar: arg");
                args.push(if inner.as_rule() == Rule::named_arg {
                    let mut nc = children(inner);
                    let n = ident(nc.next().expect("grammar: arg name"));
                    Arg { name: Some(n), value: self.expr(nc.next().expect("grammar: arg value"))? }
                } else {
                    Arg { name: None, value: self.expr(inner)? }
                });
            }
        }
        Ok(Call { name, args, span })
    }

    fn string(&mut self, p: Pair<'_, Rule>) -> Result<Str, Diag> {
        let span = span_of(&p);
        let inner = p.into_inner().next().expect("grammar: string body");
        let value = match inner.as_rule() {
            Rule::long_string => inner.into_inner().next().map_or(String::new(), |c| c.as_str().to_string()),
            Rule::short_string => unescape(inner.into_inner().next().map_or("", |c| c.as_str())),
            r => unreachable!("string {r:?}"),
        };
        Ok(Str { value, span })
    }
}

fn ident(p: Pair<'_, Rule>) -> Ident {
    Ident { name: p.as_str().to_string(), span: span_of(&p) }
}

fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('0') => out.push('\0'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// Friendly names for what the parser expected, so a syntax error reads as
/// "expected a value" rather than a list of grammar rules.
fn rule_name(r: &Rule) -> &'static str {
    match r {
        Rule::string | Rule::short_string | Rule::long_string => "a string",
        Rule::integer => "an integer",
        Rule::boolean => "`true` or `false`",
        Rule::list => "a list `[...]`",
        Rule::map => "a map `{...}`",
        Rule::label => "a label like `//pkgs/zlib:zlib`",
        Rule::call | Rule::call_stmt => "a call",
        Rule::reference | Rule::ident => "a name",
        Rule::expr => "a value",
        Rule::attr => "an attribute `name = value`",
        Rule::block => "a block `kind \"name\" { ... }`",
        Rule::section => "a section `name { ... }`",
        Rule::assign_op => "`=` or `+=`",
        Rule::plus => "`+`",
        Rule::load => "`load(...)`",
        Rule::let_def => "`let`",
        Rule::template_def => "`template`",
        Rule::EOI => "end of file",
        Rule::params | Rule::param => "a parameter",
        Rule::args | Rule::arg | Rule::named_arg => "an argument",
        Rule::map_entry => "an entry `key = value`",
        _ => "something else",
    }
}

fn syntax_error(path: &str, text: &str, e: pest::error::Error<Rule>) -> Diag {
    use pest::error::{ErrorVariant, InputLocation};
    let (start, end) = match e.location {
        InputLocation::Pos(p) => (p, p),
        InputLocation::Span((a, b)) => (a, b),
    };
    // Point at the offending token rather than an empty position.
    let end = if end > start {
        end
    } else {
        let rest = &text[start.min(text.len())..];
        start + rest.chars().next().map_or(0, |c| c.len_utf8())
    };
    let found = text.get(start..end).filter(|s| !s.trim().is_empty());
    let message = match &e.variant {
        ErrorVariant::ParsingError { positives, .. } => {
            let mut names: Vec<&str> = positives.iter().map(rule_name).collect();
            names.sort();
            names.dedup();
            let expected = match names.len() {
                0 => "valid syntax".to_string(),
                1 => names[0].to_string(),
                _ => {
                    let last = names.pop().expect("two or more");
                    format!("{} or {}", names.join(", "), last)
                }
            };
            match found {
                Some(f) => format!("expected {expected}, found `{f}`"),
                None => format!("expected {expected}"),
            }
        }
        ErrorVariant::CustomError { message } => message.clone(),
    };
    let help = match found {
        Some("}") => Some("a block or section may be missing its opening `{`, or has one `}` too many".to_string()),
        Some(":") => Some("attributes are written `name = value`".to_string()),
        Some("'") => Some("strings use double quotes: \"...\"".to_string()),
        None if start >= text.trim_end().len() => Some("the file ends early: is a `}` or `]` missing?".to_string()),
        _ => None,
    };
    let mut d = Diag::error(path, Span::new(start, end), "E0100", format!("syntax error: {message}"))
        .with_label("here");
    if let Some(h) = help {
        d = d.with_help(h);
    }
    d
}
