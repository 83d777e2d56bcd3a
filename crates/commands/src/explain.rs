//! `dhib explain`: what an error code means and what to do about it.

use dhib_core::codes::{self, Code};
use dhib_core::diag::Diag;

use crate::Failure;

/// The registry entry of `code` (`E0201`, `e0201` or `0201`).
pub fn explain(code: &str) -> Result<&'static Code, Failure> {
    codes::lookup(code).ok_or_else(|| {
        Diag::plain("E0008", format!("`{code}` is not an error code of dhib"))
            .with_help("codes look like E0201; `dhib explain` lists them all")
            .into()
    })
}

/// Every code, sorted.
pub fn all() -> &'static [Code] {
    codes::CODES
}

/// The registry as docs/errors.md holds it.
pub fn markdown() -> String {
    let mut out = String::from(
        "# Error codes\n\nEvery diagnostic dhib prints carries a code. `dhib explain CODE` prints its entry;\n\
         this page is that registry (`crates/core/src/codes/list.rs`), written by `dhib explain --markdown`.\n",
    );
    for c in codes::CODES {
        out.push_str(&format!("\n## {}: {}\n\n{}\n", c.code, c.title, c.explanation.trim_end()));
    }
    out
}
