//! Lowering one file at a time, without the database: the file's own
//! scope stands in for what the salsa layer would give.

use std::sync::Arc;

use super::{build_scope, lower, Lowered, Scope, Scopes};
use crate::label::Label;
use crate::schema::Kind;
use crate::syntax;
use crate::value::Value;

const FILE: &str = "pkgs/BUILD.dhi";
const PIN: &str = "71feb7947e3c00ef125f83b79a4e529bde31171e5babe48b391f06758d1ab0a1";

struct Own(Arc<Scope>);
impl Scopes for Own {
    fn scope(&self, file: &str) -> Option<Arc<Scope>> {
        (file == FILE).then(|| self.0.clone())
    }
}

fn lowered(text: &str) -> Lowered {
    let ast = syntax::parse(FILE, text).unwrap_or_else(|d| panic!("{d:?}"));
    let scope = build_scope(FILE, &ast, &|_| None);
    lower(FILE, "pkgs", &ast, &Own(Arc::new(scope)))
}

fn str_attr<'a>(l: &'a Lowered, target: &str, attr: &str) -> &'a str {
    let t = l.targets.iter().find(|t| t.label.name == target).unwrap_or_else(|| panic!("no target {target}"));
    t.attr(attr).and_then(Value::as_str).unwrap_or_else(|| panic!("{target} has no string {attr}"))
}

fn codes(l: &Lowered) -> Vec<&str> {
    l.diags.iter().map(|d| d.code).collect()
}

#[test]
fn a_block_is_a_target_of_its_kind_in_its_package() {
    let l = lowered(&format!("source \"zlib-src\" {{\n  url = \"https://x/z.tgz\"\n  sha256 = \"{PIN}\"\n}}\n"));
    assert!(l.diags.is_empty(), "{:?}", l.diags);
    let t = &l.targets[0];
    assert_eq!((t.kind, t.label.clone()), (Kind::Source, Label { pkg: "pkgs".into(), name: "zlib-src".into() }));
    assert_eq!(str_attr(&l, "zlib-src", "sha256"), PIN);
}

#[test]
fn lets_and_attributes_interpolate() {
    let l = lowered(&format!(
        "let mirror = \"https://m.example\"\n\
         source \"a\" {{\n  version = \"1.2\"\n  url = \"{{mirror}}/a-{{version}}.tgz\"\n  sha256 = \"{PIN}\"\n}}\n"
    ));
    assert!(l.diags.is_empty(), "{:?}", l.diags);
    assert_eq!(str_attr(&l, "a", "url"), "https://m.example/a-1.2.tgz");
}

#[test]
fn a_template_called_in_a_value_binds_its_arguments() {
    let l = lowered(&format!(
        "template greeting(name, punctuation = \"!\") {{\n  steps = [\"echo hello {{name}}{{punctuation}}\"]\n}}\n\
         deb \"tool\" {{\n  version = \"1\"\n  arch = \"amd64\"\n  filename = \"t.deb\"\n  sha256 = \"{PIN}\"\n}}\n\
         env \"e\" {{\n  packages = [:tool]\n}}\n\
         source \"s\" {{\n  url = \"https://x/s.tgz\"\n  sha256 = \"{PIN}\"\n}}\n\
         package \"p\" {{\n  version = \"1\"\n  source = :s\n  env = :e\n  build = greeting(\"world\")\n}}\n"
    ));
    assert!(l.diags.is_empty(), "{:?}", l.diags);
    let p = l.targets.iter().find(|t| t.label.name == "p").unwrap();
    let steps = format!("{:?}", p.attr("build"));
    assert!(steps.contains("echo hello world!"), "{steps}");
    // The label refs are what the graph resolves: `:s` and `:e`.
    let refs: Vec<String> = p.refs.iter().map(|r| format!("{}={}", r.attr, r.label)).collect();
    assert_eq!(refs, ["env=//pkgs:e", "source=//pkgs:s"]);
}

#[test]
fn a_variant_is_a_target_of_its_own() {
    let l = lowered(
        "image \"app\" {\n  base = //bases:b\n  user = 65532\n  entrypoint = [\"/app\"]\n\
         \n  variant \"dev\" {\n    user = 0\n    entrypoint = [\"/bin/sh\"]\n  }\n}\n",
    );
    let mut names: Vec<&str> = l.targets.iter().map(|t| t.label.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["app", "app-dev"]);
    let dev = l.targets.iter().find(|t| t.label.name == "app-dev").unwrap();
    assert_eq!((dev.variant_of.as_deref(), dev.dev), (Some("app"), true));
    assert!(!l.diags.iter().any(|d| d.file != FILE), "{:?}", l.diags);
}

#[test]
fn builtins_join_lists_and_name_files() {
    let l = lowered(&format!(
        "source \"a\" {{\n  url = \"https://x/a.tgz\"\n  sha256 = \"{PIN}\"\n  strip_prefix = join([\"a\", \"b\"], \"-\")\n  \
         patches = [file(\"fix.patch\")]\n}}\n"
    ));
    assert!(l.diags.is_empty(), "{:?}", l.diags);
    assert_eq!(str_attr(&l, "a", "strip_prefix"), "a-b");
    let patches = format!("{:?}", l.targets[0].attr("patches"));
    assert!(patches.contains("pkgs/fix.patch"), "{patches}");
}

#[test]
fn every_problem_of_a_file_is_reported_with_its_code() {
    let l = lowered(&format!(
        "source \"a\" {{\n  url = \"https://x/a.tgz\"\n  sha256 = \"{PIN}\"\n  colour = \"red\"\n}}\n\
         source \"a\" {{\n  url = 5\n  sha256 = \"{PIN}\"\n}}\n"
    ));
    let codes = codes(&l);
    assert!(codes.contains(&"E0201"), "duplicate target: {codes:?}");
    assert!(codes.len() >= 3, "unknown attribute, wrong type and duplicate target: {codes:?}");
    assert!(l.diags.iter().all(|d| d.file == FILE));
}

#[test]
fn a_cpe_is_checked_where_it_is_written() {
    let package = |cpe: &str| lowered(&format!("package \"z\" {{\n  version = \"1.2.13\"\n  cpe = \"{cpe}\"\n}}\n"));
    let l = package("cpe:2.3:a:zlib:zlib:{version}:*:*:*:*:*:*:*");
    assert!(l.diags.iter().all(|d| d.code != "E0250"), "{:?}", l.diags);
    assert_eq!(str_attr(&l, "z", "cpe"), "cpe:2.3:a:zlib:zlib:1.2.13:*:*:*:*:*:*:*");
    for (bad, why) in [
        ("zlib:zlib", "does not start with `cpe:2.3:`"),
        ("cpe:2.3:a:zlib:zlib:1.2.13", "with 4 fields"),
        ("cpe:2.3:x:zlib:zlib:1:*:*:*:*:*:*:*", "part is `x`"),
        ("cpe:2.3:a:*:*:1:*:*:*:*:*:*:*", "without a vendor and product"),
    ] {
        let l = package(bad);
        let d = l.diags.iter().find(|d| d.code == "E0250").unwrap_or_else(|| panic!("{bad}: {:?}", l.diags));
        assert!(d.message.contains(why) && d.message.contains("`cpe` expects a CPE 2.3 name"), "{bad}: {}", d.message);
        let text = format!("package \"z\" {{\n  version = \"1.2.13\"\n  cpe = \"{bad}\"\n}}\n");
        let span = d.span;
        assert_eq!(&text[span.start as usize..span.end as usize], format!("\"{bad}\""), "the span is the value");
    }
}
