//! `dhib publish`: the images of `dhib-out/` that match, pushed.

use std::path::PathBuf;

use dhib_oci::registry::{Counts, Pushed, Registry};

use crate::{Failure, Workspace};

pub struct Options {
    pub patterns: Vec<String>,
    /// `HOST[:PORT]/NAMESPACE`.
    pub registry: String,
    pub insecure: bool,
    pub tag: Option<String>,
    pub out: Option<PathBuf>,
}

/// Pushes every matching image, reporting each through `on_pushed`; returns
/// the registry and what was transferred.
pub fn publish(ws: &Workspace, opts: &Options, on_pushed: &dyn Fn(&Pushed)) -> Result<(Registry, Counts), Failure> {
    let target = Registry::parse(&opts.registry, opts.insecure)?;
    let images = dhib_exec::publish::select(&ws.out_dir(opts.out.clone()), &opts.patterns, &target, opts.tag.as_deref())?;
    let counts = dhib_oci::registry::publish(&target, &images, on_pushed)?;
    Ok((target, counts))
}
