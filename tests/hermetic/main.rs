//! Tests that need nothing but the dhib binary and this checkout: no
//! sandbox, network, registry or validators. One binary, so CI links once.

#[path = "../common/mod.rs"]
mod common;

mod architecture;
mod cli;
mod deb;
mod debian_source;
mod diagnostics;
mod docs;
mod errors;
mod fuzz_parser;
mod incremental;
mod keys;
mod scan;
