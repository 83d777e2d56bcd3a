//! Canonical formatting of `.dhi` files (`dhib fmt`).
//!
//! The layout is a function of the syntax tree and the comments: two-space
//! indentation, `name = value`, lists, maps and calls on one line when they
//! fit in [`WIDTH`] columns and hold no comment, else one element per line
//! with a trailing comma. Comments are kept where they stand (own line or end
//! of line) and single blank lines between entries survive. Formatting never
//! changes a key: only layout and comments change, and keys see neither.

use pest::iterators::Pair;
use pest::Parser as _;

use super::syntax::{children, parse, trimmed_span, DhiParser, Rule};
use dhib_core::diag::Diag;

pub const WIDTH: usize = 100;
const INDENT: &str = "  ";

/// Formats `text`; a file with syntax errors is returned as that error.
pub fn format(path: &str, text: &str) -> Result<String, Diag> {
    // Full parse first, so the same diagnostics as analysis are reported.
    parse(path, text)?;
    let file = DhiParser::parse(Rule::file, text).expect("parsed just above").next().expect("the file rule always yields one pair");
    let mut comments = Vec::new();
    collect_comments(file.clone(), &mut comments);
    comments.sort();
    let mut p = Printer { src: text, out: String::with_capacity(text.len()), comments, next: 0, depth: 0, last_end: None };
    let mut prev_was_big = false;
    for item in children(file) {
        if item.as_rule() == Rule::EOI {
            break;
        }
        let big = matches!(item.as_rule(), Rule::block | Rule::template_def | Rule::call_stmt);
        let (start, end) = bounds(&item);
        p.line_item(start, end, (big || prev_was_big) && p.last_end.is_some(), |p| p.item(item.clone()));
        prev_was_big = big;
    }
    p.flush_comments(text.len());
    let out = p.out.trim_end().to_string();
    Ok(if out.is_empty() { out } else { out + "\n" })
}

fn collect_comments(pair: Pair<'_, Rule>, out: &mut Vec<(usize, usize)>) {
    for c in pair.into_inner() {
        if c.as_rule() == Rule::COMMENT {
            out.push((c.as_span().start(), c.as_span().end()));
        } else {
            collect_comments(c, out);
        }
    }
}

fn bounds(p: &Pair<'_, Rule>) -> (usize, usize) {
    let s = trimmed_span(p);
    (s.start as usize, s.end as usize)
}

struct Printer<'a> {
    src: &'a str,
    out: String,
    /// Every comment's byte range, sorted; `next` is the first not yet printed.
    comments: Vec<(usize, usize)>,
    next: usize,
    depth: usize,
    /// End of the last printed element in the current container, for blank lines.
    last_end: Option<usize>,
}

impl Printer<'_> {
    fn column(&self) -> usize {
        self.out.len() - self.out.rfind('\n').map_or(0, |i| i + 1)
    }

    fn indent(&mut self) {
        for _ in 0..self.depth {
            self.out.push_str(INDENT);
        }
    }

    /// One blank line where the source had at least one.
    fn blank_if_gap(&mut self, pos: usize) {
        // A comment inside an element that does not print it inline (after
        // `=`, inside a call or map) comes after the element's end: no gap.
        if let Some(end) = self.last_end.filter(|e| *e <= pos) {
            if self.src[end..pos].matches('\n').count() >= 2 {
                self.out.push('\n');
            }
        }
    }

    /// Prints the comments that start before `pos`, each on its own line.
    fn flush_comments(&mut self, pos: usize) {
        while let Some(&(start, end)) = self.comments.get(self.next) {
            if start >= pos {
                break;
            }
            self.next += 1;
            self.blank_if_gap(start);
            self.indent();
            self.out.push_str(self.src[start..end].trim_end());
            self.out.push('\n');
            self.last_end = Some(end);
        }
    }

    /// An element on its own line(s): leading comments, an optional blank
    /// line, the element, and a comment that ended its last source line.
    fn line_item(&mut self, start: usize, end: usize, force_blank: bool, render: impl FnOnce(&mut Self)) {
        // The forced blank line goes above the element's leading comments.
        if force_blank && !self.out.is_empty() && !self.out.ends_with("\n\n") {
            self.out.push('\n');
            self.last_end = None;
        }
        self.flush_comments(start);
        self.blank_if_gap(start);
        self.indent();
        render(self);
        let mut last = end;
        if let Some(&(cs, ce)) = self.comments.get(self.next) {
            if cs >= end && !self.src[end..cs].contains('\n') {
                self.out.push_str("  ");
                self.out.push_str(self.src[cs..ce].trim_end());
                self.next += 1;
                last = ce;
            }
        }
        self.out.push('\n');
        self.last_end = Some(last);
    }

    /// Opens a container whose elements go one per line.
    fn open(&mut self, opener: &str) {
        self.out.push_str(opener);
        self.out.push('\n');
        self.depth += 1;
        self.last_end = None;
    }

    /// Closes a container, printing the comments left inside it.
    fn close(&mut self, close_pos: usize, closer: &str) {
        self.flush_comments(close_pos);
        self.depth -= 1;
        self.indent();
        self.out.push_str(closer);
    }

    fn has_comment_within(&self, start: usize, end: usize) -> bool {
        self.comments[self.next..].iter().any(|&(s, _)| s >= start && s < end)
    }

    fn item(&mut self, p: Pair<'_, Rule>) {
        match p.as_rule() {
            Rule::load => {
                let args: Vec<Pair<'_, Rule>> = children(p.clone()).collect();
                self.call_like("load", &args, p.as_span().end(), |p, a| p.out.push_str(a.as_str()));
            }
            Rule::let_def => {
                let mut c = children(p);
                let name = c.next().expect("grammar: let name");
                self.out.push_str("let ");
                self.out.push_str(name.as_str());
                self.out.push_str(" = ");
                self.expr(c.next().expect("grammar: let value"));
            }
            Rule::template_def => {
                let end = p.as_span().end();
                let mut name = "";
                let mut params = Vec::new();
                let mut body = None;
                for c in children(p) {
                    match c.as_rule() {
                        Rule::ident => name = c.as_str(),
                        Rule::params => params = children(c).collect(),
                        Rule::body => body = Some(c),
                        _ => {}
                    }
                }
                self.out.push_str("template ");
                let params_end = body.as_ref().map_or(end, |b| b.as_span().start());
                self.call_like(name, &params, params_end, |p, param| {
                    let mut pc = children(param);
                    p.out.push_str(pc.next().expect("grammar: param name").as_str());
                    if let Some(default) = pc.next() {
                        p.out.push_str(" = ");
                        p.expr(default);
                    }
                });
                self.out.push(' ');
                self.braced_body(body, end);
            }
            Rule::block => self.block(p),
            Rule::call_stmt => self.call(children(p).next().expect("grammar: call")),
            r => unreachable!("item {r:?}"),
        }
    }

    fn block(&mut self, p: Pair<'_, Rule>) {
        let end = p.as_span().end();
        let mut c = children(p);
        self.out.push_str(c.next().expect("grammar: block kind").as_str());
        self.out.push(' ');
        self.out.push_str(c.next().expect("grammar: block name").as_str());
        self.out.push(' ');
        self.braced_body(c.next(), end);
    }

    /// `{ entries }` where `end` is just past the closing brace.
    fn braced_body(&mut self, body: Option<Pair<'_, Rule>>, end: usize) {
        let entries: Vec<Pair<'_, Rule>> = body.map(|b| children(b).collect()).unwrap_or_default();
        let has_comment = self.comments.get(self.next).is_some_and(|c| c.0 < end - 1);
        if entries.is_empty() && !has_comment {
            self.out.push_str("{}");
            return;
        }
        self.open("{");
        for e in entries {
            let (s, t) = bounds(&e);
            self.line_item(s, t, false, |p| p.entry(e.clone()));
        }
        self.close(end - 1, "}");
        self.last_end = Some(end);
    }

    fn entry(&mut self, e: Pair<'_, Rule>) {
        match e.as_rule() {
            Rule::block => self.block(e),
            Rule::section => {
                let end = e.as_span().end();
                let mut c = children(e);
                self.out.push_str(c.next().expect("grammar: section name").as_str());
                self.out.push(' ');
                self.braced_body(c.next(), end);
            }
            Rule::attr => {
                let mut c = children(e);
                self.out.push_str(c.next().expect("grammar: attr name").as_str());
                self.out.push(' ');
                self.out.push_str(c.next().expect("grammar: assign op").as_str());
                self.out.push(' ');
                self.expr(c.next().expect("grammar: attr value"));
            }
            Rule::call_stmt => self.call(children(e).next().expect("grammar: call")),
            r => unreachable!("entry {r:?}"),
        }
    }

    fn expr(&mut self, e: Pair<'_, Rule>) {
        let mut first = true;
        for t in children(e) {
            if t.as_rule() == Rule::plus {
                continue;
            }
            if !first {
                self.out.push_str(" + ");
            }
            first = false;
            self.term(t);
        }
    }

    fn term(&mut self, t: Pair<'_, Rule>) {
        match t.as_rule() {
            Rule::list => {
                let end = t.as_span().end();
                let items: Vec<Pair<'_, Rule>> = children(t.clone()).collect();
                if let Some(s) = self.inline(&t) {
                    self.out.push_str(&s);
                    return;
                }
                self.open("[");
                for i in items {
                    let (s, e) = bounds(&i);
                    self.line_item(s, e, false, |p| {
                        p.expr(i.clone());
                        p.out.push(',');
                    });
                }
                self.close(end - 1, "]");
            }
            Rule::map => {
                let end = t.as_span().end();
                let entries: Vec<Pair<'_, Rule>> = children(t.clone()).collect();
                if let Some(s) = self.inline(&t) {
                    self.out.push_str(&s);
                    return;
                }
                self.open("{");
                for m in entries {
                    let (s, e) = bounds(&m);
                    self.line_item(s, e, false, |p| p.map_entry(m.clone()));
                }
                self.close(end - 1, "}");
            }
            Rule::call => self.call(t),
            _ => self.out.push_str(t.as_str()),
        }
    }

    fn map_entry(&mut self, m: Pair<'_, Rule>) {
        let mut c = children(m);
        self.out.push_str(c.next().expect("grammar: map key").as_str());
        self.out.push_str(" = ");
        self.expr(c.next().expect("grammar: map value"));
    }

    fn call(&mut self, c: Pair<'_, Rule>) {
        if let Some(s) = self.inline(&c) {
            self.out.push_str(&s);
            return;
        }
        let end = c.as_span().end();
        let mut parts = children(c);
        let name = parts.next().expect("grammar: call name").as_str();
        let args: Vec<Pair<'_, Rule>> = parts.next().map(|a| children(a).collect()).unwrap_or_default();
        self.call_like(name, &args, end, |p, arg| p.arg(arg));
    }

    fn arg(&mut self, arg: Pair<'_, Rule>) {
        let inner = children(arg).next().expect("grammar: arg");
        if inner.as_rule() == Rule::named_arg {
            let mut nc = children(inner);
            self.out.push_str(nc.next().expect("grammar: arg name").as_str());
            self.out.push_str(" = ");
            self.expr(nc.next().expect("grammar: arg value"));
        } else {
            self.expr(inner);
        }
    }

    /// `name(a, b)` on one line when it fits and holds no comment, else one
    /// element per line. `end` is just past the closing parenthesis.
    fn call_like<'i>(&mut self, name: &str, args: &[Pair<'i, Rule>], end: usize, render: impl Fn(&mut Self, Pair<'i, Rule>)) {
        let close = self.src[..end].rfind(')').unwrap_or(end);
        let start = args.first().map_or(close, |a| a.as_span().start());
        let one_line = if self.has_comment_within(start, close) {
            None
        } else {
            let mut scratch = Printer { src: self.src, out: String::new(), comments: Vec::new(), next: 0, depth: 0, last_end: None };
            scratch.out.push_str(name);
            scratch.out.push('(');
            for (i, a) in args.iter().enumerate() {
                if i > 0 {
                    scratch.out.push_str(", ");
                }
                render(&mut scratch, a.clone());
            }
            scratch.out.push(')');
            (!scratch.out.contains('\n') && self.column() + scratch.out.len() <= WIDTH).then_some(scratch.out)
        };
        if let Some(s) = one_line {
            self.out.push_str(&s);
            return;
        }
        self.out.push_str(name);
        self.open("(");
        for a in args {
            let (s, e) = bounds(a);
            self.line_item(s, e, false, |p| {
                render(p, a.clone());
                p.out.push(',');
            });
        }
        self.close(close, ")");
    }

    /// A list, map or call on one line, if it has no comment inside, no
    /// multi-line string, and fits in the remaining width.
    fn inline(&self, t: &Pair<'_, Rule>) -> Option<String> {
        let (start, end) = bounds(t);
        if self.has_comment_within(start, end) {
            return None;
        }
        let s = inline_text(t.clone())?;
        (self.column() + s.len() <= WIDTH).then_some(s)
    }
}

/// The one-line rendering of an expression, or `None` if it cannot have one.
fn inline_text(t: Pair<'_, Rule>) -> Option<String> {
    Some(match t.as_rule() {
        Rule::expr => {
            let parts: Option<Vec<String>> = children(t).filter(|c| c.as_rule() != Rule::plus).map(inline_text).collect();
            parts?.join(" + ")
        }
        Rule::list => {
            let items: Option<Vec<String>> = children(t).map(inline_text).collect();
            format!("[{}]", items?.join(", "))
        }
        Rule::map => {
            let entries: Option<Vec<String>> = children(t)
                .map(|m| {
                    let mut c = children(m);
                    let k = c.next()?.as_str().to_string();
                    Some(format!("{k} = {}", inline_text(c.next()?)?))
                })
                .collect();
            let entries = entries?;
            if entries.is_empty() {
                "{}".to_string()
            } else {
                format!("{{ {} }}", entries.join(", "))
            }
        }
        Rule::call => {
            let mut c = children(t);
            let name = c.next()?.as_str().to_string();
            let args: Option<Vec<String>> = c
                .next()
                .map(|a| children(a).collect::<Vec<_>>())
                .unwrap_or_default()
                .into_iter()
                .map(|arg| {
                    let inner = children(arg).next()?;
                    if inner.as_rule() == Rule::named_arg {
                        let mut nc = children(inner);
                        let n = nc.next()?.as_str().to_string();
                        Some(format!("{n} = {}", inline_text(nc.next()?)?))
                    } else {
                        inline_text(inner)
                    }
                })
                .collect();
            format!("{name}({})", args?.join(", "))
        }
        _ => {
            let s = t.as_str();
            if s.contains('\n') {
                return None;
            }
            s.to_string()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::format;

    fn fmt(s: &str) -> String {
        format("t.dhi", s).unwrap()
    }

    #[test]
    fn normalizes_layout_and_keeps_comments() {
        let src = "# head\nsource   \"a\"{url=\"x\" # why\n  sha256 = \"y\"\n\n\n  patches=[file(\"p\"),\n file(\"q\")]}\n";
        let want = "# head\nsource \"a\" {\n  url = \"x\"  # why\n  sha256 = \"y\"\n\n  patches = [file(\"p\"), file(\"q\")]\n}\n";
        assert_eq!(fmt(src), want);
        assert_eq!(fmt(want), want, "idempotent");
    }

    #[test]
    fn long_lists_break_one_per_line_and_comments_force_breaks() {
        let items: Vec<String> = (0..12).map(|i| format!("//debian:package-number-{i}")).collect();
        let src = format!("env \"e\" {{ packages = [{}] }}\n", items.join(", "));
        let out = fmt(&src);
        assert!(out.contains("  packages = [\n    //debian:package-number-0,\n"), "{out}");
        assert_eq!(fmt(&out), out);
        let commented = "image \"i\" {\n  cmd = [\"a\", # first\n  \"b\"]\n}\n";
        let out = fmt(commented);
        assert_eq!(out, "image \"i\" {\n  cmd = [\n    \"a\",  # first\n    \"b\",\n  ]\n}\n");
        assert_eq!(fmt(&out), out);
    }

    #[test]
    fn top_level_blocks_are_separated_by_one_blank_line() {
        let out = fmt("load(\"@stdlib//build.dhi\",\"make\")\nlet x = 1\ntest \"a\" { image = :i }\ntest \"b\" {}");
        assert_eq!(out, "load(\"@stdlib//build.dhi\", \"make\")\nlet x = 1\n\ntest \"a\" {\n  image = :i\n}\n\ntest \"b\" {}\n");
    }

    #[test]
    fn trailing_comment_inside_a_block_stays_inside() {
        let src = "image \"i\" {\n  user = 1\n  # closing note\n}\n";
        assert_eq!(fmt(src), src);
    }
}
