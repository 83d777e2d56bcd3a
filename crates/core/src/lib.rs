//! What every layer of dhib shares: diagnostics (`diag`) and the error codes
//! they carry (`codes`), the two content addresses (`Key` of a node,
//! `Digest` of a blob), and the few text encodings documents need (hex,
//! UUIDs, RFC 3339 times).
//!
//! # Architecture invariant
//! This crate depends on no other dhib crate and does no I/O: it is plain
//! data and pure functions, so every other crate may use it.

// A `Diag` is returned once per failure, never on a hot path; boxing it
// everywhere would only add noise.
#![allow(clippy::result_large_err)]

pub mod codes;
pub mod diag;
mod digest;
mod text;

pub use digest::{Digest, Key};
pub use text::{hex, parse_rfc3339, rfc3339, uuid};
