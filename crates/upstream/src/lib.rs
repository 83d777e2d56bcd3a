//! Upstream: monitors, updates and the upstream-diff guardrail.

// A `Diag` is returned once per failure, never on a hot path.
#![allow(clippy::result_large_err)]

pub mod guard;
pub mod monitor;
pub mod update;
