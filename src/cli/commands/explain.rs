use std::process::ExitCode;

use dhib_commands::{explain, Failure};

use crate::output::out;

/// Explain an error code: what it means and how to fix it. Without a code,
/// list every code dhib reports.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  dhib explain E0201\n  dhib explain                 every code, one per line\n  dhib explain --markdown      the registry as docs/errors.md"
)]
pub struct Args {
    /// The code, as a diagnostic prints it (E0201).
    code: Option<String>,
    /// Print the whole registry as Markdown.
    #[arg(long, conflicts_with = "code")]
    markdown: bool,
}

pub fn run(args: Args) -> Result<ExitCode, Failure> {
    match (args.code, args.markdown) {
        (_, true) => out!("{}", explain::markdown().trim_end()),
        (Some(code), _) => {
            let c = explain::explain(&code)?;
            out!("{}: {}\n\n{}", c.code, c.title, c.explanation.trim_end());
        }
        (None, _) => explain::all().iter().for_each(|c| out!("{}  {}", c.code, c.title)),
    }
    Ok(ExitCode::SUCCESS)
}
