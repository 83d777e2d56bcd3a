//! Upstream: monitors, updates and the upstream-diff guardrail.

pub mod guard;
pub mod monitor;
pub mod update;
