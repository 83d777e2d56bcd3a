//! A source: its archive fetched and checked, and, when it has patches,
//! extracted and patched into a tree.

use std::fs::{self};
use std::path::Path;

use super::patch;
use crate::job::*;
use crate::{archive, fetch};
use dhib_store::ActionResult;

pub(crate) fn source(cx: &Context<'_>, job: &Job<'_>, work: &Path) -> Result<ActionResult, BuildError> {
    let url = str_attr(&job.def, "url").expect("schema: sources have a url");
    let pin = str_attr(&job.def, "sha256").expect("schema: sources have a sha256");
    let (digest, name) = match str_attr(&job.def, "rev") {
        Some(rev) if url.starts_with("git+") => {
            let repo = url.trim_end_matches('/').rsplit('/').next().unwrap_or("source").trim_end_matches(".git");
            (fetch::fetch_git(cx.store, url, rev, pin, cx.root)?, format!("{repo}-{rev}.tar"))
        }
        _ => (fetch::fetch(cx.store, cx.origins, url, pin, cx.root)?, fetch::file_name(url).to_string()),
    };
    let strip_prefix = str_attr(&job.def, "strip_prefix").map(str::to_string);
    let mut patches = Vec::new();
    if let Some(v) = job.def.attrs.get("patches") {
        v.files(&mut patches);
    }
    // A patched source is its extracted tree with the patches applied, made
    // before anything of this node is stored, so a patch that does not apply
    // leaves no result behind. Unpatched sources stay archives, extracted by
    // each package that builds from them.
    let patched = if patches.is_empty() {
        None
    } else {
        let tree = work.join("tree");
        let opts = archive::ExtractOptions { strip_prefix: strip_prefix.clone(), ..Default::default() };
        archive::extract(&cx.store.blob_path(&digest), &tree, &opts)?;
        for p in patches {
            let text = keyed_file(cx, &p.file)?;
            patch::apply(&tree, &text).map_err(|error| BuildError::Patch {
                source_label: job.id.to_string(),
                patch: p.file.clone(),
                error,
            })?;
        }
        Some(tree)
    };
    let size = fs::metadata(cx.store.blob_path(&digest)).map(|m| m.len()).unwrap_or(0);
    let mut r = single_file(cx.store, &name, digest, size)?;
    match patched {
        Some(tree) => {
            r.outputs.insert("tree".into(), cx.store.put_tree(&tree)?);
        }
        None => {
            if let Some(prefix) = strip_prefix {
                crate::facts::set_strip_prefix(&mut r, prefix);
            }
        }
    }
    Ok(r)
}

pub(crate) fn source_strip_prefix(r: &ActionResult) -> Option<String> {
    crate::facts::strip_prefix(r)
}
