//! End-to-end tests against real components the test scripts install:
//! bubblewrap, a registry on 127.0.0.1, git, openssl, skopeo, umoci and the
//! independent validators, and Debian's archive for real packages. One
//! binary, so CI links once; `tests/examples.rs`, the whole example
//! catalog built from source, stays apart.

#[path = "../common/mod.rs"]
mod common;

mod affected;
mod archive;
mod attest;
mod attest_documents;
mod build;
mod fetch;
mod guard;
mod hostile;
mod https;
mod images;
mod keys_sign;
mod publish;
mod sandbox;
mod upstream;
