//! Where a block's literal values are in the text of its file, so a tool
//! can rewrite just those bytes (`dhib upstream update` moves a `version`
//! and a `sha256` and leaves every comment and layout as written).

use crate::schema::Kind;
use crate::syntax::{Entry, ExprKind, Item};
use dhib_core::diag::Span;

/// Where a block's literal `url`, `version` and `sha256` are in its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiteralValues {
    /// `url` as written (a literal string), `{version}` uninterpolated.
    pub url: Option<String>,
    /// The spans of the literal `version` and `sha256` values, quotes included.
    pub version: Option<Span>,
    pub sha256: Option<Span>,
}

/// The block `source "name"` of a file, or why it cannot be found.
pub fn source_block(file: &str, text: &str, name: &str) -> Result<LiteralValues, String> {
    literal_values(file, text, Kind::Source, name)
}

/// The literal `url`, `version` and `sha256` of the block `KIND "name"`.
pub fn literal_values(file: &str, text: &str, kind: Kind, name: &str) -> Result<LiteralValues, String> {
    let parsed = crate::syntax::parse(file, text).map_err(|d| d.message)?;
    let block = parsed
        .items
        .iter()
        .find_map(|item| match item {
            Item::Block(b) if b.kind.name == kind.name() && b.name.value == name => Some(b),
            _ => None,
        })
        .ok_or_else(|| format!("{file} has no `{} \"{name}\"` block (is it made by a template?)", kind.name()))?;
    let literal = |attr: &str| {
        block.body.entries.iter().find_map(|e| match e {
            Entry::Attr(a) if a.name.name == attr && !a.append => Some(&a.value),
            _ => None,
        })
    };
    let literal_span = |attr: &str| literal(attr).filter(|v| matches!(v.kind, ExprKind::Str(..))).map(|v| v.span);
    Ok(LiteralValues {
        url: literal("url").and_then(|v| if let ExprKind::Str(s, _) = &v.kind { Some(s.clone()) } else { None }),
        version: literal_span("version"),
        sha256: literal_span("sha256"),
    })
}
