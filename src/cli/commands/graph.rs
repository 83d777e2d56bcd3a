use std::process::ExitCode;

use dhib_commands::{query, Failure, Workspace};

use crate::output::Nodes;

/// Print the dependency graph of targets as Graphviz dot.
#[derive(clap::Args)]
#[command(after_help = "Example:\n  dhib graph //images/... | dot -Tsvg > images.svg")]
pub struct Args {
    /// Target patterns; the graph holds them and everything they depend on.
    #[arg(default_value = "//...")]
    patterns: Vec<String>,
}

pub fn run(args: Args, ws: &Workspace) -> Result<ExitCode, Failure> {
    let loaded = ws.load()?;
    let set = query::query(&loaded, &query::graph_expr(&args.patterns))?;
    super::query::print_nodes(&loaded, &set, Nodes::Dot);
    Ok(ExitCode::SUCCESS)
}
