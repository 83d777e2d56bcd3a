//! The syntax tree of a `.dhi` file and its construction from pest pairs.
//!
//! Spans are byte offsets into the file's text (never pest's columns, which
//! count characters), so miette can point at them directly.

use pest::iterators::Pair;
use pest::Parser as _;

use dhib_core::diag::{Diag, Span};

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
    /// Where `value` starts in the file when it is the source text verbatim
    /// (a `"""` string, or a `"` string without escapes), so a diagnostic
    /// about part of it can point at exactly that part.
    pub text_at: Option<u32>,
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
    /// A string's value and, as in [`Str`], where it starts when verbatim.
    Str(String, Option<u32>),
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

/// How deeply lists, maps, calls and blocks may nest. Parsing, lowering and
/// formatting all recurse once per level; a bound far beyond any real
/// catalog keeps a hostile file from overflowing the stack.
pub const MAX_NESTING: usize = 128;

/// Parses one file. A syntax error is returned as a diagnostic at its span.
pub fn parse(path: &str, text: &str) -> Result<File, Diag> {
    check_nesting(path, text)?;
    let mut pairs = DhiParser::parse(Rule::file, text).map_err(|e| syntax_error(path, text, e))?;
    let file = pairs.next().expect("the file rule always yields one pair");
    let mut b = Builder { path };
    let items = children(file).filter(|p| p.as_rule() != Rule::EOI).map(|p| b.item(p)).collect::<Result<_, _>>()?;
    Ok(File { items })
}

/// Refuses a file whose brackets nest deeper than [`MAX_NESTING`], at the
/// first bracket too deep, before the recursive parser sees it.
fn check_nesting(path: &str, text: &str) -> Result<(), Diag> {
    let mut depth = 0usize;
    for (i, c) in brackets(text) {
        if matches!(c, b'[' | b'{' | b'(') {
            depth += 1;
            if depth > MAX_NESTING {
                return Err(Diag::error(path, Span::new(i, i + 1), "E0103", format!("brackets nest more than {MAX_NESTING} levels deep"))
                    .with_label("too deep")
                    .with_help("flatten the value, or split it into `let`s"));
            }
        } else {
            depth = depth.saturating_sub(1);
        }
    }
    Ok(())
}

/// The brackets of `text` (`[]{}()`) with their byte offsets, outside
/// strings and comments.
fn brackets(text: &str) -> Vec<(usize, u8)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' if text[i..].starts_with("\"\"\"") => {
                i = text[i + 3..].find("\"\"\"").map_or(bytes.len(), |end| i + 3 + end + 2);
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            c @ (b'[' | b'{' | b'(' | b']' | b'}' | b')') => out.push((i, c)),
            _ => {}
        }
        i += 1;
    }
    out
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
            Rule::string => {
                let s = self.string(p)?;
                ExprKind::Str(s.value, s.text_at)
            }
            Rule::integer => {
                let s = p.as_str();
                let (neg, digits) = s.strip_prefix('-').map_or((false, s), |d| (true, d));
                let parsed = match digits.strip_prefix("0o") {
                    Some(oct) => i64::from_str_radix(oct, 8),
                    None => digits.parse::<i64>(),
                };
                let v = parsed
                    .map_err(|_| Diag::error(self.path, span, "E0102", "integer out of range").with_label("does not fit in 64 bits"))?;
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
        let rule = inner.as_rule();
        let raw = inner.into_inner().next().map_or("", |c| c.as_str());
        let (value, quotes) = match rule {
            Rule::long_string => (raw.to_string(), 3),
            Rule::short_string => (unescape(raw), 1),
            r => unreachable!("string {r:?}"),
        };
        let text_at = (value == raw).then_some(span.start + quotes);
        Ok(Str { value, span, text_at })
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

/// Turns pest's error into a diagnostic a person can act on. pest reports
/// only the rules it tried at the furthest position (never literal tokens
/// like `=` or `}`), so the common mistakes are recognised from the text.
fn syntax_error(path: &str, text: &str, e: pest::error::Error<Rule>) -> Diag {
    use pest::error::{ErrorVariant, InputLocation};
    let start = match e.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((a, _)) => a,
    }
    .min(text.len());
    // Point at the offending character rather than an empty position.
    let end = start + text[start..].chars().next().map_or(0, |c| c.len_utf8());
    let found = text.get(start..end).filter(|s| !s.trim().is_empty());
    let error = |span: Span, message: String, label: &str, help: Option<String>| {
        let d = Diag::error(path, span, "E0100", format!("syntax error: {message}")).with_label(label);
        match help {
            Some(h) => d.with_help(h),
            None => d,
        }
    };

    if let Some((open, closer)) = unclosed(text, start) {
        let opener = &text[open..open + 1];
        return error(
            Span::new(open, open + 1),
            format!("this `{opener}` is never closed"),
            "opened here",
            Some(format!("add the missing `{closer}`")),
        );
    }
    if found == Some("\"") && !text[end..].lines().next().unwrap_or("").contains('"') {
        let line_end = start + text[start..].find('\n').unwrap_or(text.len() - start);
        return error(
            Span::new(start, line_end),
            "unterminated string".into(),
            "this string has no closing `\"`",
            Some("close it on the same line, or write a multi-line string as \"\"\"...\"\"\"".into()),
        );
    }
    if found == Some("'") {
        return error(Span::new(start, end), "strings use double quotes".into(), "here", Some("write \"...\"".into()));
    }
    if let Some(d) = missing_equals(text, start) {
        let (span, name) = d;
        return error(span, format!("expected `=` after `{name}`"), "attribute without `=`", Some(format!("write `{name} = ...`")));
    }
    // A bare word where a value belongs, e.g. `url = file://x`.
    let before = text[..start].trim_end();
    let word_start = before.char_indices().rev().find(|(_, c)| !(c.is_alphanumeric() || *c == '_')).map_or(0, |(i, c)| i + c.len_utf8());
    let assigned = text[..word_start].trim_end().ends_with('=');
    if assigned && word_start < before.len() && matches!(found, Some(":" | "/" | "." | "-")) {
        let value_end = start + text[start..].find(char::is_whitespace).unwrap_or(text.len() - start);
        return error(
            Span::new(word_start, value_end),
            "a value must be quoted, a label, a number or a name".into(),
            "not a value",
            Some(format!("quote it: \"{}\"", &text[word_start..value_end])),
        );
    }

    let names: Vec<&str> = match &e.variant {
        ErrorVariant::ParsingError { positives, .. } => {
            let mut n: Vec<&str> = positives.iter().filter(|r| **r != Rule::COMMENT).map(rule_name).collect();
            n.sort();
            n.dedup();
            n
        }
        ErrorVariant::CustomError { .. } => Vec::new(),
    };
    let expected = match names.as_slice() {
        [] => None,
        [one] => Some(one.to_string()),
        [rest @ .., last] => Some(format!("{} or {last}", rest.join(", "))),
    };
    let message = match (expected, found) {
        (Some(x), Some(f)) => format!("expected {x}, found `{f}`"),
        (Some(x), None) => format!("expected {x}"),
        (None, Some(f)) => format!("unexpected `{f}`"),
        (None, None) => "unexpected end of file".into(),
    };
    let help = match found {
        Some("}") => Some("there is one `}` too many, or a block above is missing its `{`".to_string()),
        Some(":") => Some("attributes are written `name = value`".to_string()),
        Some(";") => Some("remove the `;`: attributes need no terminator".to_string()),
        Some(",") => Some("remove the `,`: commas separate list items, map entries and arguments only".to_string()),
        _ => None,
    };
    error(Span::new(start, end), message, "here", help)
}

/// The innermost `{`, `[` or `(` still open at `pos`, when the text ends
/// without closing it (strings and comments are skipped).
fn unclosed(text: &str, pos: usize) -> Option<(usize, char)> {
    if !text[pos..].trim().is_empty() {
        return None;
    }
    let mut stack: Vec<(usize, char)> = Vec::new();
    for (i, c) in brackets(text) {
        match c {
            b'{' => stack.push((i, '}')),
            b'[' => stack.push((i, ']')),
            b'(' => stack.push((i, ')')),
            _ => {
                stack.pop();
            }
        }
    }
    stack.pop()
}

/// `name "value"` or `name [..]` on the line before `pos`: an attribute
/// written without `=`.
fn missing_equals(text: &str, pos: usize) -> Option<(Span, String)> {
    let line_start = text[..pos].rfind('\n').map_or(0, |i| i + 1);
    let candidates = [(line_start, pos), {
        let prev_end = line_start.saturating_sub(1);
        (text[..prev_end].rfind('\n').map_or(0, |i| i + 1), prev_end)
    }];
    for (a, b) in candidates {
        let line = &text[a..b.max(a)];
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let name_len = trimmed.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(0);
        let rest = trimmed[name_len..].trim_start();
        if name_len > 0 && (rest.starts_with('"') && !rest.trim_end().ends_with('{') || rest.starts_with('[')) {
            let name = trimmed[..name_len].to_string();
            return Some((Span::new(a + indent, a + indent + name_len), name));
        }
    }
    None
}
