//! Upstream: monitors, updates and the upstream-diff guardrail.

pub mod monitor;
pub mod update;
