use std::path::PathBuf;
use std::process::ExitCode;

use dhib_commands::Failure;

/// Generate a cosign-compatible key pair for signing images and attestations.
#[derive(clap::Args)]
#[command(
    long_about = "\
Generate an ECDSA P-256 key pair in cosign's formats: PREFIX.key, the private
key encrypted with scrypt and NaCl secretbox (`ENCRYPTED SIGSTORE PRIVATE KEY`,
mode 0600), and PREFIX.pub, the public key (SPKI PEM). cosign reads both, and
dhib reads keys made by `cosign generate-key-pair`.

The password comes from DHIB_KEY_PASSWORD, else COSIGN_PASSWORD, else is
empty. Existing files are never replaced without --force.",
    after_help = "\
Examples:
  DHIB_KEY_PASSWORD=s3cret dhib keygen              writes cosign.key and cosign.pub
  dhib keygen --output keys/release                 writes keys/release.key and keys/release.pub
  cosign sign --key cosign.key IMAGE                cosign uses the same files"
)]
pub struct Args {
    /// Write PREFIX.key and PREFIX.pub.
    #[arg(long, short, value_name = "PREFIX", default_value = "cosign")]
    output: PathBuf,
    /// Replace existing key files.
    #[arg(long)]
    force: bool,
}

pub fn run(args: Args) -> Result<ExitCode, Failure> {
    let g = dhib_commands::keys::keygen(&args.output, args.force)?;
    eprintln!("private key written to {} (mode 0600)", g.private.display());
    eprintln!("public key written to {}", g.public.display());
    match g.password_from {
        Some(var) => eprintln!("the private key is encrypted with the password from {var}"),
        None => eprintln!("the private key is encrypted with an empty password (set DHIB_KEY_PASSWORD or COSIGN_PASSWORD to choose one)"),
    }
    Ok(ExitCode::SUCCESS)
}
