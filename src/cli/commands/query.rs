use std::process::ExitCode;

use dhib_commands::{query, Failure, Loaded, Workspace};
use dhib_graph::query::NodeSet;

use crate::output::{out, Nodes};

/// Answer questions about the build graph.
#[derive(clap::Args)]
#[command(after_help = "\
Expressions:
  //...  //dir/...  //dir:all  //dir:name   target patterns
  //dir:name@linux/arm64  //dir:img#sbom    one configured or attestation node
  deps(X)  deps(X, 1)                        X and what it depends on (to a depth)
  rdeps(U, X)  rdeps(U, X, 1)                what in U depends on X
  allpaths(A, B)                             every node on a path from A to B
  kind(image, X)                             source package deb env image
                                             customization test attestation
  attr(license, Zlib, X)                     nodes whose attribute has that value
  tests(X)                                   the tests of the images in X
  A + B   A - B   A ^ B                      union, difference, intersection
                                             (spaces around the operator)

Examples:
  dhib query 'rdeps(//..., //pkgs/zlib)'
  dhib query 'kind(image, rdeps(//..., //pkgs/zlib))'
  dhib query 'deps(//images/lua:lua, 1)' --output dot
  dhib query 'kind(package, //...) - attr(license, MIT, //...)'")]
pub struct Args {
    /// The query expression.
    expr: String,
    #[arg(long, short, value_enum, default_value = "label")]
    output: Nodes,
}

pub fn run(args: Args, ws: &Workspace) -> Result<ExitCode, Failure> {
    let loaded = ws.load()?;
    let set = query::query(&loaded, &args.expr)?;
    print_nodes(&loaded, &set, args.output);
    Ok(ExitCode::SUCCESS)
}

/// Prints nodes sorted: one per line, as JSON rows with kind and key, or as dot.
pub fn print_nodes(loaded: &Loaded, set: &NodeSet, output: Nodes) {
    match output {
        Nodes::Label => query::rows(loaded, set).iter().for_each(|r| out!("{}", r.node)),
        Nodes::Json => out!("{}", serde_json::to_string_pretty(&query::rows(loaded, set)).expect("rows serialize")),
        Nodes::Dot => {
            use std::io::Write as _;
            let _ = write!(std::io::stdout().lock(), "{}", query::dot(loaded, set));
        }
    }
}
