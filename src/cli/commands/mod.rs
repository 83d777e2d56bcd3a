//! One module per command: its arguments (and `--help`), one call into
//! `dhib-commands`, and how its value is printed.

pub mod affected;
pub mod build;
pub mod check;
pub mod compare;
pub mod explain;
pub mod fetch;
pub mod fmt;
pub mod graph;
pub mod guard;
pub mod key;
pub mod keygen;
pub mod lock;
pub mod log;
pub mod ls;
pub mod publish;
pub mod query;
pub mod run;
pub mod scan;
pub mod store;
pub mod test;
pub mod upstream;
pub mod verify;
