//! Signing keys and signatures, judged by other implementations: `dhib keygen`
//! writes what cosign writes (checked by decrypting it with Python's scrypt
//! and PyNaCl), DSSE envelopes verify with securesystemslib, and keys and
//! signatures made by openssl interoperate both ways.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use dhib::attest::dsse::{Envelope, IN_TOTO_PAYLOAD};
use dhib::attest::keys::{KeyError, PublicKey, SigningKey};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn dhib(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = common::dhib();
    cmd.current_dir(dir).args(args).env_remove("DHIB_KEY_PASSWORD").env_remove("COSIGN_PASSWORD").env_remove("DHIB_DIRECTORY");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run dhib")
}

fn python(args: &[&Path], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(repo().join(".venv/bin/python"));
    cmd.args(args).env_remove("COSIGN_PASSWORD");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run .venv/bin/python (scripts/test-deps.sh installs it)")
}

fn openssl(args: &[&str], dir: &Path) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("run openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn keygen_writes_a_private_0600_key_and_never_overwrites_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let out = dhib(dir.path(), &["keygen"], &[("DHIB_KEY_PASSWORD", "pw"), ("COSIGN_PASSWORD", "other")]);
    assert!(out.status.success(), "{}", text(&out));
    let (key, public) = (dir.path().join("cosign.key"), dir.path().join("cosign.pub"));
    assert_eq!(key.metadata().unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(public.metadata().unwrap().permissions().mode() & 0o777, 0o644);
    let said = text(&out);
    assert!(said.contains("cosign.key") && said.contains("cosign.pub") && said.contains("DHIB_KEY_PASSWORD"), "{said}");
    // DHIB_KEY_PASSWORD wins over COSIGN_PASSWORD.
    let signing = SigningKey::from_pem(&read(&key), b"pw").unwrap();
    assert_eq!(signing.public_key(), PublicKey::from_pem(&read(&public)).unwrap());

    let (key_before, pub_before) = (read(&key), read(&public));
    let again = dhib(dir.path(), &["keygen"], &[]);
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
    let said = text(&again);
    assert!(said.contains("already exists") && said.contains("--force"), "{said}");
    assert_eq!((read(&key), read(&public)), (key_before.clone(), pub_before.clone()), "nothing replaced");

    // Only the .pub left: still refused, and no .key written beside it.
    std::fs::remove_file(&key).unwrap();
    let half = dhib(dir.path(), &["keygen"], &[]);
    assert_eq!(half.status.code(), Some(1), "{}", text(&half));
    assert!(!key.exists());

    let forced = dhib(dir.path(), &["keygen", "--force"], &[]);
    assert!(forced.status.success(), "{}", text(&forced));
    assert!(text(&forced).contains("empty password"), "{}", text(&forced));
    assert_ne!(read(&public), pub_before, "a new pair");
    assert_eq!(key.metadata().unwrap().permissions().mode() & 0o777, 0o600);
    SigningKey::from_pem(&read(&key), b"").unwrap();

    std::fs::create_dir(dir.path().join("keys")).unwrap();
    let prefixed = dhib(dir.path(), &["keygen", "--output", "keys/release"], &[]);
    assert!(prefixed.status.success(), "{}", text(&prefixed));
    assert!(dir.path().join("keys/release.key").is_file() && dir.path().join("keys/release.pub").is_file());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("keys")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 2, "no temporary files left: {leftovers:?}");
}

#[test]
fn keygen_help_explains_itself() {
    let dir = tempfile::tempdir().unwrap();
    let out = dhib(dir.path(), &["keygen", "--help"], &[]);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    for expected in ["ENCRYPTED SIGSTORE PRIVATE KEY", "DHIB_KEY_PASSWORD", "COSIGN_PASSWORD", "--force", "--output <PREFIX>", "Examples:"]
    {
        assert!(said.contains(expected), "help lacks {expected}: {said}");
    }
}

#[test]
fn private_key_is_cosigns_format_by_an_independent_decryption() {
    let dir = tempfile::tempdir().unwrap();
    let out = dhib(dir.path(), &["keygen"], &[("COSIGN_PASSWORD", "s3cret")]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("COSIGN_PASSWORD"), "{}", text(&out));
    let (key, public) = (dir.path().join("cosign.key"), dir.path().join("cosign.pub"));
    let checker = repo().join("tests/conformance/cosign_key_check.py");

    let ok = python(&[&checker, &key, &public], &[("COSIGN_PASSWORD", "s3cret")]);
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(text(&ok).starts_with("OK:"), "{}", text(&ok));

    let wrong = python(&[&checker, &key, &public], &[("COSIGN_PASSWORD", "s3creT")]);
    assert!(!wrong.status.success(), "a wrong password must not decrypt: {}", text(&wrong));
    assert!(text(&wrong).contains("CryptoError"), "{}", text(&wrong));

    // And the checker notices a key that does not belong to the .pub.
    let other = tempfile::tempdir().unwrap();
    let (_, other_pub) = dhib::exec::keyfile::write_key_pair(&other.path().join("cosign"), b"", false).unwrap();
    let mismatch = python(&[&checker, &key, &other_pub], &[("COSIGN_PASSWORD", "s3cret")]);
    assert!(!mismatch.status.success() && text(&mismatch).contains("does not match"), "{}", text(&mismatch));
}

/// A minimal in-toto Statement v1 (in-toto-attestation rejects an empty predicate).
fn statement() -> Vec<u8> {
    let digest = "a".repeat(64);
    format!(
        r#"{{"_type":"https://in-toto.io/Statement/v1","subject":[{{"name":"x","digest":{{"sha256":"{digest}"}}}}],"predicateType":"https://example.com/p/v1","predicate":{{"builder":"dhib"}}}}"#
    )
    .into_bytes()
}

#[test]
fn dsse_envelope_verifies_with_securesystemslib_and_tampering_fails_there() {
    let dir = tempfile::tempdir().unwrap();
    let (key_path, pub_path) = dhib::exec::keyfile::write_key_pair(&dir.path().join("cosign"), b"pw", false).unwrap();
    let key = SigningKey::from_pem(&read(&key_path), b"pw").unwrap();
    let env = Envelope::sign(IN_TOTO_PAYLOAD, &statement(), &key);
    env.verify(&PublicKey::from_pem(&read(&pub_path)).unwrap()).unwrap();
    let checker = repo().join("tests/conformance/dsse_verify.py");

    let good = dir.path().join("envelope.json");
    std::fs::write(&good, env.to_json()).unwrap();
    let out = python(&[&checker, &pub_path, &good], &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("OK: DSSE signature valid"), "{}", text(&out));

    let mut tampered = env.clone();
    let payload = String::from_utf8(statement()).unwrap().replace(r#""name":"x""#, r#""name":"y""#);
    tampered.payload = STANDARD.encode(payload);
    let bad = dir.path().join("tampered.json");
    std::fs::write(&bad, tampered.to_json()).unwrap();
    let out = python(&[&checker, &pub_path, &bad], &[]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("no DSSE signature verifies"), "{}", text(&out));
}

#[test]
fn openssl_keys_load_and_signatures_interoperate_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // SEC1 with the EC PARAMETERS block openssl puts first, SEC1 alone, and PKCS#8.
    openssl(&["ecparam", "-name", "prime256v1", "-genkey", "-out", "sec1-params.pem"], d);
    openssl(&["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "sec1.pem"], d);
    openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "pkcs8.pem"], d);
    std::fs::write(d.join("msg"), b"signed by one, verified by the other").unwrap();
    for name in ["sec1-params.pem", "sec1.pem", "pkcs8.pem"] {
        let pem = read(&d.join(name));
        assert!(pem.contains(if name == "pkcs8.pem" { "BEGIN PRIVATE KEY" } else { "BEGIN EC PRIVATE KEY" }));
        openssl(&["pkey", "-in", name, "-pubout", "-out", "pub.pem"], d);
        let key = SigningKey::from_pem(&pem, b"unused").unwrap_or_else(|e| panic!("{name}: {e}"));
        let public = PublicKey::from_pem(&read(&d.join("pub.pem"))).unwrap();
        assert_eq!(key.public_key(), public, "{name}");

        std::fs::write(d.join("dhib.sig"), key.sign(b"signed by one, verified by the other")).unwrap();
        openssl(&["dgst", "-sha256", "-verify", "pub.pem", "-signature", "dhib.sig", "msg"], d);

        // openssl's signatures are randomized, so some have a high S; cosign's too.
        for _ in 0..6 {
            openssl(&["dgst", "-sha256", "-sign", name, "-out", "openssl.sig", "msg"], d);
            let sig = std::fs::read(d.join("openssl.sig")).unwrap();
            public.verify(b"signed by one, verified by the other", &sig).unwrap();
            assert!(matches!(public.verify(b"something else", &sig), Err(KeyError::BadSignature)));
        }
    }
}

#[test]
fn keys_of_other_algorithms_are_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-out", "p384.pem"], d);
    openssl(&["genpkey", "-algorithm", "ed25519", "-out", "ed.pem"], d);
    openssl(&["pkey", "-in", "p384.pem", "-pubout", "-out", "p384.pub"], d);
    let err = SigningKey::from_pem(&read(&d.join("p384.pem")), b"").err().unwrap();
    assert!(matches!(err, KeyError::Unsupported(_)) && err.to_string().contains("P-384"), "{err}");
    let err = SigningKey::from_pem(&read(&d.join("ed.pem")), b"").err().unwrap();
    assert!(err.to_string().contains("Ed25519"), "{err}");
    let err = PublicKey::from_pem(&read(&d.join("p384.pub"))).unwrap_err();
    assert!(err.to_string().contains("P-384"), "{err}");
}
