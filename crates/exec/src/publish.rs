//! `dhib publish`: which images of `dhib-out/` go where. The transfer
//! itself is `dhib_oci::registry`'s.

use std::collections::HashMap;
use std::path::Path;

use dhib_core::diag::Diag;
use dhib_graph::NodeId;
use dhib_lang::label::Pattern;
use dhib_oci::registry::{valid_repository, valid_tag, Image, Registry};

use crate::out::OutIndex;

/// The images under `out` (written by `dhib build`, named by
/// `out/index.json`) that match `patterns`. `//dir/sub:name` goes to the
/// repository `NAMESPACE/dir/sub` with the tag `name`, or `tag` when given.
pub fn select(out: &Path, patterns: &[String], registry: &Registry, tag: Option<&str>) -> Result<Vec<Image>, Diag> {
    let index = OutIndex::read(out)?.ok_or_else(|| {
        Diag::plain("E0702", format!("cannot read {}: no images were written there", OutIndex::path(out).display()))
            .with_help("build the images first: dhib build PATTERN")
    })?;
    let parsed: Vec<Pattern> = patterns
        .iter()
        .map(|p| {
            Pattern::parse(p).map_err(|why| {
                Diag::plain("E0411", format!("`{p}` is not a target pattern: {why}")).with_help("write //dir:name, //dir/... or //...")
            })
        })
        .collect::<Result<_, _>>()?;
    let mut images = Vec::new();
    let mut matched = vec![false; parsed.len()];
    for (node, entry) in &index.images {
        let Ok(id) = NodeId::parse(node) else {
            continue;
        };
        let hits: Vec<usize> = (0..parsed.len()).filter(|&i| parsed[i].matches(&id.label)).collect();
        if hits.is_empty() {
            continue;
        }
        hits.iter().for_each(|&i| matched[i] = true);
        let (layout, manifest) = (&entry.layout, entry.manifest);
        let repository =
            [registry.namespace.as_str(), id.label.pkg.as_str()].iter().filter(|s| !s.is_empty()).copied().collect::<Vec<_>>().join("/");
        if repository.is_empty() {
            return Err(Diag::plain("E0701", format!("{node} is at the workspace root, so it needs a namespace to go to"))
                .with_help(format!("name one: --registry {}/NAMESPACE", registry.host)));
        }
        if !valid_repository(&repository) {
            return Err(Diag::plain("E0701", format!("`{repository}` (for {node}) is not a valid repository name"))
                .with_help("repository names are lowercase letters, digits and separators; rename the directory"));
        }
        let tag = tag.unwrap_or(&id.label.name).to_string();
        if !valid_tag(&tag) {
            return Err(Diag::plain("E0701", format!("`{tag}` (for {node}) is not a valid tag"))
                .with_help("a tag is up to 128 letters, digits, `_`, `.` and `-`, not starting with `.` or `-`; choose one with --tag"));
        }
        images.push(Image { node: node.clone(), layout: out.join(layout), manifest, repository, tag });
    }
    if let Some(i) = matched.iter().position(|m| !m) {
        return Err(Diag::plain("E0702", format!("no built image matches `{}`", patterns[i]))
            .with_help(format!("build it first: dhib build {}", patterns[i])));
    }
    let mut seen = HashMap::new();
    for img in &images {
        if let Some(other) = seen.insert((img.repository.clone(), img.tag.clone()), img.node.clone()) {
            return Err(Diag::plain("E0701", format!("{other} and {} would both be pushed as {}:{}", img.node, img.repository, img.tag))
                .with_help("publish them separately, or without --tag"));
        }
    }
    Ok(images)
}
