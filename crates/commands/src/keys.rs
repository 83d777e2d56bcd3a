//! Which keys a command signs and verifies with, and `dhib keygen`.

use std::path::{Path, PathBuf};

use dhib_attest::keys::{KeyError, PublicKey, SigningKey};
use dhib_core::diag::Diag;
use dhib_exec::keyfile;

use crate::{Failure, Workspace};

/// The variable that names the signing key, over `[sign] key` of dhi.toml.
pub const SIGNING_KEY_VAR: &str = "DHIB_SIGNING_KEY";

/// The signing key's path: `DHIB_SIGNING_KEY`, else `[sign] key` of
/// dhi.toml, relative to the workspace root; none when neither names one.
pub fn signing_key_path(ws: &Workspace) -> Result<Option<PathBuf>, Failure> {
    let named = match std::env::var(SIGNING_KEY_VAR) {
        Ok(k) => Some(k),
        Err(_) => ws.config()?.sign.key.clone(),
    };
    Ok(named.map(|k| ws.root.join(k)))
}

/// The key `dhib build` signs with, read and decrypted. `warn` hears of a
/// key others can read.
pub fn signing_key(ws: &Workspace, warn: &dyn Fn(&str)) -> Result<Option<SigningKey>, Failure> {
    let Some(path) = signing_key_path(ws)? else { return Ok(None) };
    let key = keyfile::read(&path).map_err(|e| {
        let help = if path.exists() {
            "DHIB_SIGNING_KEY or `[sign] key` must name a private key file in cosign's format".to_string()
        } else {
            format!("make a key pair once: dhib keygen --output {}", path.with_extension("").display())
        };
        Diag::plain("E0510", format!("cannot read the signing key {}: {e}", path.display())).with_help(help)
    })?;
    if let Some(mode) = key.readable_by_others {
        warn(&format!("the signing key {} can be read by other users (mode {mode:04o}); chmod 600 it", path.display()));
    }
    SigningKey::from_pem(&key.text, &keyfile::password_from_env()).map(Some).map_err(|e| {
        Diag::plain("E0510", format!("{}: {e}", path.display()))
            .with_help("the password comes from DHIB_KEY_PASSWORD or COSIGN_PASSWORD")
            .into()
    })
}

/// The public key `dhib verify` checks with: `key`, else the signing key's
/// path with `.pub` in place of `.key`.
pub fn public_key(ws: &Workspace, key: Option<PathBuf>) -> Result<PublicKey, Failure> {
    let path = match key {
        Some(k) => k,
        None => signing_key_path(ws)?.map(|k| k.with_extension("pub")).ok_or_else(|| {
            Diag::plain("E0512", "no public key to verify with").with_help("name one with --key FILE, or set `[sign] key` in dhi.toml")
        })?,
    };
    read_public_key(&path)
}

/// The public key in the PEM file at `path`.
pub fn read_public_key(path: &Path) -> Result<PublicKey, Failure> {
    let pem = keyfile::read(path).map(|k| k.text).map_err(|e| {
        Diag::plain("E0512", format!("cannot read the public key {}: {e}", path.display())).with_help("name it with --key FILE")
    })?;
    Ok(PublicKey::from_pem(&pem).map_err(|e| Diag::plain("E0512", format!("{}: {e}", path.display())))?)
}

/// What `dhib keygen` wrote.
pub struct Generated {
    pub private: PathBuf,
    pub public: PathBuf,
    /// The variable the password came from; none: the password is empty.
    pub password_from: Option<&'static str>,
}

/// Writes a new key pair `PREFIX.key` and `PREFIX.pub`.
pub fn keygen(prefix: &Path, force: bool) -> Result<Generated, Failure> {
    let password = keyfile::password_from_env();
    let (private, public) = keyfile::write_key_pair(prefix, &password, force).map_err(|e| match e {
        KeyError::Exists(_) => Diag::plain("E0801", format!("{e}; refusing to replace a key"))
            .with_help("pass --force to replace it, or --output PREFIX to write the pair elsewhere"),
        _ => Diag::plain("E0802", e.to_string()),
    })?;
    Ok(Generated { private, public, password_from: keyfile::password_env_var() })
}
