//! The dhib language: syntax, evaluation into typed targets, diagnostics,
//! and canonical formatting. Pure: it reads only the texts it is given.

pub mod diag;
pub mod eval;
pub mod fmt;
pub mod label;
pub mod schema;
pub mod syntax;
pub mod value;
