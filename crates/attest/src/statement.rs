//! in-toto Statement v1: what every attestation says, about which image.

use serde_json::{json, Value};

pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";

/// The predicate types dhib writes.
pub const SPDX: &str = "https://spdx.dev/Document/v2.3";
pub const CYCLONEDX: &str = "https://cyclonedx.org/bom/v1.6";
pub const SLSA_PROVENANCE: &str = "https://slsa.dev/provenance/v1";
pub const OPENVEX: &str = "https://openvex.dev/ns/v0.2.0";
/// A CTRF report as the predicate (CTRF defines no predicate type of its own).
pub const CTRF: &str = "https://ctrf.io/report/v1";

/// A statement about the image `name` whose manifest (or index) has the
/// sha256 `digest_hex`.
pub fn statement(name: &str, digest_hex: &str, predicate_type: &str, predicate: Value) -> Vec<u8> {
    let st = json!({
        "_type": STATEMENT_TYPE,
        "subject": [{"name": name, "digest": {"sha256": digest_hex}}],
        "predicateType": predicate_type,
        "predicate": predicate,
    });
    serde_json::to_vec(&st).expect("json serializes")
}

/// The subject digests and predicate type of a statement, for checking.
pub fn read(bytes: &[u8]) -> Result<(Vec<String>, String, Value), String> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    if v["_type"] != STATEMENT_TYPE {
        return Err(format!("`_type` is {}, not {STATEMENT_TYPE}", v["_type"]));
    }
    let subjects =
        v["subject"].as_array().ok_or("no subject")?.iter().filter_map(|s| s["digest"]["sha256"].as_str().map(str::to_string)).collect();
    let ty = v["predicateType"].as_str().ok_or("no predicateType")?.to_string();
    Ok((subjects, ty, v["predicate"].clone()))
}
