//! A Debian source package: each of its pinned files (the `.dsc`, the
//! upstream tarball, the Debian tarball) fetched and checked, stored as one
//! tree of files by name.

use std::fs;

use crate::fetch;
use crate::job::*;
use dhib_lang::value::Value;
use dhib_store::{ActionResult, Entry, Tree};

pub(crate) fn debian_source(cx: &Context<'_>, job: &Job<'_>) -> Result<ActionResult, BuildError> {
    let Some(Value::Map(files)) = job.def.attrs.get("files") else {
        return Err(BuildError::Invalid(format!("{} names no files", job.id)));
    };
    let repo = str_attr(&job.def, "repo");
    let mut tree = Tree::new();
    for (path, pin) in files {
        let pin = pin.as_str().ok_or_else(|| BuildError::Invalid(format!("{}: {path} has no sha256", job.id)))?;
        let digest = fetch::fetch(cx.store, cx.origins, &fetch::deb_url(repo, path), pin, cx.root)?;
        let size = fs::metadata(cx.store.blob_path(&digest)).map(|m| m.len()).unwrap_or(0);
        tree.insert(fetch::file_name(path).to_string(), Entry::File { digest, size, executable: false });
    }
    if !tree.keys().any(|name| name.ends_with(".dsc")) {
        return Err(BuildError::Invalid(format!("{} has no .dsc among its files", job.id)));
    }
    let mut r = ActionResult::default();
    r.outputs.insert("files".into(), cx.store.put_manifest(&tree)?);
    crate::facts::set_build_profiles(&mut r, &str_list(&job.def, "profiles"));
    Ok(r)
}
