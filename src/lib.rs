//! dhib: a declarative, content-addressed build system for hardened container
//! images. The engine is a workspace of crates along the data flow
//! (`dhib-lang` → `dhib-graph` → `dhib-analysis` → `dhib-exec`, with
//! `dhib-store`, `dhib-oci` and `dhib-attest` beneath execution and
//! `dhib-upstream` above it, and `dhib-scan` for scans and comparisons); this crate is the `dhib` binary and re-exports
//! them under one name for the integration tests and benchmarks.

pub use dhib_analysis as analysis;
pub use dhib_attest as attest;
pub use dhib_exec as exec;
pub use dhib_graph as graph;
pub use dhib_graph::db;
pub use dhib_lang as lang;
pub use dhib_oci as oci;
pub use dhib_scan as scan;
pub use dhib_store as store;
pub use dhib_upstream as upstream;
