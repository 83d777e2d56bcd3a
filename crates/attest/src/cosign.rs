//! cosign's signature format: the "simple signing" payload that a
//! `sha256-<hex>.sig` layer holds and whose ECDSA signature rides in the
//! layer's `dev.cosignproject.cosign/signature` annotation.

use serde::{Deserialize, Serialize};

/// Media type of a cosign signature layer (its blob is the payload).
pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// Layer annotation holding the standard base64 DER signature of the payload.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// Media type of a cosign attestation layer (its blob is a DSSE envelope).
pub const DSSE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";

/// `critical.type` of an image signature; cosign rejects any other.
const SIGNATURE_TYPE: &str = "cosign container image signature";

// Fields in the order Go's encoding/json writes sigstore's payload.Cosign,
// so the payload bytes equal cosign's for the same image.
#[derive(Serialize, Deserialize)]
struct SimpleSigning {
    critical: Critical,
    optional: Option<serde_json::Value>,
}

#[derive(Serialize, Deserialize)]
struct Critical {
    identity: Identity,
    image: Image,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Serialize, Deserialize)]
struct Identity {
    #[serde(rename = "docker-reference")]
    docker_reference: String,
}

#[derive(Serialize, Deserialize)]
struct Image {
    #[serde(rename = "docker-manifest-digest")]
    docker_manifest_digest: String,
}

/// The payload cosign signs for an image: `docker_reference` is the
/// repository (`ghcr.io/acme/lua`), `manifest_digest` is `sha256:<hex>`.
/// `optional` is null, as `cosign sign` writes it without `-a`.
pub fn simple_signing_payload(docker_reference: &str, manifest_digest: &str) -> Vec<u8> {
    let payload = SimpleSigning {
        critical: Critical {
            identity: Identity { docker_reference: docker_reference.to_string() },
            image: Image { docker_manifest_digest: manifest_digest.to_string() },
            kind: SIGNATURE_TYPE.to_string(),
        },
        optional: None,
    };
    serde_json::to_vec(&payload).expect("a payload of strings serializes")
}

/// Checks what `cosign verify` checks in a payload besides its signature:
/// that it is an image signature, and of the image `expected_digest`.
pub fn check_payload(payload: &[u8], expected_digest: &str) -> Result<(), String> {
    let parsed: SimpleSigning =
        serde_json::from_slice(payload).map_err(|e| format!("the signed payload is not a cosign simple-signing payload: {e}"))?;
    let critical = parsed.critical;
    if critical.kind != SIGNATURE_TYPE {
        return Err(format!("the signed payload has type `{}`, not `{SIGNATURE_TYPE}`", critical.kind));
    }
    let signed = critical.image.docker_manifest_digest;
    if signed != expected_digest {
        return Err(format!("the signature is for the image {signed}, not {expected_digest}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:d34db33fd34db33fd34db33fd34db33fd34db33fd34db33fd34db33fd34db33f";

    #[test]
    fn payload_matches_cosigns_bytes() {
        // The expected text is sigstore's own test of this payload (payload_test.go).
        let expected = r#"{"critical":{"identity":{"docker-reference":"example.com/test/image"},"image":{"docker-manifest-digest":"sha256:d34db33fd34db33fd34db33fd34db33fd34db33fd34db33fd34db33fd34db33f"},"type":"cosign container image signature"},"optional":null}"#;
        assert_eq!(String::from_utf8(simple_signing_payload("example.com/test/image", DIGEST)).unwrap(), expected);
    }

    #[test]
    fn check_accepts_own_and_annotated_payloads() {
        check_payload(&simple_signing_payload("r", DIGEST), DIGEST).unwrap();
        let annotated = format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"r"}},"image":{{"docker-manifest-digest":"{DIGEST}"}},"type":"cosign container image signature"}},"optional":{{"creator":"x"}}}}"#
        );
        check_payload(annotated.as_bytes(), DIGEST).unwrap();
    }

    #[test]
    fn check_names_what_differs() {
        let other = format!("sha256:{}", "0".repeat(64));
        let err = check_payload(&simple_signing_payload("r", DIGEST), &other).unwrap_err();
        assert!(err.contains(DIGEST) && err.contains(&other), "{err}");

        let atomic = simple_signing_payload("r", DIGEST)
            .iter()
            .map(|&b| b as char)
            .collect::<String>()
            .replace("cosign container image signature", "atomic container signature");
        let err = check_payload(atomic.as_bytes(), DIGEST).unwrap_err();
        assert!(err.contains("`atomic container signature`"), "{err}");

        assert!(check_payload(b"[]", DIGEST).unwrap_err().contains("not a cosign simple-signing payload"));
    }
}
