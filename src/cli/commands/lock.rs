use std::process::ExitCode;

use dhib_commands::{Failure, Workspace};

/// Pin Debian packages: resolve `[debian] packages` of dhi.toml and their
/// dependencies against a Packages index, and write them as `deb` targets;
/// the source packages of `[debian.sources]` as `debian_source` targets with
/// their build environments
#[derive(clap::Args)]
#[command(after_help = "\
Examples:
  dhib lock                                  resolve against this machine's apt lists
  dhib lock --index Packages.xz              resolve against a downloaded index
  dhib lock --index arm64=Packages-arm64.xz  with arch = [\"amd64\", \"arm64\"] in dhi.toml
  dhib lock --sources Sources.xz             with [debian.sources], from a Sources index you trust")]
pub struct Args {
    /// Packages indexes (plain, .gz, .xz, or apt's .lz4), as FILE for the first
    /// architecture of `[debian] arch` or ARCH=FILE; default: apt's lists.
    #[arg(long, value_name = "[ARCH=]FILE")]
    index: Vec<String>,
    /// The Sources index for `[debian.sources]` (plain, .gz or .xz); default:
    /// downloaded from the Debian repository and checked against its signed InRelease.
    #[arg(long, value_name = "FILE")]
    sources: Option<std::path::PathBuf>,
}

pub fn run(args: Args, ws: &Workspace) -> Result<ExitCode, Failure> {
    let (output, count) = dhib_commands::lock::lock(ws, &args.index, args.sources.as_deref())?;
    eprintln!("locked {count} packages into {output}");
    Ok(ExitCode::SUCCESS)
}
