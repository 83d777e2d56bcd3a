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

/// Every diagnostic of `failure`, drawn by miette, on stderr, and where
/// to read more about their codes.
pub fn print_failure(failure: Failure) {
    let count = failure.0.len();
    let codes: std::collections::BTreeSet<&str> = failure.0.iter().map(|r| r.code()).filter(|c| !c.is_empty()).collect();
    for r in failure.0 {
        eprintln!("{:?}", miette::Report::new(r));
    }
    if count > 1 {
        eprintln!("error: {count} problems found");
    }
    let codes: Vec<&str> = codes.into_iter().collect();
    match codes[..] {
        [] => {}
        [one] => eprintln!("For more about this error, run `dhib explain {one}`."),
        _ => eprintln!("For more about these errors, run `dhib explain CODE` ({}).", codes.join(", ")),
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
