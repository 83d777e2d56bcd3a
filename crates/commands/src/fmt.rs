//! `dhib fmt`: every `.dhi` file of the workspace (or the files named) in
//! the canonical layout.

use std::path::PathBuf;
use std::sync::Arc;

use dhib_core::diag::Diag;

use crate::failure::Texts;
use crate::{Failure, Workspace};

/// Finds the files not in the canonical layout and, unless `check`,
/// rewrites them; `on_file` hears of each (after it is written), by the
/// name it was given. Returns how many there were.
pub fn fmt(ws: &Workspace, check: bool, files: Vec<PathBuf>, on_file: &dyn Fn(&str)) -> Result<usize, Failure> {
    let paths: Vec<(String, PathBuf)> = if files.is_empty() {
        let exclude = ws.config().map(|c| c.workspace.exclude.clone()).unwrap_or_default();
        dhib_analysis::discover(&ws.root, &exclude)?.into_iter().map(|(rel, _)| (rel.clone(), ws.root.join(rel))).collect()
    } else {
        files.into_iter().map(|f| (f.display().to_string(), f)).collect()
    };
    let mut unformatted = Vec::new();
    let mut diags = Vec::new();
    let mut texts = Vec::new();
    for (name, path) in &paths {
        let text = std::fs::read_to_string(path).map_err(|e| Diag::plain("E0005", format!("cannot read {}: {e}", path.display())))?;
        match dhib_lang::fmt::format(name, &text) {
            Ok(formatted) if formatted != text => unformatted.push((name.clone(), path.clone(), formatted)),
            Ok(_) => {}
            Err(d) => diags.push(d),
        }
        texts.push((name.clone(), Arc::<str>::from(text)));
    }
    if !diags.is_empty() {
        return Err(Failure::new(diags, &Texts(texts)));
    }
    for (name, path, formatted) in &unformatted {
        if !check {
            dhib_exec::rewrite::write_atomically(path, formatted)
                .map_err(|e| Diag::plain("E0007", format!("cannot write {}: {e}", path.display())))?;
        }
        on_file(name);
    }
    Ok(unformatted.len())
}
