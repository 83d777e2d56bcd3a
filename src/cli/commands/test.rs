use std::path::PathBuf;
use std::process::ExitCode;

use dhib_commands::{default_jobs, Failure, Workspace};

use crate::output::{out, status, Progress};
use crate::progress::Printer;

/// Run the tests of images: their `test` targets (a command inside the
/// image, expectations on its files) and the standard checks (non-root,
/// no shell or package manager in runtime images, no setuid or
/// world-writable files, size budget, labels, platforms, every file in the
/// SBOM). Writes a CTRF
/// report per image to OUT/DIR/NAME.ctrf.json and prints a table; exits 1
/// when anything failed. Passing tests are cached by key.
#[derive(clap::Args)]
#[command(after_help = "\
Examples:
  dhib test //examples/...                     every image's tests and checks
  dhib test //examples/images/lua:lua          one image
  dhib test //examples/images/lua:lua-hello    one test (and its image's checks)
  dhib test //examples/... --output json       one JSON line per image, for CI")]
pub struct Args {
    /// Images, customizations or tests (patterns or query expressions).
    #[arg(required = true)]
    patterns: Vec<String>,
    #[arg(short, long)]
    jobs: Option<usize>,
    #[arg(long, short, value_enum, default_value = "text")]
    output: Progress,
    /// Where the reports go (default: dhib-out/ in the workspace).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

pub fn run(args: Args, ws: &Workspace) -> Result<ExitCode, Failure> {
    let json = args.output == Progress::Json;
    let loaded = ws.load()?;
    let printer = Printer::new(json);
    let jobs = args.jobs.unwrap_or_else(default_jobs);
    let outcome = dhib_commands::test::test(ws, &loaded, &args.patterns, jobs, args.out, &|e| printer.event(e));
    printer.clear();
    let outcome = outcome?;
    for r in &outcome.reports {
        if json {
            out!(
                "{}",
                serde_json::json!({"image": r.image, "report": r.path, "passed": r.passed, "failed": r.failed, "skipped": r.skipped})
            );
            continue;
        }
        out!("{}  ({} passed, {} failed, {} skipped)", r.image, r.passed, r.failed, r.skipped);
        for (status, name, message) in &r.rows {
            let first = message.lines().next().unwrap_or_default();
            out!("  {status:<7}  {name}{}", if first.is_empty() { String::new() } else { format!(": {first}") });
        }
    }
    for n in outcome.summary.failed.iter().chain(&outcome.summary.not_run) {
        out!("not run: {n} (a build it needs failed)");
    }
    if !json {
        eprintln!("reports in {}", outcome.out_dir.display());
    }
    Ok(status(!outcome.failed()))
}
