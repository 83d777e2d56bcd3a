//! The dhib language: syntax, evaluation into typed targets, diagnostics,
//! and canonical formatting.
//!
//! # Architecture invariant
//! Pure: it reads only the texts it is given, never the file system, the
//! environment or the clock. Its one dhib dependency is `dhib-core`.

// A `Diag` is returned once per failure, never on a hot path.
#![allow(clippy::result_large_err)]

/// Diagnostics are `dhib-core`'s; the language is where most are made.
pub use dhib_core::diag;

pub mod edit;
pub mod eval;
pub mod fmt;
pub mod label;
pub mod schema;
pub mod syntax;
pub mod value;
