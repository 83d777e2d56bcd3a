//! Expressions: literals, lists, maps, references resolved through
//! parameters, the block's own attributes and `let`s, `{name}`
//! interpolation, and calls.

use super::*;

impl Evaluator<'_> {
    pub(super) fn expr(&mut self, cx: &Cx<'_>, e: &Expr) -> Ev<Value> {
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
    pub(super) fn reference(&mut self, cx: &Cx<'_>, path: &[syntax::Ident], span: Span, in_string: bool) -> Ev<Value> {
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
    pub(super) fn lookup(&mut self, cx: &Cx<'_>, name: &str, span: Span, in_string: bool) -> Ev<Value> {
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
    pub(super) fn interpolate(&mut self, cx: &Cx<'_>, s: &str, span: Span, text_at: Option<u32>) -> Ev<String> {
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

    pub(super) fn call(&mut self, cx: &Cx<'_>, c: &Call) -> Ev<Value> {
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
}
