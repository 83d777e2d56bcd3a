//! Templates: called at top level they expand into whole targets; called
//! in a value they evaluate to one. Arguments are bound to parameters and
//! recursion is bounded.

use super::*;

impl Evaluator<'_> {
    pub(super) fn expand_targets(&mut self, cx: &Cx<'_>, c: &Call, out: &mut Vec<TargetDef>) {
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

    pub(super) fn enter(&mut self, file: &str, span: Span) -> bool {
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

    pub(super) fn find_template(&mut self, cx: &Cx<'_>, c: &Call) -> Option<Defined<Arc<TemplateDef>>> {
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

    pub(super) fn bind_args(&mut self, cx: &Cx<'_>, c: &Call, tpl: &Defined<Arc<TemplateDef>>) -> Ev<BTreeMap<String, Value>> {
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

    /// A template used as a value: its attributes and sections make a map.
    pub(super) fn template_value(&mut self, tcx: &Cx<'_>, cx: &Cx<'_>, c: &Call, tpl: &Defined<Arc<TemplateDef>>) -> Ev<Value> {
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
}
