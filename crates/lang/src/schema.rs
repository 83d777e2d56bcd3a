//! What each block kind accepts: attribute names, types and which are required.

use std::fmt;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Source,
    Package,
    Deb,
    DebianSource,
    DebianBuild,
    Env,
    Image,
    Customization,
    Test,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::Source,
        Kind::Package,
        Kind::Deb,
        Kind::DebianSource,
        Kind::DebianBuild,
        Kind::Env,
        Kind::Image,
        Kind::Customization,
        Kind::Test,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Source => "source",
            Kind::Package => "package",
            Kind::Deb => "deb",
            Kind::DebianSource => "debian_source",
            Kind::DebianBuild => "debian_build",
            Kind::Env => "env",
            Kind::Image => "image",
            Kind::Customization => "customization",
            Kind::Test => "test",
        }
    }

    pub fn from_name(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s)
    }

    pub fn fields(self) -> &'static [Field] {
        match self {
            Kind::Source => SOURCE,
            Kind::Package => PACKAGE,
            Kind::Deb => DEB,
            Kind::DebianSource => DEBIAN_SOURCE,
            Kind::DebianBuild => DEBIAN_BUILD,
            Kind::Env => ENV,
            Kind::Image => IMAGE,
            Kind::Customization => CUSTOMIZATION,
            Kind::Test => TEST,
        }
    }

    pub fn field(self, name: &str) -> Option<&'static Field> {
        self.fields().iter().find(|f| f.name == name)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Str,
    Int,
    Bool,
    /// A label naming a target of one of these kinds.
    Label(&'static [Kind]),
    /// A base image: a label, or `scratch`.
    Base,
    List(&'static Ty),
    Map(&'static Ty),
    /// `file(...)`
    File,
    /// Where layers come from: a `file(...)` naming an OCI layout's
    /// `index.json`, or a registry reference pinned by digest.
    LayerSource,
    /// An upstream monitor call such as `git_tags(...)`.
    Monitor,
    Sha256,
    /// A CPE 2.3 formatted string, as NVD names products.
    Cpe,
    /// A calendar date, "YYYY-MM-DD".
    Date,
    /// A uid (`65532`), a name, or `uid:gid`.
    User,
    OneOf(&'static [&'static str]),
    Record(&'static [Field]),
}

impl fmt::Display for Ty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ty::Str => f.write_str("a string"),
            Ty::Int => f.write_str("an integer"),
            Ty::Bool => f.write_str("`true` or `false`"),
            Ty::Label(kinds) => {
                let names: Vec<&str> = kinds.iter().map(|k| k.name()).collect();
                write!(f, "a label of a {} target", names.join(" or "))
            }
            Ty::Base => f.write_str("a label of an image, or `scratch`"),
            Ty::List(t) => write!(f, "a list of {}", plural(t)),
            Ty::Map(t) => write!(f, "a map of {}", plural(t)),
            Ty::File => f.write_str("a `file(...)`"),
            Ty::LayerSource => f.write_str("a `file(...)` of an OCI layout's index.json or \"HOST/REPO@sha256:…\""),
            Ty::Monitor => f.write_str("an upstream monitor such as `git_tags(...)`"),
            Ty::Sha256 => f.write_str("a sha256 digest (64 hex digits)"),
            Ty::Date => f.write_str("a date (\"YYYY-MM-DD\")"),
            Ty::Cpe => f.write_str("a CPE 2.3 name (\"cpe:2.3:a:VENDOR:PRODUCT:VERSION:*:*:*:*:*:*:*\")"),
            Ty::User => f.write_str("a uid (integer), a user name, or \"uid:gid\""),
            Ty::OneOf(options) => write!(f, "one of {}", options.iter().map(|o| format!("\"{o}\"")).collect::<Vec<_>>().join(", ")),
            Ty::Record(_) => f.write_str("a section `{ ... }`"),
        }
    }
}

fn plural(t: &Ty) -> String {
    let s = t.to_string();
    let s = s.strip_prefix("a ").or_else(|| s.strip_prefix("an ")).unwrap_or(&s);
    match s {
        "string" => "strings".into(),
        "integer" => "integers".into(),
        other => format!("{other}s").replace("targets", "targets"),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub ty: Ty,
    pub required: bool,
    /// A placeholder shown in "add `name = ...`" help lines.
    pub example: &'static str,
}

const fn req(name: &'static str, ty: Ty, example: &'static str) -> Field {
    Field { name, ty, required: true, example }
}
const fn opt(name: &'static str, ty: Ty) -> Field {
    Field { name, ty, required: false, example: "" }
}

const STRS: Ty = Ty::List(&Ty::Str);
/// Vulnerability statements (OpenVEX) by vulnerability id.
const VEX: Ty = Ty::Map(&Ty::Record(VEX_STATEMENT));
const VEX_STATEMENT: &[Field] = &[
    req("status", Ty::OneOf(&["not_affected", "affected", "fixed", "under_investigation"]), "\"not_affected\""),
    opt(
        "justification",
        Ty::OneOf(&[
            "component_not_present",
            "vulnerable_code_not_present",
            "vulnerable_code_not_in_execute_path",
            "vulnerable_code_cannot_be_controlled_by_adversary",
            "inline_mitigations_already_exist",
        ]),
    ),
    opt("impact", Ty::Str),
    opt("action", Ty::Str),
];
const STR_MAP: Ty = Ty::Map(&Ty::Str);
/// How long an image is maintained: the pipeline rebuilds it until then.
const SUPPORT: Ty = Ty::Record(&[req("until", Ty::Date, "\"2027-06-30\"")]);
const PKG_LABELS: Ty = Ty::List(&Ty::Label(&[Kind::Package, Kind::Deb]));
const IMAGE_KINDS: &[Kind] = &[Kind::Image, Kind::Customization];

const SOURCE: &[Field] = &[
    req("url", Ty::Str, "\"https://example.org/NAME-1.0.tar.gz\""),
    req("sha256", Ty::Sha256, "\"<64 hex digits>\""),
    opt("version", Ty::Str),
    opt("rev", Ty::Str),
    opt("strip_prefix", Ty::Str),
    opt("upstream", Ty::Monitor),
    opt("patches", Ty::List(&Ty::File)),
    opt("license", Ty::Str),
];

const BUILD: &[Field] = &[req("steps", STRS, "[\"make\"]"), opt("env", STR_MAP), opt("jobs", Ty::Int)];

const PACKAGE: &[Field] = &[
    req("version", Ty::Str, "\"1.0\""),
    opt("source", Ty::Label(&[Kind::Source])),
    req("env", Ty::Label(&[Kind::Env]), "//toolchains:gcc"),
    req("build", Ty::Record(BUILD), "autotools()"),
    opt("deps", PKG_LABELS),
    opt("runtime_deps", PKG_LABELS),
    opt("outputs", Ty::Map(&STRS)),
    opt("license", Ty::Str),
    opt("description", Ty::Str),
    opt("homepage", Ty::Str),
    opt("supplier", Ty::Str),
    opt("cpe", Ty::Cpe),
    opt("vex", VEX),
    opt("timeout", Ty::Int),
    opt("max_processes", Ty::Int),
    opt("disk_budget_mb", Ty::Int),
];

/// A binary package: pinned from the archive (`filename`, `sha256`), or one
/// of the packages a `debian_build` makes (`built`, `package`). `rebuilt`
/// names the rebuild that images install instead of this archive package.
const DEB: &[Field] = &[
    opt("version", Ty::Str),
    req("arch", Ty::OneOf(&["amd64", "arm64", "all"]), "\"amd64\""),
    opt("sha256", Ty::Sha256),
    opt("filename", Ty::Str),
    opt("repo", Ty::Str),
    opt("built", Ty::Label(&[Kind::DebianBuild])),
    opt("package", Ty::Str),
    opt("rebuilt", Ty::Label(&[Kind::Deb])),
    opt("depends", Ty::List(&Ty::Label(&[Kind::Deb]))),
    opt("for_arch", Ty::Map(&Ty::Label(&[Kind::Deb]))),
    opt("license", Ty::Str),
    opt("upstream", Ty::Monitor),
    opt("vex", VEX),
];

/// A Debian source package as `dhib lock` pins it: each file of it by its
/// path in the archive and sha256, the `.dsc` among them.
const DEBIAN_SOURCE: &[Field] = &[
    req("version", Ty::Str, "\"1:1.2.13.dfsg-1\""),
    req("files", Ty::Map(&Ty::Sha256), "{ \"pool/main/z/zlib/zlib_1.2.13.dfsg-1.dsc\" = \"<64 hex digits>\" }"),
    opt("repo", Ty::Str),
    opt("profiles", STRS),
    opt("license", Ty::Str),
];

const BUMP: &[Field] =
    &[req("suffix", Ty::Str, "\"+dhib1\""), req("changelog", STRS, "[\"Apply the fix for CVE-2023-45853.\"]"), opt("maintainer", Ty::Str)];

/// A Debian source package built with dpkg-buildpackage, patched and bumped.
const DEBIAN_BUILD: &[Field] = &[
    req("source", Ty::Label(&[Kind::DebianSource]), "//debian:zlib-source"),
    req("env", Ty::Label(&[Kind::Env]), "//debian:zlib-build-env"),
    opt("patches", Ty::List(&Ty::File)),
    opt("bump", Ty::Record(BUMP)),
    opt("options", STRS),
    opt("vex", VEX),
    opt("timeout", Ty::Int),
    opt("max_processes", Ty::Int),
    opt("disk_budget_mb", Ty::Int),
];

const ENV: &[Field] = &[req("packages", PKG_LABELS, "[//debian:gcc]"), opt("path", STRS), opt("env", STR_MAP)];

const IMAGE: &[Field] = &[
    opt("base", Ty::Base),
    opt("packages", PKG_LABELS),
    opt("files", Ty::List(&Ty::File)),
    opt("user", Ty::User),
    opt("allow_root", Ty::Bool),
    opt("dev", Ty::Bool),
    opt("entrypoint", STRS),
    opt("cmd", STRS),
    opt("env", STR_MAP),
    opt("workdir", Ty::Str),
    opt("ports", STRS),
    opt("labels", STR_MAP),
    opt("annotations", STR_MAP),
    opt("platforms", STRS),
    opt("version", Ty::Str),
    opt("description", Ty::Str),
    opt("source", Ty::Str),
    opt("revision", Ty::Str),
    opt("compression", Ty::OneOf(&["gzip", "zstd"])),
    opt("ca_certificates", Ty::Bool),
    opt("max_layers", Ty::Int),
    opt("skip_checks", STR_MAP),
    opt("size_budget_mb", Ty::Int),
    opt("support", SUPPORT),
    opt("vex", VEX),
];

const CUSTOMIZATION: &[Field] = &[
    req("base", Ty::Label(IMAGE_KINDS), "//images/NAME:NAME"),
    opt("add", Ty::List(&Ty::File)),
    opt("layers_from", Ty::List(&Ty::LayerSource)),
    opt("ca_certificates", Ty::Bool),
    opt("packages", PKG_LABELS),
    opt("user", Ty::User),
    opt("allow_root", Ty::Bool),
    opt("entrypoint", STRS),
    opt("cmd", STRS),
    opt("env", STR_MAP),
    opt("workdir", Ty::Str),
    opt("labels", STR_MAP),
    opt("annotations", STR_MAP),
    opt("description", Ty::Str),
    opt("skip_checks", STR_MAP),
    opt("size_budget_mb", Ty::Int),
    opt("support", SUPPORT),
    opt("vex", VEX),
];

const EXPECT: &[Field] =
    &[opt("stdout", Ty::Str), opt("stderr", Ty::Str), opt("stdout_regex", Ty::Str), opt("stderr_regex", Ty::Str), opt("exit", Ty::Int)];

const FILE_EXPECT: &[Field] = &[opt("exists", Ty::Bool), opt("mode", Ty::Int), opt("owner", Ty::Str), opt("executable", Ty::Bool)];

const TEST: &[Field] = &[
    req("image", Ty::Label(IMAGE_KINDS), ":NAME"),
    opt("run", STRS),
    opt("files", Ty::Map(&Ty::Record(FILE_EXPECT))),
    opt("expect", Ty::Record(EXPECT)),
    opt("timeout", Ty::Int),
    opt("env", STR_MAP),
    opt("user", Ty::User),
    opt("description", Ty::Str),
];
