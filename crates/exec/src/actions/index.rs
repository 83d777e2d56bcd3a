//! A multi-platform image: the index over its per-platform manifests.

use std::collections::BTreeMap;
use std::fs::{self};

use super::image::image_annotations;
use crate::job::*;
use dhib_lang::value::Value;
use dhib_store::ActionResult;

/// A multi-platform image: an index over the manifests its per-platform
/// nodes built, in one layout.
pub(crate) fn image_index(cx: &Context<'_>, job: &Job<'_>) -> Result<ActionResult, BuildError> {
    use dhib_oci;
    let mut manifests = Vec::new();
    for (_, id, r) in &job.deps {
        let m = crate::facts::manifest(r).ok_or_else(|| BuildError::Invalid(format!("{id} built no image")))?;
        let size = fs::metadata(cx.store.blob_path(&m)).map(|md| md.len()).map_err(io(id))?;
        manifests.push((m, size, id.platform.clone().unwrap_or_default()));
    }
    // In the order the image lists its platforms.
    let declared: Vec<&str> = match job.def.attrs.get("platforms") {
        Some(Value::List(ps)) => ps.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    manifests.sort_by_key(|(_, _, p)| declared.iter().position(|d| d == p));
    let (index, size) = dhib_oci::store_index(cx.store, &manifests, &image_annotations(job, cx.source_date_epoch))?;
    let layout = dhib_oci::layout_tree(cx.store, &index, size, "latest")?;
    let mut r = ActionResult { outputs: BTreeMap::from([("oci".to_string(), cx.store.put_manifest(&layout)?)]), ..Default::default() };
    crate::facts::set_manifest(&mut r, &index);
    Ok(r)
}
