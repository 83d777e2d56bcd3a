//! Attestations: SBOMs, provenance, VEX, test reports, and their signing and verification.

pub mod sbom;
pub mod vex;
