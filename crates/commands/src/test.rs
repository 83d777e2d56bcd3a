//! `dhib test`: the `#test-report` nodes of what the patterns name, built
//! (tests run, checks made), and their CTRF reports written out.

use std::path::PathBuf;

use dhib_core::diag::Diag;
use dhib_exec::out::TestReportFile;
use dhib_exec::sandbox::Mode;
use dhib_exec::{Event, Summary};

use crate::{Failure, Loaded, Workspace};

pub struct Outcome {
    pub summary: Summary,
    pub reports: Vec<TestReportFile>,
    pub out_dir: PathBuf,
}

impl Outcome {
    /// Whether anything failed or could not run.
    pub fn failed(&self) -> bool {
        !self.summary.failed.is_empty() || !self.summary.not_run.is_empty() || self.reports.iter().any(|r| r.failed > 0)
    }
}

pub fn test(
    ws: &Workspace,
    loaded: &Loaded,
    patterns: &[String],
    jobs: usize,
    out: Option<PathBuf>,
    on_event: &(dyn Fn(&Event) + Sync),
) -> Result<Outcome, Failure> {
    let requested = loaded.resolve_all(patterns)?;
    let reports = dhib_exec::out::test_reports_of(&loaded.analyzed, &requested);
    if reports.is_empty() {
        return Err(Diag::plain("E0511", format!("{} names no image, customization or test", patterns.join(" ")))
            .with_help("name images or tests, e.g. dhib test //examples/...")
            .into());
    }
    let req = dhib_exec::Request { store: ws.store_dir.clone(), jobs, keep_going: true, sandbox: Mode::Bwrap };
    let summary = dhib_exec::build(&loaded.analysis, &loaded.analyzed, &reports.iter().copied().collect(), &req, on_event)?;
    let out_dir = ws.out_dir(out);
    let reports = dhib_exec::out::write_test_reports(&req.store, &out_dir, &loaded.analyzed, &reports)?;
    Ok(Outcome { summary, reports, out_dir })
}
