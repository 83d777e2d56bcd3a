use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::ValueEnum;
use dhib_commands::build::{self, Outcome};
use dhib_commands::{default_jobs, Failure, Workspace};
use dhib_exec::reproducible::Difference;
use dhib_exec::sandbox::Mode;
use dhib_exec::{Event, Summary};

use crate::output::{status, Progress};
use crate::progress::Printer;

/// Build targets: fetch pinned sources and packages, build in the sandbox,
/// and cache every result by its key (a second run does nothing).
#[derive(clap::Args)]
#[command(after_help = "\
Examples:
  dhib build //examples/...                  everything below examples/
  dhib build //examples/pkgs/zlib -j 4       one package and what it needs
  dhib build 'rdeps(//..., //examples/pkgs/zlib)' --keep-going
  dhib build //... --output json             events for CI, one JSON object per line
  dhib build //examples/images/lua --check-reproducible
                                             build twice from nothing, compare
  dhib build //examples/... --scan-db all.zip   attach a signed scan to each image")]
pub struct Args {
    /// Target patterns or query expressions; their union is built.
    #[arg(default_value = "//...")]
    patterns: Vec<String>,
    /// Actions run at once (default: the number of cores).
    #[arg(short, long)]
    jobs: Option<usize>,
    /// Keep building what does not depend on a failure.
    #[arg(short, long)]
    keep_going: bool,
    #[arg(long, value_enum, default_value = "bwrap")]
    sandbox: Sandbox,
    #[arg(long, short, value_enum, default_value = "text")]
    output: Progress,
    /// Where images are written as OCI layouts (default: dhib-out/ in the workspace).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Then build everything again from nothing, in a fresh store, and fail
    /// if any output differs.
    #[arg(long)]
    check_reproducible: bool,
    /// Scan each image written against this OSV database (an all.zip or a
    /// directory of records) and attach the result, signed, as a cosign
    /// vulnerability attestation; `dhib scan` reads images the same way.
    #[arg(long, value_name = "PATH")]
    scan_db: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Sandbox {
    /// bubblewrap: no network, only declared inputs, read-only environment.
    Bwrap,
    /// No isolation, for debugging build steps; results are marked unsandboxed.
    None,
}

impl build::Progress for Printer {
    fn event(&self, e: &Event) {
        Printer::event(self, e)
    }
    fn finished(&self, summary: &Summary) {
        self.finish(summary)
    }
    fn warning(&self, text: &str) {
        eprintln!("warning: {text}");
    }
    fn written(&self, images: usize, out_dir: &Path, signed: bool) {
        if images > 0 && !self.json() {
            let how = if signed { "signed" } else { "unsigned: no `[sign] key` in dhi.toml" };
            eprintln!("{images} images in {} ({how})", out_dir.display());
        }
    }
}

pub fn run(args: Args, ws: &Workspace) -> Result<ExitCode, Failure> {
    let json = args.output == Progress::Json;
    let opts = build::Options {
        patterns: args.patterns,
        jobs: args.jobs.unwrap_or_else(default_jobs),
        keep_going: args.keep_going,
        sandbox: if args.sandbox == Sandbox::Bwrap { Mode::Bwrap } else { Mode::None },
        out: args.out,
        check_reproducible: args.check_reproducible,
        scan_db: args.scan_db,
    };
    let printer = Printer::new(json);
    let built = match build::build(ws, &opts, &printer)? {
        Outcome::UpToDate { count } => {
            printer.event(&Event::UpToDate { count });
            return Ok(ExitCode::SUCCESS);
        }
        Outcome::Built(built) => built,
    };
    for (node, message) in &built.summary.failed_tests {
        eprintln!("FAILED {node}: {message}");
    }
    if !built.summary.ok() {
        return Ok(ExitCode::from(1));
    }
    match built.reproducibility {
        Some((differences, checked)) => {
            printer.clear();
            Ok(report_reproducibility(&differences, checked, json))
        }
        None => Ok(ExitCode::SUCCESS),
    }
}

fn report_reproducibility(differences: &[Difference], checked: usize, json: bool) -> ExitCode {
    if json {
        println!("{}", serde_json::json!({"event": "reproducibility", "checked": checked, "differences": differences}));
    } else if differences.is_empty() {
        eprintln!("reproducible: {checked} nodes gave identical outputs when built again from nothing");
    } else {
        for d in differences {
            eprintln!("NOT REPRODUCIBLE {}", d.node);
            for (name, (a, b)) in &d.outputs {
                let show = |x: &Option<String>| x.as_deref().map_or("(none)".to_string(), |h| format!("sha256:{h}"));
                eprintln!("  {name}: {} then {}", show(a), show(b));
            }
        }
        eprintln!("{} of {checked} nodes differ between two builds from the same inputs", differences.len());
    }
    status(differences.is_empty())
}
