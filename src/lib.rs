//! dhib: a declarative, content-addressed build system for hardened container
//! images. Data flows `lang` → `graph` (through the salsa `db`) → later stages;
//! `analysis` is the driver that feeds files from disk into that pipeline.

pub mod analysis;
pub mod db;
pub mod exec;
pub mod graph;
pub mod lang;
pub mod store;
