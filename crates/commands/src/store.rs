//! `dhib clean` and `dhib gc`: the store's housekeeping.

use dhib_core::diag::Diag;
use dhib_store::GcReport;

use crate::{Failure, Workspace};

pub fn clean(ws: &Workspace) -> Result<(), Failure> {
    ws.store()?.clean().map_err(|e| Diag::plain("E0502", e.to_string()).into())
}

/// Collects the store down to `max_bytes`.
pub fn gc(ws: &Workspace, max_bytes: u64) -> Result<GcReport, Failure> {
    ws.store()?.gc(max_bytes).map_err(|e| Diag::plain("E0502", e.to_string()).into())
}

/// `500M`, `20G`, `1T` or a plain number of bytes.
pub fn parse_size(text: &str) -> Result<u64, Diag> {
    let bad = || Diag::plain("E0503", format!("`{text}` is not a size")).with_help("write a size like 500M, 20G or 1T");
    let t = text.trim();
    let (num, mult) = match t.chars().last().ok_or_else(bad)?.to_ascii_uppercase() {
        'K' => (&t[..t.len() - 1], 1u64 << 10),
        'M' => (&t[..t.len() - 1], 1 << 20),
        'G' => (&t[..t.len() - 1], 1 << 30),
        'T' => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    num.trim().parse::<u64>().ok().and_then(|n| n.checked_mul(mult)).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes() {
        assert_eq!(super::parse_size("20G").unwrap(), 20 << 30);
        assert_eq!(super::parse_size(" 500m").unwrap(), 500 << 20);
        assert_eq!(super::parse_size("1024").unwrap(), 1024);
        assert!(super::parse_size("G").is_err() && super::parse_size("").is_err() && super::parse_size("99999999999T").is_err());
    }
}
