use std::path::PathBuf;
use std::process::ExitCode;

use dhib_commands::{Failure, Workspace};

use crate::output::{status, Progress};
use crate::progress::FetchPrinter;

/// Download every pinned file that targets need (their sources and
/// debs, through their whole build closure) into the store, each checked
/// against its sha256, without building; a later build needs no network.
#[derive(clap::Args)]
#[command(
    long_about = "\
Download every pinned file that targets need (their sources and debs, through
their whole build closure) into the store, each checked against its sha256,
without building anything; a later `dhib build` then needs no network.

A pin names bytes, not a place, so any origin holding them will do. They are
asked in this order, and a download is accepted only if its sha256 matches:
  1. the mirrors of DHIB_FETCH_MIRRORS (comma-separated), then `[fetch]
     mirrors` of dhi.toml: URLs or directories, each asked for sha256/<hex>
     (a hashed mirror, as --mirror-dir writes) and then for the file's name
     (a directory of downloads);
  2. the URL itself. A `mirror://debian/pool/...` URL (and every deb's
     `filename`) is a path in a Debian repository: asked of DHIB_DEBIAN_REPO,
     else `[debian] repo`, else each repository of this machine's apt
     sources, in order. Exact pool paths keep working after Debian moves on
     to a newer version: nothing asks which version is current.

A file that no origin serves is named with its pin and every place tried;
the others are still fetched, and the exit status is 1.",
    after_help = "\
Examples:
  dhib fetch //examples/...                          what the examples need
  dhib fetch //... --mirror-dir /srv/dhib-mirror     and keep a mirror for CI
  DHIB_FETCH_MIRRORS=/srv/dhib-mirror dhib build //...   offline, from it
  dhib fetch //examples/images/lua --output json     one JSON event per file"
)]
pub struct Args {
    /// Target patterns or query expressions.
    #[arg(default_value = "//...")]
    patterns: Vec<String>,
    /// Downloads at once.
    #[arg(short, long, default_value_t = 4)]
    jobs: usize,
    /// Also keep every file as DIR/sha256/<hex>: a mirror that `[fetch]
    /// mirrors` or DHIB_FETCH_MIRRORS can name elsewhere.
    #[arg(long, value_name = "DIR")]
    mirror_dir: Option<PathBuf>,
    #[arg(long, short, value_enum, default_value = "text")]
    output: Progress,
}

pub fn run(args: Args, ws: &Workspace) -> Result<ExitCode, Failure> {
    let loaded = ws.load()?;
    let printer = FetchPrinter::new(args.output == Progress::Json);
    let summary = dhib_commands::fetch::fetch(ws, &loaded, &args.patterns, args.jobs, args.mirror_dir, &|e| printer.event(e))?;
    printer.finish(&summary);
    Ok(status(summary.failed == 0))
}
