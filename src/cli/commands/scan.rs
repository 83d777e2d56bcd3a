use std::path::PathBuf;
use std::process::ExitCode;

use dhib_commands::scan::{self, FindWorkspace, ScanOptions, Target};
use dhib_commands::Failure;
use dhib_scan::Severity;

use crate::output::{out, status};

/// Scan an image for known vulnerabilities, offline: the packages its
/// signed SBOM lists are matched against an OSV database (Debian's
/// advisories by source package, of the image's own release only, in Debian's
/// version order; packages built from source by CPE and purl), and the
/// image's own signed VEX statements, plus any given with --vex, are
/// applied: not_affected and fixed suppress a finding, affected and
/// under_investigation do not. Prints a table by severity, with the
/// database's digest and age.
#[derive(clap::Args)]
#[command(after_help = "\
The database is an OSV all.zip, as osv.dev publishes one per ecosystem,
or a directory of OSV JSON records:
  curl -LO https://osv-vulnerabilities.storage.googleapis.com/Debian/all.zip

Examples:
  dhib scan //examples/images/lua:lua --db all.zip
  dhib scan dhib-out/examples/images/lua/lua --db all.zip --key cosign.pub
  dhib scan sbom.cdx.json --db osv/ --vex triage.openvex.json
  dhib scan 127.0.0.1:5000/examples/images/lua:lua --insecure --db all.zip
  dhib scan //examples/images/lua:lua --db all.zip --output sarif > lua.sarif
  dhib scan //examples/bases:debian-runtime --db all.zip --fail-on high    (CI)")]
pub struct Args {
    /// A label (of an image `dhib build` wrote), an OCI layout directory, a
    /// CycloneDX or SPDX JSON SBOM file, or a registry reference.
    target: String,
    /// The OSV database: an all.zip, or a directory of OSV JSON records.
    #[arg(long, value_name = "PATH")]
    db: PathBuf,
    /// OpenVEX documents to apply over the image's own (repeatable).
    #[arg(long, value_name = "FILE")]
    vex: Vec<PathBuf>,
    #[arg(long, short, value_enum, default_value = "text")]
    output: Output,
    /// Exit 1 when an unsuppressed finding is this severe or worse
    /// (critical, high, medium, low, unknown).
    #[arg(long, value_name = "SEVERITY", value_parser = severity)]
    fail_on: Option<Severity>,
    /// List the findings VEX suppressed too, with their status and justification.
    #[arg(long)]
    show_suppressed: bool,
    #[command(flatten)]
    image: ImageFlags,
}

/// How a scan is printed.
#[derive(Clone, Copy, clap::ValueEnum, PartialEq, Eq)]
enum Output {
    /// A table by severity.
    Text,
    /// The whole report, suppressed findings included.
    Json,
    /// SARIF 2.1.0, as code-scanning dashboards take it.
    Sarif,
}

/// How an image is found and its attestations verified.
#[derive(clap::Args)]
pub struct ImageFlags {
    /// The public key its attestations are verified with (default: the
    /// `[sign] key` of dhi.toml with .pub in place of .key).
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// Speak plain http to the registry.
    #[arg(long)]
    insecure: bool,
    /// Where `dhib build` wrote the images (default: dhib-out/ in the workspace).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

impl ImageFlags {
    pub fn target(&self, reference: String) -> Target {
        Target { reference, key: self.key.clone(), insecure: self.insecure, out: self.out.clone() }
    }
}

pub fn severity(s: &str) -> Result<Severity, String> {
    Severity::parse(s).ok_or_else(|| format!("`{s}` is not a severity: critical, high, medium, low or unknown"))
}

pub fn run(args: Args, ws: FindWorkspace) -> Result<ExitCode, Failure> {
    let opts = ScanOptions { target: args.image.target(args.target), db: args.db, vex: args.vex };
    let report = scan::scan(ws, &opts)?;
    match args.output {
        Output::Text => out!("{}", report.table(args.show_suppressed).trim_end()),
        Output::Json => out!("{}", serde_json::to_string_pretty(&report.json()).expect("json serializes")),
        Output::Sarif => out!("{}", serde_json::to_string_pretty(&report.sarif(env!("CARGO_PKG_VERSION"))).expect("json serializes")),
    }
    let failed = args.fail_on.is_some_and(|t| report.fails(t));
    if failed && args.output == Output::Text {
        eprintln!("error: findings at or above {} (--fail-on)", args.fail_on.map(Severity::as_str).unwrap_or_default());
    }
    Ok(status(!failed))
}
