//! Execution: fetching sources, extracting archives, importing Debian
//! packages, sandboxed build steps and the scheduler. This is where files,
//! processes and the network live; analysis never calls into it.

pub mod archive;
pub mod deb;
pub mod sandbox;
