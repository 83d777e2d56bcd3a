//! Which components an image ships and which it was only built with: the
//! facts behind its VEX document, read from definitions alone (no builds),
//! so that analysis can key the document and execution can write it.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use dhib_lang::eval::TargetDef;
use dhib_lang::label::Label;
use dhib_lang::schema::Kind;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Components {
    /// Packages and debs in the image (its base's included).
    pub in_image: BTreeSet<Label>,
    /// Components used to build it, or shipped only in its dev variants, and
    /// not in it: each with where it is used instead.
    pub elsewhere: BTreeMap<Label, String>,
}

/// The components of `image`. `get` reads a definition; `all` lists every
/// target, grouped by directory in order (as `db::all_labels` lists them),
/// to find the image's dev variants.
pub fn components(get: &dyn Fn(&Label) -> Option<Arc<TargetDef>>, all: &[(Label, Kind)], image: &Label) -> Components {
    let mut out = Components { in_image: shipped(get, image), ..Default::default() };
    // Build environments and build dependencies of what is shipped, in one
    // walk, each component named after the first shipped package that
    // needed it.
    let mut queue: VecDeque<(Label, &Label)> = VecDeque::new();
    for label in &out.in_image {
        if let Some(def) = get(label) {
            queue.extend(def.refs.iter().filter(|r| r.attr == "env" || r.attr == "deps").map(|r| (r.label.clone(), label)));
        }
    }
    let mut seen = BTreeSet::new();
    while let Some((label, user)) = queue.pop_front() {
        if !seen.insert(label.clone()) {
            continue;
        }
        let Some(def) = get(&label) else { continue };
        queue.extend(def.refs.iter().filter(|r| BUILT_WITH.contains(&r.attr.as_str())).map(|r| (r.label.clone(), user)));
        if matches!(def.kind, Kind::Package | Kind::Deb) && !out.in_image.contains(&label) {
            out.elsewhere.entry(label).or_insert_with(|| format!("the build environment of {user}"));
        }
    }
    let Some(def) = get(image) else { return out };
    let base_name = def.variant_of.clone().unwrap_or_else(|| image.name.clone());
    // `all` is grouped by directory, in order: the image's own is one slice.
    let (from, to) = (all.partition_point(|(l, _)| l.pkg < image.pkg), all.partition_point(|(l, _)| l.pkg <= image.pkg));
    for (label, _) in all[from..to].iter().filter(|(_, k)| matches!(k, Kind::Image | Kind::Customization)) {
        let Some(variant) = get(label) else { continue };
        if label == image || !variant.dev || variant.variant_of.as_deref() != Some(base_name.as_str()) {
            continue;
        }
        for c in shipped(get, label) {
            if !out.in_image.contains(&c) {
                out.elsewhere.entry(c).or_insert_with(|| format!("the dev variant {label}"));
            }
        }
    }
    out
}

/// The attributes through which a build environment reaches components.
const BUILT_WITH: [&str; 5] = ["packages", "deps", "env", "depends", "runtime_deps"];

/// What an image or customization ships: its packages with the debs they
/// depend on, and its base's.
fn shipped(get: &dyn Fn(&Label) -> Option<Arc<TargetDef>>, image: &Label) -> BTreeSet<Label> {
    let mut out = BTreeSet::new();
    let mut current = Some(image.clone());
    let mut seen = BTreeSet::new();
    while let Some(label) = current.take() {
        if !seen.insert(label.clone()) {
            break;
        }
        let Some(def) = get(&label) else { break };
        let packages: Vec<Label> = def.refs.iter().filter(|r| r.attr == "packages").map(|r| crate::installed(get, &r.label)).collect();
        out.extend(closure(get, packages, &["depends", "runtime_deps"]));
        current = def.refs.iter().find(|r| r.attr == "base").map(|r| r.label.clone());
    }
    out
}

/// `start` and everything reachable from it through the attributes `via`,
/// each deb as the rebuild an image installs for it.
fn closure(get: &dyn Fn(&Label) -> Option<Arc<TargetDef>>, start: impl IntoIterator<Item = Label>, via: &[&str]) -> BTreeSet<Label> {
    let mut seen = BTreeSet::new();
    let mut queue: VecDeque<Label> = start.into_iter().collect();
    while let Some(label) = queue.pop_front() {
        if !seen.insert(label.clone()) {
            continue;
        }
        if let Some(def) = get(&label) {
            let next = def.refs.iter().filter(|r| via.contains(&r.attr.as_str()));
            queue.extend(next.map(|r| crate::installed(get, &r.label)));
        }
    }
    seen.retain(|l| get(l).is_some_and(|d| matches!(d.kind, Kind::Package | Kind::Deb)));
    seen
}
