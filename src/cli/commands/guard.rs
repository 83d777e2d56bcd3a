use std::path::PathBuf;
use std::process::ExitCode;

use clap::ValueEnum;

use crate::output::{print_failure, status};

/// Diff two upstream source trees and check the changed code before trusting it.
#[derive(clap::Args)]
#[command(
    long_about = "\
Diff two upstream source trees and check the changed code before trusting it.

OLD and NEW are directories or source archives (tar.gz, tar.xz, tar.bz2,
tar.zst, zip; a single top-level directory is stripped). Rules look at the
added lines of every change next to the lines they replaced: inverted or
dropped error checks, swallowed errors, disabled hardening or sandboxing,
payloads decoded and run at build time, binary test files read by build
scripts. With --vcs, release files absent from the VCS checkout of the new
tag are reported too, and, for a git checkout, build files changed by
authors new since the previous tag or in a release whose tag has a new
signer. The rules are listed in docs/guard.md.

A finding of high severity and high confidence blocks: the exit status is 1
until it is approved with --approve RULE_ID@FILE. Exit status 2 is bad input.",
    after_help = "\
Examples:
  dhib guard zlib-1.3.tar.gz zlib-1.3.1.tar.gz
  dhib guard xz-5.6.0.tar.gz xz-5.6.1.tar.gz --vcs ~/src/xz     with the tag v5.6.1 checked out
  dhib guard old/ new/ --approve c.inverted-error-check@src/inflate.c
  dhib guard old/ new/ --output json | jq '.findings[] | .rule'"
)]
pub struct Args {
    /// The release already trusted: a directory or an archive.
    old: PathBuf,
    /// The release to check: a directory or an archive.
    new: PathBuf,
    /// A checkout of NEW's tag in version control.
    #[arg(long, value_name = "DIR")]
    vcs: Option<PathBuf>,
    /// Accept a blocking finding after review (repeatable).
    #[arg(long, value_name = "RULE_ID@FILE")]
    approve: Vec<String>,
    /// How to print the report.
    #[arg(long, short, value_enum, default_value = "text")]
    output: GuardOutput,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum GuardOutput {
    /// One block per finding, then a summary.
    Text,
    /// The whole report as one JSON object.
    Json,
}

/// Exit status 1 while a finding blocks, 2 on bad input.
pub fn run(args: Args) -> ExitCode {
    let (report, blocking) = match dhib_commands::upstream::guard(&args.old, &args.new, args.vcs.as_deref(), &args.approve) {
        Ok(r) => r,
        Err(failure) => {
            print_failure(failure);
            return ExitCode::from(2);
        }
    };
    match args.output {
        GuardOutput::Json => {
            let mut json = serde_json::to_value(&report).expect("reports serialize");
            json["blocking"] = serde_json::json!(blocking);
            println!("{}", serde_json::to_string_pretty(&json).expect("values serialize"));
        }
        GuardOutput::Text => {
            for f in &report.findings {
                let at = match f.lines {
                    (0, 0) => f.file.clone(),
                    (a, b) if a == b => format!("{}:{a}", f.file),
                    (a, b) => format!("{}:{a}-{b}", f.file),
                };
                let severity = f.severity.to_string().to_uppercase();
                println!("{severity}/{}  {}  {at}\n    {}", f.confidence, f.rule, f.explanation);
            }
            println!(
                "{} added, {} changed, {} removed files; {} findings, {} blocking",
                report.files_added,
                report.files_changed,
                report.files_removed,
                report.findings.len(),
                blocking.len()
            );
            if let Some(n) = report.files_not_in_vcs {
                println!("{n} files of NEW are not in the VCS tree");
            }
            if !blocking.is_empty() {
                println!("after reviewing them, approve the blocking findings with:");
                let flags: Vec<String> = blocking.iter().map(|id| format!("--approve {id}")).collect();
                println!("  {}", flags.join(" "));
            }
        }
    }
    status(blocking.is_empty())
}
