//! `dhib build`: the null-build shortcut, the build, images written out and
//! signed, the snapshot for next time, and optionally a second build from
//! nothing to check reproducibility.

use std::path::{Path, PathBuf};

use dhib_exec::reproducible::Difference;
use dhib_exec::sandbox::Mode;
use dhib_exec::{snapshot, Event, Summary};
use dhib_graph::NodeId;

use crate::{keys, Failure, Workspace};

pub struct Options {
    pub patterns: Vec<String>,
    pub jobs: usize,
    pub keep_going: bool,
    pub sandbox: Mode,
    pub out: Option<PathBuf>,
    pub check_reproducible: bool,
    /// An OSV database: each image written gets a signed scan of its SBOM.
    pub scan_db: Option<PathBuf>,
}

/// Where a build reports while it runs.
pub trait Progress: Sync {
    fn event(&self, e: &Event);
    /// The build is over; images are written next.
    fn finished(&self, summary: &Summary);
    /// `images` image layouts were written to `out_dir`, signed or not.
    fn written(&self, images: usize, out_dir: &Path, signed: bool);
    fn warning(&self, text: &str);
}

pub enum Outcome {
    /// Nothing changed since the last successful build of the same request;
    /// nothing was analysed.
    UpToDate {
        count: usize,
    },
    Built(Box<Built>),
}

pub struct Built {
    pub summary: Summary,
    /// With `check_reproducible` and a successful build: the nodes whose
    /// outputs differed when built again from nothing, and how many were
    /// compared.
    pub reproducibility: Option<(Vec<Difference>, usize)>,
}

/// The null build when it applies, else analysis and the build.
pub fn build(ws: &Workspace, opts: &Options, progress: &dyn Progress) -> Result<Outcome, Failure> {
    let out_dir = ws.out_dir(opts.out.clone());
    let request = request(ws, &opts.patterns, opts.sandbox, &out_dir);
    // Read once: for the shortcut's fingerprint, and analysed when it fails.
    let files = ws.discover()?;
    // A database is read anew each time: its scans go out even when nothing is built.
    if opts.sandbox == Mode::Bwrap && !opts.check_reproducible && opts.scan_db.is_none() {
        if let Some(count) = up_to_date(ws, &files, &request) {
            return Ok(Outcome::UpToDate { count });
        }
    }
    let loaded = ws.load_files(files)?;
    let requested = loaded.resolve_all(&opts.patterns)?;
    let req = dhib_exec::Request { store: ws.store_dir.clone(), jobs: opts.jobs, keep_going: opts.keep_going, sandbox: opts.sandbox };
    let (analysis, analyzed) = (&loaded.analysis, &loaded.analyzed);
    let on_event = |e: &Event| progress.event(e);
    let summary = dhib_exec::build(analysis, analyzed, &requested, &req, &on_event)?;
    progress.finished(&summary);
    let signer = keys::signing_key(ws, &|w| progress.warning(w))?;
    let db = opts.scan_db.as_deref().map(crate::scan::database).transpose()?;
    let epoch = analysis.config.build.source_date_epoch;
    let written = dhib_exec::out::write_images(&req.store, &out_dir, &summary, signer.as_ref(), epoch, db.as_ref())?;
    progress.written(written.images.len(), &out_dir, signer.is_some());
    if summary.ok() && opts.sandbox == Mode::Bwrap {
        let keys: Vec<_> = summary
            .built
            .iter()
            .chain(&summary.cached)
            .filter_map(|n| NodeId::parse(n).ok().and_then(|id| analyzed.keys.get(&id)))
            .collect();
        let store = ws.store()?;
        let (texts, referenced) = (analysis.texts(), analysis.referenced_files());
        let inputs = snapshot::Inputs { root: &ws.root, texts: &texts, referenced: &referenced, request: &request };
        snapshot::save(&store, &inputs, &keys, &written.paths);
    }
    let reproducibility = if opts.check_reproducible && summary.ok() {
        let differences = dhib_exec::reproducible::check_reproducible(analysis, analyzed, &requested, &req, &summary, &on_event)?;
        Some((differences, summary.built.len() + summary.cached.len()))
    } else {
        None
    };
    Ok(Outcome::Built(Box::new(Built { summary, reproducibility })))
}

/// The count of up-to-date nodes when the last successful build of this
/// request still holds: same files, same request, every result there.
fn up_to_date(ws: &Workspace, texts: &[(String, String)], request: &str) -> Option<usize> {
    let store = ws.store().ok()?;
    let inputs = snapshot::Inputs { root: &ws.root, texts, referenced: &[], request };
    snapshot::up_to_date(&store, &inputs)
}

/// What else a build's outcome depends on besides the workspace's files:
/// the patterns, the sandbox, the Debian repository, the signing key (a new
/// key must re-sign what is written out) and where images are written.
fn request(ws: &Workspace, patterns: &[String], sandbox: Mode, out: &Path) -> String {
    let repo = std::env::var("DHIB_DEBIAN_REPO").unwrap_or_default();
    let key = keys::signing_key_path(ws)
        .ok()
        .flatten()
        .and_then(|k| dhib_exec::keyfile::read(&k).ok())
        .map(|k| blake3::hash(k.text.as_bytes()).to_hex().to_string())
        .unwrap_or_default();
    let out = std::path::absolute(out).unwrap_or_else(|_| out.to_path_buf());
    format!("{patterns:?} sandbox={} repo={repo} key={key} out={}", sandbox == Mode::Bwrap, out.display())
}
