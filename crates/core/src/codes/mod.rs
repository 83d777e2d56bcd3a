//! Every error code dhib reports, with what it means and what to do: the
//! registry `dhib explain CODE` prints and docs/errors.md is made from.
//! A code is added here when it is first used (a test checks that every
//! code in the sources is listed).

/// One error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code {
    pub code: &'static str,
    /// What went wrong, in a few words (no final period), e.g. "unknown attribute".
    pub title: &'static str,
    /// What causes it and how to fix it: two to five plain sentences, may
    /// include a short example of the right .dhi or command on its own line.
    pub explanation: &'static str,
}

mod list;

pub use list::CODES;

/// The entry for `code` (`E0201`, or `e0201`, or `0201`).
pub fn lookup(code: &str) -> Option<&'static Code> {
    let code = code.trim();
    let digits = code.strip_prefix('E').or_else(|| code.strip_prefix('e')).unwrap_or(code);
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    CODES.binary_search_by(|c| c.code[1..].cmp(digits)).ok().map(|i| &CODES[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_sorted_without_duplicates() {
        for pair in CODES.windows(2) {
            assert!(pair[0].code < pair[1].code, "{} is listed before {}: out of order, or twice", pair[0].code, pair[1].code);
        }
    }

    #[test]
    fn entries_are_well_formed() {
        for c in CODES {
            let digits = c.code.strip_prefix('E').unwrap_or_default();
            assert!(digits.len() == 4 && digits.bytes().all(|b| b.is_ascii_digit()), "{}: not E and four digits", c.code);
            assert!(!c.title.is_empty() && !c.title.ends_with('.'), "{}: a title has no final period", c.code);
            assert!(!c.explanation.is_empty(), "{}: no explanation", c.code);
        }
    }

    #[test]
    fn lookup_accepts_three_spellings() {
        for spelling in ["E0201", "e0201", "0201"] {
            assert_eq!(lookup(spelling).map(|c| c.code), Some("E0201"), "{spelling}");
        }
        assert_eq!(lookup("E0001").map(|c| c.code), Some("E0001"));
        assert_eq!(lookup("E0953").map(|c| c.code), Some("E0953"));
        for bad in ["E9999", "E201", "E02010", "X0201", ""] {
            assert_eq!(lookup(bad), None, "{bad}");
        }
    }
}
