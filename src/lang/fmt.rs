//! Canonical formatting of `.dhi` files (`dhib fmt`).
use super::diag::Diag;
pub fn format(path: &str, text: &str) -> Result<String, Diag> {
    super::syntax::parse(path, text)?;
    Ok(text.to_string())
}
