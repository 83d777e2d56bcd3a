use std::process::ExitCode;

use clap::Subcommand;
use dhib_commands::upstream::{self, UpdateOptions};
use dhib_commands::{Failure, Workspace};
use dhib_upstream::update::Outcome;

use crate::output::{out, status, Format};

/// Where new releases of sources and debs appear (their `upstream`
/// monitors): list what is newer, or move sources to it.
#[derive(Subcommand)]
pub enum Command {
    /// Ask every monitor in PATTERN for a newer version than the pinned one.
    /// A monitor that fails is reported and makes the exit code 1.
    #[command(after_help = "\
Examples:
  dhib upstream check                                     every source and deb with `upstream`
  dhib upstream check //examples/pkgs/... --output json

github_releases reads GITHUB_TOKEN (sent as a bearer token) when set. [upstream.mirrors] in
dhi.toml sends monitors to a mirror or a local upstream (longest URL prefix replaced):
  [upstream.mirrors]
  \"https://github.com/lua/lua.git\" = \"file://upstreams/lua\"")]
    Check {
        #[arg(default_value = "//...")]
        pattern: String,
        #[arg(long, short, value_enum, default_value = "text")]
        output: Format,
    },
    /// Move sources in PATTERN to their newest version: fetch the new URL,
    /// have the upstream-diff guardrail vet the change (against the tree of
    /// the tag too, for git and GitHub monitors; a blocking finding stops the
    /// update until --approve), write its version and sha256 into the .dhi
    /// file (nothing else of the file changes; packages and images that
    /// wrote the same version follow it), and list every node whose key
    /// changes. The guardrail's report is kept in the store and beside the
    /// .dhi file (SOURCE.guard.json, to commit with the change), and carried
    /// in the provenance of every image built from the new version. Newer debs
    /// are listed for `dhib lock`. Exits 1 when a source with a newer
    /// version could not be updated (the guardrail blocks it, its url does
    /// not use `{version}`, the fetch or its monitor failed).
    #[command(after_help = "\
Examples:
  dhib upstream update //examples/pkgs/zlib --dry-run     what would change, no file rewritten
  dhib upstream update //examples/pkgs/lua --to 5.4.7
  dhib upstream update //examples/pkgs/lua --approve sh.encoded-payload@src/host.mk   after reading the finding
  scripts/upstream-demo.sh                                 all of it on the examples, offline")]
    Update {
        #[arg(default_value = "//...")]
        pattern: String,
        /// Move to VERSION instead of the newest the monitor finds.
        #[arg(long, value_name = "VERSION")]
        to: Option<String>,
        /// Fetch, vet and compute everything, but rewrite no file.
        #[arg(long)]
        dry_run: bool,
        /// Accept a blocking guardrail finding (RULE_ID@FILE, as the report names it).
        #[arg(long, value_name = "RULE_ID@FILE")]
        approve: Vec<String>,
        #[arg(long, short, value_enum, default_value = "text")]
        output: Format,
    },
}

pub fn run(command: Command, ws: &Workspace) -> Result<ExitCode, Failure> {
    let mut loaded = ws.load()?;
    match command {
        Command::Check { pattern, output } => {
            let checked = upstream::check(ws, &loaded, &pattern)?;
            for (label, why) in &checked.failures {
                eprintln!("error: {label}: {why}");
            }
            if output == Format::Json {
                out!("{}", serde_json::to_string_pretty(&checked.updates).expect("updates serialize"));
            } else {
                for u in &checked.updates {
                    out!("{}  {} \u{2192} {}  ({}, {})", u.label, u.current, u.latest, u.kind, u.signal);
                }
                let failed = checked.failures.len();
                eprintln!(
                    "{} of {} monitored targets have a newer version{}",
                    checked.updates.len(),
                    checked.watched,
                    if failed > 0 { format!("; {failed} monitors failed") } else { String::new() }
                );
            }
            Ok(status(checked.failures.is_empty()))
        }
        Command::Update { pattern, to, dry_run, approve, output } => {
            let opts = UpdateOptions { pattern: &pattern, to: to.as_deref(), dry_run, approve: &approve };
            let outcome = upstream::update(ws, &mut loaded, &opts)?;
            print_update(&outcome, output == Format::Json);
            Ok(status(outcome.not_updated.is_empty()))
        }
    }
}

/// The sources moved, the debs to re-lock, what could not be updated, and
/// the nodes whose keys change, by kind.
fn print_update(outcome: &Outcome, json: bool) {
    if json {
        out!("{}", serde_json::to_string_pretty(outcome).expect("outcome serializes"));
        return;
    }
    let verb = if outcome.written { "updated" } else { "would update" };
    for f in &outcome.updated {
        out!("{verb} {}  {} \u{2192} {}  ({}, sha256 {})", f.label, f.from, f.to, f.file, f.sha256);
    }
    for label in &outcome.followed {
        out!("{verb} the version of {label} with it");
    }
    for u in &outcome.debs {
        out!("deb {}  {} \u{2192} {}  ({}): run `dhib lock` to re-pin it", u.label, u.current, u.latest, u.signal);
    }
    for (label, report) in &outcome.guard {
        for f in &report.findings {
            out!("guardrail {label}: {}/{} {} {}:{}-{}: {}", f.severity, f.confidence, f.rule, f.file, f.lines.0, f.lines.1, f.explanation);
        }
    }
    for (label, digest) in &outcome.guard_records {
        out!("guardrail {label}: report kept in the store as sha256:{digest}");
    }
    for w in &outcome.warnings {
        eprintln!("warning: {w}");
    }
    for n in &outcome.not_updated {
        out!("not updated {}: {}", n.label, n.reason);
    }
    // Kinds in graph order, not alphabetical.
    let order = ["sources", "packages", "debs", "envs", "images", "customizations", "tests", "attestations"];
    let mut groups: Vec<_> = outcome.cascade.iter().collect();
    groups.sort_by_key(|(k, _)| order.iter().position(|o| o == k));
    if !groups.is_empty() {
        out!("keys that change:");
    }
    for (kind, nodes) in groups {
        out!("  {kind} ({}):", nodes.len());
        for n in nodes {
            out!("    {n}");
        }
    }
    if outcome.updated.is_empty() && outcome.debs.is_empty() && outcome.not_updated.is_empty() {
        eprintln!("everything is at its newest version");
    }
}
