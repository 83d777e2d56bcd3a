//! Upstream: monitors, updates and the upstream-diff guardrail.
//!
//! # Architecture invariant
//! Upstream changes the workspace only by rewriting the byte spans of a
//! block's literal `version` and `sha256` (`lang::edit`), and only after the
//! guardrail has vetted the new archive; its records reach provenance,
//! never a key.

// A `Diag` is returned once per failure, never on a hot path.
#![allow(clippy::result_large_err)]

pub mod guard;
pub mod monitor;
pub mod update;
