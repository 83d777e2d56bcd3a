//! The builtin functions: `file`, `join`, and the upstream monitors.

use super::*;

impl Evaluator<'_> {
    pub(super) fn builtin(&mut self, cx: &Cx<'_>, c: &Call, b: &Builtin) -> Ev<Value> {
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
            // A monitor watches a place (a URL, a repository), never a target.
            if MONITORS.contains(&b.name) && matches!(v, Value::Label(_)) {
                return Err(self.err(
                    Diag::error(cx.file, arg.value.span, "E0250", format!("`{name}` of `{}` expects a string, found a label", b.name))
                        .with_label("this is a label")
                        .with_help("write the URL or repository the monitor asks, as a string"),
                ));
            }
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

    pub(super) fn file_ref(&mut self, cx: &Cx<'_>, c: &Call, b: &Builtin, args: BTreeMap<String, Value>) -> Ev<Value> {
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
    pub(super) fn join(&mut self, cx: &Cx<'_>, c: &Call, args: &BTreeMap<String, Value>) -> Ev<Value> {
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
}

/// Where the argument bound to builtin parameter `param` was written (the
/// whole call when it was not).
pub(super) fn arg_span(c: &Call, b: &Builtin, param: &str) -> Span {
    let mut positional = b.params.iter().map(|(p, _)| *p);
    c.args
        .iter()
        .find(|a| match &a.name {
            Some(n) => n.name == param,
            None => positional.next() == Some(param),
        })
        .map_or(c.span, |a| a.value.span)
}

pub(super) fn within(inner: Span, outer: Span) -> bool {
    inner.start >= outer.start && inner.end <= outer.end
}

pub(super) struct Builtin {
    pub(super) name: &'static str,
    pub(super) params: &'static [(&'static str, bool)],
    pub(super) raw_strings: bool,
}

pub(super) const MONITORS: &[&str] = &["git_tags", "github_releases", "debian_index"];

pub(super) const BUILTINS: &[Builtin] = &[
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
