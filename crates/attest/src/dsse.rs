//! DSSE envelopes (Dead Simple Signing Envelope v1), the wrapping of in-toto
//! attestations that cosign stores as `.att` layers and checks with
//! `cosign verify-attestation`.
//!
//! The signature covers the PAE encoding of the payload type and the payload,
//! never the JSON around them, so an envelope can be re-serialized freely.

use base64::engine::general_purpose::{STANDARD, STANDARD_PAD_INDIFFERENT, URL_SAFE_PAD_INDIFFERENT};
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::keys::{PublicKey, SigningKey};

/// The payload type of an in-toto Statement.
pub const IN_TOTO_PAYLOAD: &str = "application/vnd.in-toto+json";

#[derive(Debug, thiserror::Error)]
pub enum DsseError {
    #[error("not a DSSE envelope: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the envelope's payload is not base64")]
    PayloadEncoding,
    #[error("the envelope has no signatures")]
    Unsigned,
    #[error("none of the envelope's {0} signature(s) verifies with the key")]
    NoValidSignature(usize),
}

/// The pre-authentication encoding:
/// `"DSSEv1" SP len(type) SP type SP len(body) SP body`, lengths in decimal bytes.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!("DSSEv1 {} {} {} ", payload_type.len(), payload_type, payload.len()).into_bytes();
    out.extend_from_slice(payload);
    out
}

/// A DSSE envelope. Fields are declared in the order cosign writes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    /// Standard base64 of the payload (any base64 is accepted when reading).
    pub payload: String,
    pub signatures: Vec<Signature>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// An unauthenticated hint; dhib writes "" and never reads it.
    #[serde(default)]
    pub keyid: String,
    /// Standard base64 of the ASN.1 DER ECDSA signature over the PAE.
    pub sig: String,
}

impl Envelope {
    /// Signs `payload` with one signature whose `keyid` is empty, as
    /// `cosign attest` writes it: verifiers (cosign, policy engines) find the
    /// key by configuration, not by this unsigned field, and an empty keyid
    /// keeps dhib's envelopes in cosign's exact shape.
    pub fn sign(payload_type: &str, payload: &[u8], key: &SigningKey) -> Envelope {
        let sig = key.sign(&pae(payload_type, payload));
        Envelope {
            payload_type: payload_type.to_string(),
            payload: STANDARD.encode(payload),
            signatures: vec![Signature { keyid: String::new(), sig: STANDARD.encode(sig) }],
        }
    }

    /// The payload, decoded from standard or URL-safe base64, padded or not.
    pub fn payload_bytes(&self) -> Result<Vec<u8>, DsseError> {
        decode_any(&self.payload).ok_or(DsseError::PayloadEncoding)
    }

    /// Passes when any signature verifies over the PAE with `key`; keyids are
    /// ignored, as the DSSE protocol requires.
    pub fn verify(&self, key: &PublicKey) -> Result<(), DsseError> {
        if self.signatures.is_empty() {
            return Err(DsseError::Unsigned);
        }
        let signed = pae(&self.payload_type, &self.payload_bytes()?);
        let valid = self.signatures.iter().filter_map(|s| decode_any(&s.sig)).any(|sig| key.verify(&signed, &sig).is_ok());
        if valid {
            Ok(())
        } else {
            Err(DsseError::NoValidSignature(self.signatures.len()))
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an envelope of strings serializes")
    }

    pub fn from_json(bytes: &[u8]) -> Result<Self, DsseError> {
        Ok(serde_json::from_slice(bytes)?)
    }
}

fn decode_any(text: &str) -> Option<Vec<u8>> {
    STANDARD_PAD_INDIFFERENT.decode(text).or_else(|_| URL_SAFE_PAD_INDIFFERENT.decode(text)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn key() -> SigningKey {
        SigningKey::from_pem(&keys::generate(b"").unwrap().private_pem, b"").unwrap()
    }

    #[test]
    fn pae_test_vector() {
        assert_eq!(pae("http://example.com/HelloWorld", b"hello world"), b"DSSEv1 29 http://example.com/HelloWorld 11 hello world");
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ");
    }

    #[test]
    fn sign_verify_round_trip_through_json() {
        let key = key();
        let env = Envelope::sign(IN_TOTO_PAYLOAD, b"{\"a\":1}", &key);
        let back = Envelope::from_json(&env.to_json()).unwrap();
        assert_eq!(back, env);
        back.verify(&key.public_key()).unwrap();
        assert_eq!(back.payload_bytes().unwrap(), b"{\"a\":1}");
        let json = String::from_utf8(env.to_json()).unwrap();
        assert!(json.starts_with(r#"{"payloadType":"application/vnd.in-toto+json","payload":""#), "{json}");
        assert!(json.contains(r#""signatures":[{"keyid":"","sig":""#), "{json}");
    }

    #[test]
    fn tampering_fails() {
        let key = key();
        let env = Envelope::sign(IN_TOTO_PAYLOAD, b"{\"a\":1}", &key);

        let mut payload = env.clone();
        payload.payload = STANDARD.encode(b"{\"a\":2}");
        assert!(matches!(payload.verify(&key.public_key()), Err(DsseError::NoValidSignature(1))));

        let mut kind = env.clone();
        kind.payload_type = "application/json".into();
        assert!(kind.verify(&key.public_key()).is_err());

        let mut sig = env.clone();
        let mut bytes = STANDARD.decode(&sig.signatures[0].sig).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x40;
        sig.signatures[0].sig = STANDARD.encode(bytes);
        assert!(sig.verify(&key.public_key()).is_err());

        let mut none = env.clone();
        none.signatures.clear();
        assert!(matches!(none.verify(&key.public_key()), Err(DsseError::Unsigned)));

        assert!(env.verify(&self::key().public_key()).is_err(), "another key");
    }

    #[test]
    fn url_safe_unpadded_base64_verifies_and_keyid_is_ignored() {
        let key = key();
        // Bytes that encode differently in the two alphabets (`+/` vs `-_`).
        let payload = [0xfb, 0xff, 0xbf, b'{', b'}'];
        let mut env = Envelope::sign(IN_TOTO_PAYLOAD, &payload, &key);
        let sig = STANDARD.decode(&env.signatures[0].sig).unwrap();
        env.payload = URL_SAFE_NO_PAD.encode(payload);
        assert!(env.payload.contains(['-', '_']));
        env.signatures[0] = Signature { keyid: "some other key".into(), sig: URL_SAFE_NO_PAD.encode(sig) };
        env.verify(&key.public_key()).unwrap();
        assert_eq!(env.payload_bytes().unwrap(), payload);
    }

    #[test]
    fn any_valid_signature_suffices() {
        let (a, b) = (key(), key());
        let mut env = Envelope::sign(IN_TOTO_PAYLOAD, b"x", &a);
        env.signatures.insert(0, Envelope::sign(IN_TOTO_PAYLOAD, b"x", &b).signatures.remove(0));
        env.signatures.insert(0, Signature { keyid: String::new(), sig: "not base64!".into() });
        env.verify(&a.public_key()).unwrap();
        env.verify(&b.public_key()).unwrap();
    }

    #[test]
    fn rejects_non_envelopes() {
        assert!(matches!(Envelope::from_json(b"{\"payload\":\"\"}"), Err(DsseError::Json(_))));
        let env = Envelope { payload_type: IN_TOTO_PAYLOAD.into(), payload: "***".into(), signatures: vec![] };
        assert!(matches!(env.payload_bytes(), Err(DsseError::PayloadEncoding)));
    }
}
