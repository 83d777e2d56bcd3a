//! The action of each node kind: what it reads from the store, what it
//! runs, and the outputs it records in the action cache under its key. One
//! file per kind; the shared types are in `crate::job`.

pub mod attest;
mod deb;
mod debian_build;
mod debian_source;
mod dpkg;
mod env;
mod image;
mod image_files;
mod index;
mod package;
pub(crate) mod patch;
mod source;
pub mod test;

use std::path::Path;

use crate::job::{BuildError, Context, Job};
use dhib_graph::Role;
use dhib_lang::schema::Kind;
use dhib_store::ActionResult;

pub fn run(cx: &Context<'_>, job: &Job<'_>, work: &Path) -> Result<ActionResult, BuildError> {
    match job.def.kind {
        Kind::Source => source::source(cx, job, work),
        Kind::Deb => deb::deb_file(cx, job, work),
        Kind::DebianSource => debian_source::debian_source(cx, job),
        Kind::DebianBuild => debian_build::debian_build(cx, job, work),
        Kind::Env => env::env(cx, job, work),
        Kind::Package => package::package(cx, job, work),
        Kind::Image if job.deps.iter().any(|(roles, ..)| roles.contains(Role::Platform)) => index::image_index(cx, job),
        _ if job.id.facet.is_some() => attest::attest(cx, job),
        Kind::Image | Kind::Customization => image::image(cx, job, work),
        Kind::Test => test::test(cx, job, work),
    }
}
