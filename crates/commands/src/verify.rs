//! `dhib verify`: what the reference names (an image of this workspace, a
//! layout directory, or an image in a registry), and every check of it.

use std::path::{Path, PathBuf};

use dhib_core::diag::Diag;
use dhib_exec::verify::Check;
use dhib_graph::NodeId;

use crate::{keys, Failure, Loaded, Workspace};

pub struct Options {
    /// A label, an OCI layout directory, or a registry reference.
    pub reference: String,
    pub key: Option<PathBuf>,
    /// Speak plain http to the reference's registry.
    pub insecure: bool,
    pub out: Option<PathBuf>,
}

/// What a reference names.
pub(crate) enum Subject {
    /// An image `dhib build` wrote: checked against the graph too.
    Label(NodeId),
    Layout(PathBuf),
    /// A document, such as an SBOM.
    File(PathBuf),
    Registry,
}

pub(crate) fn subject(reference: &str) -> Result<Subject, Diag> {
    let path = Path::new(reference);
    Ok(if reference.starts_with("//") || reference.starts_with(':') {
        Subject::Label(NodeId::parse(reference).map_err(|m| Diag::plain("E0411", m))?)
    } else if path.is_dir() {
        Subject::Layout(path.to_path_buf())
    } else if path.is_file() {
        Subject::File(path.to_path_buf())
    } else {
        Subject::Registry
    })
}

/// The image `reference` names in a registry, with its signature and
/// attestations, into a new layout at `dest`; `insecure` speaks plain http
/// to its host.
pub(crate) fn pull_signed(reference: &str, insecure: bool, dest: &Path) -> Result<(), Diag> {
    let host = reference.split('/').next().unwrap_or_default().to_string();
    let hosts = if insecure { vec![host] } else { Vec::new() };
    dhib_oci::registry::pull_signed_layout(reference, &hosts, dest).map(|_| ())
}

/// Every check of the image `opts.reference` names; `loaded` is needed
/// (and used) only for a label.
pub fn verify(ws: &Workspace, loaded: impl FnOnce() -> Result<Loaded, Failure>, opts: &Options) -> Result<Vec<Check>, Failure> {
    let subject = subject(&opts.reference)?;
    if let Subject::File(path) = &subject {
        return Err(Diag::plain("E1005", format!("{} is a file, not an image", path.display()))
            .with_help("dhib verify checks an image: name its label, its layout directory or its registry reference")
            .into());
    }
    let public = keys::public_key(ws, opts.key.clone())?;
    let scratch = tempfile::tempdir().map_err(|e| Diag::plain("E0513", e.to_string()))?;
    let (layout, expected) = match subject {
        Subject::Label(id) => {
            let loaded = loaded()?;
            let layout = dhib_exec::out::written_layout(&ws.out_dir(opts.out.clone()), &id.to_string())?;
            (layout, dhib_exec::verify::expected(&loaded.analysis, &loaded.analyzed, &ws.store()?, &id))
        }
        Subject::Layout(dir) => (dir, None),
        Subject::File(_) => unreachable!("refused above"),
        Subject::Registry => {
            pull_signed(&opts.reference, opts.insecure, scratch.path())?;
            (scratch.path().to_path_buf(), None)
        }
    };
    let documents = Some(dhib_exec::out::attestations_dir(&layout)).filter(|d| d.is_dir());
    Ok(dhib_exec::verify::verify(&layout, &public, expected.as_ref(), documents.as_deref()))
}
