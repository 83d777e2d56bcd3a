//! A deb: the pinned file fetched and its control file read; the result
//! carries its dependency closure's inputs.

use std::collections::BTreeMap;
use std::fs::{self};
use std::path::Path;

use super::env::collect_debs;
use crate::job::*;
use crate::{deb, fetch};
use dhib_graph::Role;
use dhib_lang::value::Value;
use dhib_store::ActionResult;

pub(crate) fn deb_file(cx: &Context<'_>, job: &Job<'_>, work: &Path) -> Result<ActionResult, BuildError> {
    let (name, digest) = match job.def.attrs.get("package").and_then(Value::as_str) {
        // One of the binary packages a `debian_build` made.
        Some(package) => {
            let (_, id, build) = job
                .deps
                .iter()
                .find(|(roles, ..)| roles.contains(Role::Built))
                .ok_or_else(|| BuildError::Invalid(format!("{} names no build", job.id)))?;
            let made = build.outputs.get(package).ok_or_else(|| {
                let all: Vec<&str> = build.outputs.keys().map(String::as_str).collect();
                BuildError::Invalid(format!("{id} made no binary package {package}; it made {}", all.join(", ")))
            })?;
            match cx.store.get_tree(made)?.into_iter().next() {
                Some((name, dhib_store::Entry::File { digest, .. })) => (name, digest),
                _ => return Err(BuildError::Invalid(format!("{id}: the output {package} is empty"))),
            }
        }
        None => {
            let filename = str_attr(&job.def, "filename").expect("analysis: a deb not built is pinned");
            let pin = str_attr(&job.def, "sha256").expect("analysis: a deb not built is pinned");
            let url = fetch::deb_url(str_attr(&job.def, "repo"), filename);
            (fetch::file_name(filename).to_string(), fetch::fetch(cx.store, cx.origins, &url, pin, cx.root)?)
        }
    };
    let control = deb::read_control(&cx.store.blob_path(&digest))?;
    let size = fs::metadata(cx.store.blob_path(&digest)).map(|m| m.len()).unwrap_or(0);
    let mut r = single_file(cx.store, &name, digest, size)?;
    crate::facts::set_control(&mut r, &control);
    // The license, for SBOMs: as declared in the target, else from the
    // package's own machine-readable copyright file.
    let license = match str_attr(&job.def, "license") {
        Some(l) => Some(l.to_string()),
        None => {
            let scratch = work.join("license");
            std::fs::create_dir_all(&scratch).map_err(io(scratch.display()))?;
            deb::unpack(&cx.store.blob_path(&digest), &scratch)?;
            deb::copyright_license(&scratch, &control.package)
        }
    };
    if let Some(l) = license {
        crate::facts::set_license(&mut r, l);
    }
    let mut closure = BTreeMap::from([(name, digest)]);
    for (_, _, dep) in job.deps.iter().filter(|(roles, ..)| !roles.contains(Role::Built)) {
        collect_debs(cx.store, dep, &mut closure)?;
    }
    crate::facts::set_closure(&mut r, &closure);
    Ok(r)
}
