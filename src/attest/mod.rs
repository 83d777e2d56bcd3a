//! Attestations: SBOMs, provenance, VEX, test reports, and their signing
//! and verification. Everything here works on documents and keys, not on
//! the store: `exec::attest` gathers the facts, `exec::write_images` signs.

pub mod checks;
pub mod cosign;
pub mod ctrf;
pub mod dsse;
pub mod keys;
pub mod provenance;
pub mod sbom;
pub mod statement;
pub mod verify;
pub mod vex;
