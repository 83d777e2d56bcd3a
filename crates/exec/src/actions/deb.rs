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
            file_in(cx.store, made)?
        }
        None => {
            let filename = str_attr(&job.def, "filename").expect("analysis: a deb not built is pinned");
            let pin = str_attr(&job.def, "sha256").expect("analysis: a deb not built is pinned");
            let url = fetch::deb_url(str_attr(&job.def, "repo"), filename);
            (fetch::file_name(filename).to_string(), fetch::fetch(cx.store, cx.origins, &url, pin, cx.root)?)
        }
    };
    let control = deb::read_control(&cx.store.blob_path(&digest))?;
    if job.def.attrs.contains_key("built") {
        depends_are_pinned(job, &control)?;
    }
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

/// A built deb is installed with the `depends` the lock gave it (Debian's
/// build's): every dependency its own control file declares must be among
/// them, by name or by what they provide, at an admitted version, or an
/// image would lack what the rebuild needs.
fn depends_are_pinned(job: &Job<'_>, control: &deb::Control) -> Result<(), BuildError> {
    let pinned: Vec<deb::Control> =
        job.deps.iter().filter(|(roles, ..)| roles.contains(Role::Depends)).filter_map(|(_, _, r)| crate::facts::control(r)).collect();
    match unpinned(&pinned, control).map_err(|e| BuildError::Invalid(format!("{}: {e}", job.id)))? {
        None => Ok(()),
        Some(wanted) => Err(BuildError::Invalid(format!(
            "{}: the rebuilt {} depends on {wanted}, which Debian's build of it (whose dependencies the lock pins) does not; \
             lock against indexes of one suite and date, or drop the change that adds the dependency",
            job.id, control.package
        ))),
    }
}

/// The first relation group of `control`'s Pre-Depends and Depends that no
/// package of `pinned` satisfies.
fn unpinned(pinned: &[deb::Control], control: &deb::Control) -> Result<Option<String>, deb::RelationError> {
    let groups = deb::parse_relations(&format!("{}, {}", control.pre_depends, control.depends))?;
    let satisfies = |rel: &deb::Relation, c: &deb::Control| {
        let admits = |version: &str| rel.version.as_ref().is_none_or(|(op, wanted)| op.admits(version, wanted));
        (c.package == rel.name && admits(&c.version))
            || deb::parse_relations(&c.provides)
                .unwrap_or_default()
                .into_iter()
                .flatten()
                .any(|p| p.name == rel.name && (rel.version.is_none() || p.version.as_ref().is_some_and(|(_, v)| admits(v))))
    };
    Ok(groups
        .iter()
        .find(|group| !group.iter().any(|rel| pinned.iter().any(|c| satisfies(rel, c))))
        .map(|group| group.iter().map(ToString::to_string).collect::<Vec<_>>().join(" | ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn control(package: &str, version: &str, provides: &str, depends: &str) -> deb::Control {
        deb::Control {
            package: package.into(),
            version: version.into(),
            provides: provides.into(),
            depends: depends.into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_rebuild_needs_nothing_its_pinned_depends_lack() {
        let pinned = [control("libc6", "2.36-9+deb12u13", "", ""), control("mawk", "1.3.4", "awk", "")];
        let ok = control("libmd0", "1.0.4-2+dhib1", "", "libc6 (>= 2.33), awk, foo | mawk");
        assert_eq!(unpinned(&pinned, &ok).unwrap(), None);
        let newer = control("libmd0", "1.0.4-2+dhib1", "", "libc6 (>= 2.38)");
        assert_eq!(unpinned(&pinned, &newer).unwrap().as_deref(), Some("libc6 (>= 2.38)"));
        let added = control("libmd0", "1.0.4-2+dhib1", "", "libc6, libssl3 (>= 3.0.0) | libssl1.1");
        assert_eq!(unpinned(&pinned, &added).unwrap().as_deref(), Some("libssl3 (>= 3.0.0) | libssl1.1"));
        // `awk` is provided without a version, so a versioned relation on it is not met.
        let versioned = control("x", "1", "", "awk (>= 1)");
        assert!(unpinned(&pinned, &versioned).unwrap().is_some());
    }
}
