//! Build progress on the terminal: a progress bar on a TTY, one line per
//! action otherwise, or one JSON object per line with `--output json`; and a
//! closing summary.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use dhib_exec::{Event, Summary};
use indicatif::{ProgressBar, ProgressStyle};

pub struct Printer {
    json: bool,
    bar: Option<ProgressBar>,
    total: AtomicUsize,
    done: AtomicUsize,
    cached: AtomicUsize,
    /// Nodes being built now, shown in the bar's message.
    running: Mutex<Vec<String>>,
}

impl Printer {
    pub fn new(json: bool) -> Self {
        let bar = terminal_bar(json, "{elapsed:>4} [{bar:30}] {pos}/{len} {prefix} {wide_msg}");
        Printer {
            json,
            bar,
            total: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            cached: AtomicUsize::new(0),
            running: Mutex::new(Vec::new()),
        }
    }

    /// Whether events go out as JSON lines.
    pub fn json(&self) -> bool {
        self.json
    }

    /// A line above the bar (or on stderr when there is none).
    fn line(&self, text: &str) {
        match &self.bar {
            Some(b) => b.println(text),
            None => {
                let _ = writeln!(std::io::stderr().lock(), "{text}");
            }
        }
    }

    fn finished_one(&self, node: &str) -> usize {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        running.retain(|n| n != node);
        let n = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(b) = &self.bar {
            b.set_position(n as u64);
            b.set_prefix(format!("({} cached)", self.cached.load(Ordering::Relaxed)));
            b.set_message(running.join(" "));
        }
        n
    }

    pub fn event(&self, e: &Event) {
        if self.json {
            let _ = writeln!(std::io::stdout().lock(), "{}", serde_json::to_string(e).expect("events serialize"));
            return;
        }
        let total = self.total.load(Ordering::Relaxed);
        match e {
            Event::Plan { total, skipped } => {
                self.total.store(*total, Ordering::Relaxed);
                if let Some(b) = &self.bar {
                    b.set_length(*total as u64);
                }
                if *skipped > 0 {
                    self.line(&format!(
                        "{total} actions to check; {skipped} image, test and attestation nodes are not built by this version"
                    ));
                }
            }
            Event::Started { node } => {
                let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
                running.push(node.clone());
                match &self.bar {
                    Some(b) => b.set_message(running.join(" ")),
                    None => {
                        drop(running);
                        self.line(&format!("[{}/{total}] building {node}", self.done.load(Ordering::Relaxed) + 1));
                    }
                }
            }
            Event::Cached { node } => {
                self.cached.fetch_add(1, Ordering::Relaxed);
                self.finished_one(node);
            }
            Event::Built { node, seconds } => {
                let n = self.finished_one(node);
                self.line(&format!("[{n}/{total}] built {node} in {seconds}s"));
            }
            Event::Failed { node, error } => {
                self.finished_one(node);
                self.line(&format!("FAILED {node}\n{}", indent(error)));
            }
            Event::NotRun { node } => self.line(&format!("not run: {node} (a dependency failed)")),
            Event::Corrupt { node, error } => self.line(&format!("warning: {error}; rebuilding what {node} needs")),
            Event::UpToDate { count } => {
                if let Some(b) = &self.bar {
                    b.finish_and_clear();
                }
                self.line(&format!("{count} targets up to date (no .dhi file changed since the last build)"));
            }
        }
    }

    /// Removes the bar, before a program takes over the terminal.
    pub fn clear(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }

    pub fn finish(&self, s: &Summary) {
        self.clear();
        if self.json {
            let _ = writeln!(std::io::stdout().lock(), "{}", serde_json::json!({"event": "summary", "summary": s}));
            return;
        }
        if s.built.is_empty() && s.ok() {
            self.line(&format!("{} targets up to date", s.cached.len()));
        } else {
            self.line(&format!(
                "{} built, {} up to date, {} failed, {} not run",
                s.built.len(),
                s.cached.len(),
                s.failed.len(),
                s.not_run.len()
            ));
        }
    }
}

/// A bar on stderr in `template`, when stderr is a terminal and the output
/// is not JSON.
fn terminal_bar(json: bool, template: &str) -> Option<ProgressBar> {
    (!json && std::io::stderr().is_terminal()).then(|| {
        let b = ProgressBar::new(0);
        b.set_style(ProgressStyle::with_template(template).expect("the template is valid").progress_chars("=> "));
        b.enable_steady_tick(Duration::from_millis(200));
        b
    })
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n")
}

/// `dhib fetch` on the terminal: a bar of files (and bytes) on a TTY, a
/// line per download otherwise, or JSON events with `--output json`.
pub struct FetchPrinter {
    json: bool,
    bar: Option<ProgressBar>,
    downloaded: AtomicUsize,
}

impl FetchPrinter {
    pub fn new(json: bool) -> Self {
        let bar = terminal_bar(json, "{elapsed:>4} [{bar:30}] {pos}/{len} files, {prefix} {wide_msg}");
        FetchPrinter { json, bar, downloaded: AtomicUsize::new(0) }
    }

    fn line(&self, text: &str) {
        match &self.bar {
            Some(b) => b.println(text),
            None => {
                let _ = writeln!(std::io::stderr().lock(), "{text}");
            }
        }
    }

    pub fn event(&self, e: &dhib_exec::prefetch::Event) {
        use dhib_exec::prefetch::Event;
        if self.json {
            let _ = writeln!(std::io::stdout().lock(), "{}", serde_json::to_string(e).expect("events serialize"));
            return;
        }
        match e {
            Event::Plan { total, stored } => {
                if let Some(b) = &self.bar {
                    b.set_length(*total as u64);
                }
                self.line(&format!("{total} pinned files, {stored} already in the store"));
            }
            Event::Fetched { file, size, downloaded } => {
                if *downloaded {
                    let bytes = self.downloaded.fetch_add(*size as usize, Ordering::Relaxed) + *size as usize;
                    match &self.bar {
                        Some(b) => {
                            b.set_prefix(format!("{} MiB downloaded", bytes >> 20));
                            b.set_message(file.node.clone());
                        }
                        None => self.line(&format!(
                            "fetched {} ({} KiB) for {}",
                            dhib::exec::fetch::file_name(&file.url),
                            size >> 10,
                            file.node
                        )),
                    }
                }
                if let Some(b) = &self.bar {
                    b.inc(1);
                }
            }
            Event::Failed { file, error } => {
                if let Some(b) = &self.bar {
                    b.inc(1);
                }
                self.line(&format!("FAILED {}\n{}", file.node, indent(error)));
            }
        }
    }

    pub fn finish(&self, s: &dhib_exec::prefetch::Summary) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
        if self.json {
            let _ = writeln!(std::io::stdout().lock(), "{}", serde_json::json!({"event": "summary", "summary": s}));
            return;
        }
        let mib = |b: u64| format!("{:.1} MiB", b as f64 / 1048576.0);
        if s.failed == 0 {
            self.line(&format!("{} files in the store, verified ({} downloaded, {})", s.files, s.downloaded, mib(s.bytes_downloaded)));
        } else {
            self.line(&format!(
                "{} of {} files could not be fetched ({} downloaded, {})",
                s.failed,
                s.files,
                s.downloaded,
                mib(s.bytes_downloaded)
            ));
        }
    }
}
