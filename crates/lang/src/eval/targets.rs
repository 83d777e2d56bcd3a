//! Blocks into targets: attributes checked against the schema, sections,
//! variants merged into targets of their own, per-kind rules (pins,
//! non-root users), and the labels a target refers to.

use super::*;

impl Evaluator<'_> {
    pub(super) fn target(&mut self, cx: &Cx<'_>, b: &Block, out: &mut Vec<TargetDef>) {
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

    pub(super) fn variant(&mut self, cx: &Cx<'_>, base: &TargetDef, v: &Block) -> Option<TargetDef> {
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
    pub(super) fn body_attrs(
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

    pub(super) fn known_field(&mut self, cx: &Cx<'_>, kind: Kind, name: &syntax::Ident) -> Option<&'static Field> {
        let f = kind.field(&name.name);
        if f.is_none() {
            let _ = self.unknown_attr(cx, kind.name(), kind.fields(), name);
        }
        f
    }

    /// Reports an unknown attribute; returns the attribute it likely meant.
    /// `owner` is a block kind (`package`) or a section (``section `build` ``).
    pub(super) fn unknown_attr(&mut self, cx: &Cx<'_>, owner: &str, fields: &[Field], name: &syntax::Ident) -> Option<&'static str> {
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
    pub(super) fn section(&mut self, cx: &Cx<'_>, body: &Body, ty: &Ty, owner: &str) -> Ev<Value> {
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

    pub(super) fn misplaced_call(&mut self, cx: &Cx<'_>, c: &Call) {
        self.diags.push(
            Diag::error(cx.file, c.span, "E0212", format!("`{}(...)` cannot stand alone inside a block", c.name.name))
                .with_label("call here")
                .with_help(format!("assign it to an attribute, e.g. `build = {}(...)`", c.name.name)),
        );
    }

    /// Kind-specific rules beyond types: required attributes, pins, users.
    pub(super) fn check_target(&mut self, t: &TargetDef) {
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
        if t.kind == Kind::Deb {
            self.check_deb_origin(t);
        }
        let patched = matches!(t.attrs.get("patches"), Some(Value::List(p)) if !p.is_empty());
        if t.kind == Kind::DebianBuild && patched && !t.attrs.contains_key("bump") && !self.reported_attr(t, "bump") {
            self.diags.push(
                Diag::error(&t.file, t.attr_span("patches"), "E0252", format!("debian_build `{}` patches without a bump", t.label.name))
                    .with_label("patched here")
                    .with_help(
                        "a patched package must not keep Debian's version, or scanners take it for Debian's build: add \
                         `bump = { suffix = \"+dhib1\", changelog = [\"What the patch does.\"] }`",
                    ),
            );
        }
        self.check_user(t);
    }

    /// A deb is either pinned from an archive or taken from a `debian_build`.
    fn check_deb_origin(&mut self, t: &TargetDef) {
        let has = |name: &str| t.attrs.contains_key(name) || self.reported_attr(t, name);
        let built = has("built");
        let (span, label, message, help) = if built {
            match ["filename", "sha256", "version", "repo"].into_iter().find(|a| has(a)) {
                Some(pin) => (
                    t.attr_span(pin),
                    "pinned here",
                    format!("deb `{}` is both built and pinned: `built` and `{pin}` exclude each other", t.label.name),
                    "a built deb is the file its `debian_build` makes, with the version it gives it: remove the pin".to_string(),
                ),
                None if !has("package") => (
                    t.attr_span("built"),
                    "built, but as which package?",
                    format!("deb `{}` names no `package` of the build", t.label.name),
                    "add `package = \"NAME\"`, the binary package of the build this deb is (e.g. \"zlib1g\")".to_string(),
                ),
                None => return,
            }
        } else {
            match ["filename", "sha256", "version"].into_iter().find(|a| !has(a)) {
                Some(missing) => (
                    t.span,
                    "declared here",
                    format!("deb `{}` is neither pinned nor built: it has no `{missing}`", t.label.name),
                    "a deb from an archive needs `version`, `filename` and `sha256` (`dhib lock` writes them); a deb a \
                     `debian_build` makes needs `built` and `package`"
                        .to_string(),
                ),
                None if has("package") => (
                    t.attr_span("package"),
                    "not built",
                    format!("deb `{}` has a `package` but is not built", t.label.name),
                    "`package` names the binary package of a `debian_build`: add `built = LABEL`, or remove it".to_string(),
                ),
                None => return,
            }
        };
        self.diags.push(Diag::error(&t.file, span, "E0251", message).with_label(label).with_help(help));
    }

    /// An attribute that was written but failed to evaluate is not "missing".
    pub(super) fn reported_attr(&self, t: &TargetDef, name: &str) -> bool {
        t.attr_spans.contains_key(name)
    }

    pub(super) fn check_user(&mut self, t: &TargetDef) {
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
}

/// Which attribute each label was written in, for edge spans.
pub(super) fn refs_from_attrs(t: &TargetDef, labels: &[(Label, Span, String)]) -> Vec<LabelRef> {
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
