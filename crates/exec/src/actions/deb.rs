//! A deb: the pinned file fetched and its control file read; the result
//! carries its dependency closure's inputs.

use std::collections::BTreeMap;
use std::fs::{self};
use std::path::Path;

use super::env::collect_debs;
use crate::job::*;
use crate::{deb, fetch};
use dhib_store::ActionResult;

pub(crate) fn deb_file(cx: &Context<'_>, job: &Job<'_>, work: &Path) -> Result<ActionResult, BuildError> {
    let filename = str_attr(&job.def, "filename").expect("schema: debs have a filename");
    let pin = str_attr(&job.def, "sha256").expect("schema: debs have a sha256");
    let url = fetch::deb_url(str_attr(&job.def, "repo"), filename);
    let digest = fetch::fetch(cx.store, cx.origins, &url, pin, cx.root)?;
    let control = deb::read_control(&cx.store.blob_path(&digest))?;
    let size = fs::metadata(cx.store.blob_path(&digest)).map(|m| m.len()).unwrap_or(0);
    let name = filename.rsplit('/').next().unwrap_or("package.deb").to_string();
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
    for (_, _, dep) in &job.deps {
        collect_debs(cx.store, dep, &mut closure)?;
    }
    crate::facts::set_closure(&mut r, &closure);
    Ok(r)
}
