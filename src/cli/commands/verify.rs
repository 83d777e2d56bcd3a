use std::path::PathBuf;
use std::process::ExitCode;

use dhib_commands::verify::{self, Options};
use dhib_commands::{Failure, Workspace};

use crate::output::{out, status, Progress};

/// Verify a signed image: its cosign signature, every attestation's DSSE
/// signature and subject, that its SBOM lists exactly what its layers
/// hold, that its tests passed, (for images of this workspace) that its
/// provenance names what the graph built it from, and that no source
/// archive it was built from is one the upstream-diff guardrail still
/// blocks. Prints one line per check; exits 1 when any fails.
#[derive(clap::Args)]
#[command(after_help = "\
Examples:
  dhib verify //examples/images/lua:lua                 the image dhib build wrote
  dhib verify dhib-out/examples/images/lua/lua --key cosign.pub
  dhib verify 127.0.0.1:5000/examples/images/lua:lua --insecure")]
pub struct Args {
    /// A label (of an image `dhib build` wrote), an OCI layout directory,
    /// or a registry reference (HOST/REPO:TAG or HOST/REPO@sha256:...).
    reference: String,
    /// The public key (default: the `[sign] key` of dhi.toml with .pub
    /// in place of .key).
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// Speak plain http to the registry.
    #[arg(long)]
    insecure: bool,
    #[arg(long, short, value_enum, default_value = "text")]
    output: Progress,
    /// Where `dhib build` wrote the images (default: dhib-out/ in the workspace).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

pub fn run(args: Args, ws: &Workspace) -> Result<ExitCode, Failure> {
    let opts = Options { reference: args.reference, key: args.key, insecure: args.insecure, out: args.out };
    let checks = verify::verify(ws, || ws.load(), &opts)?;
    let ok = checks.iter().all(|c| c.ok);
    let reference = &opts.reference;
    if args.output == Progress::Json {
        out!("{}", serde_json::json!({"reference": reference, "ok": ok, "checks": checks}));
    } else {
        for c in &checks {
            out!("{}  {}: {}", if c.ok { "pass" } else { "FAIL" }, c.name, c.detail);
        }
        let failed = checks.iter().filter(|c| !c.ok).count();
        out!("{reference}: {}", if ok { "verified".to_string() } else { format!("{failed} checks failed") });
    }
    Ok(status(ok))
}
