//! What several commands print the same way: output formats, failures,
//! exit codes.

use std::process::ExitCode;

use clap::ValueEnum;
use dhib_commands::Failure;

/// How a set of nodes is printed.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Nodes {
    /// One node per line.
    Label,
    /// A JSON array of {node, kind, key}.
    Json,
    /// A Graphviz digraph of the result and the edges between its nodes.
    Dot,
}

/// How a command that works for a while reports.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Progress {
    /// One line per action on stderr.
    Text,
    /// One JSON event per line on stdout, for CI.
    Json,
}

/// A report printed once, at the end.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// Every diagnostic of `failure`, drawn by miette, on stderr.
pub fn print_failure(failure: Failure) {
    let count = failure.0.len();
    for r in failure.0 {
        eprintln!("{:?}", miette::Report::new(r));
    }
    if count > 1 {
        eprintln!("error: {count} problems found");
    }
}

/// 0 when `ok`, else 1.
pub fn status(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Prints a line on stdout; a closed pipe (`dhib query ... | head`) is not
/// an error.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}
pub(crate) use out;
