//! Declared licenses: an SPDX expression when they parse as one, else a
//! `LicenseRef-` carrying the text.

use super::*;

#[derive(Debug, PartialEq, Eq)]
pub(super) enum License {
    /// A valid SPDX expression, and the `LicenseRef-…` ids it uses.
    Expression(String, Vec<String>),
    /// Anything else, as declared.
    Text(String),
}

pub(super) fn classify_license(text: &str) -> License {
    let text = text.trim();
    // Deprecated ids (`GPL-2.0+`) are still valid SPDX 2.3 expressions.
    let mode = ::spdx::ParseMode { allow_deprecated: true, allow_postfix_plus_on_gpl: true, ..::spdx::ParseMode::STRICT };
    let Ok(expression) = ::spdx::Expression::parse_mode(text, mode) else {
        return License::Text(text.to_string());
    };
    let mut refs = Vec::new();
    for req in expression.requirements() {
        if let ::spdx::LicenseItem::Other(other) = &req.req.license {
            // A reference into another document cannot be resolved here.
            if other.doc_ref.is_some() {
                return License::Text(text.to_string());
            }
            refs.push(format!("LicenseRef-{}", other.lic_ref));
        }
    }
    refs.sort();
    refs.dedup();
    License::Expression(text.to_string(), refs)
}

/// The id a free-text license gets in SPDX: readable, and unique per text.
pub(super) fn license_ref_for_text(text: &str) -> String {
    let readable: String = sanitize(text).chars().take(40).collect();
    let readable = readable.trim_end_matches('-');
    format!("LicenseRef-{}{}{}", readable, if readable.is_empty() { "" } else { "-" }, &sha256_hex(text.as_bytes())[..8])
}
