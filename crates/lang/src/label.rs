//! Labels (`//pkgs/zlib:zlib`) and target patterns (`//pkgs/...`).

use std::fmt;

use serde::{Serialize, Serializer};

/// A target's name: its package (directory relative to the workspace root)
/// and its name inside that package.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label {
    pub pkg: String,
    pub name: String,
}

impl Label {
    pub fn new(pkg: impl Into<String>, name: impl Into<String>) -> Self {
        Label { pkg: pkg.into(), name: name.into() }
    }

    /// Resolves `:name`, `//pkg:name` or `//pkg` (short for `//pkg:<last dir>`)
    /// relative to the package `current`.
    pub fn parse(text: &str, current: &str) -> Result<Label, String> {
        if let Some(name) = text.strip_prefix(':') {
            check_name(name)?;
            return Ok(Label::new(current, name));
        }
        let rest = text.strip_prefix("//").ok_or_else(|| format!("`{text}` is not a label: labels start with `//` or `:`"))?;
        let (pkg, name) = match rest.split_once(':') {
            Some((pkg, name)) => (pkg, name.to_string()),
            None => {
                let last = rest.rsplit('/').next().unwrap_or_default();
                if last.is_empty() {
                    return Err(format!("`{text}` names no target: write `//dir:name`"));
                }
                (rest, last.to_string())
            }
        };
        check_pkg(pkg)?;
        check_name(&name)?;
        Ok(Label::new(pkg, name))
    }
}

fn check_pkg(pkg: &str) -> Result<(), String> {
    if pkg.is_empty() {
        return Ok(());
    }
    for seg in pkg.split('/') {
        if seg.is_empty() || seg == "." || seg == ".." {
            return Err(format!("`//{pkg}` is not a valid package path"));
        }
    }
    Ok(())
}

fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || "_-.+".contains(c)) && name != "." && name != "..";
    if ok {
        Ok(())
    } else {
        Err(format!("`{name}` is not a valid target name (letters, digits, `_ - . +`)"))
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "//{}:{}", self.pkg, self.name)
    }
}

impl Serialize for Label {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// `//...`, `//dir/...`, or a single label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pattern {
    /// Every target in `pkg` and below it (`""` is the whole workspace).
    Recursive(String),
    /// Every target in exactly `pkg` (`//dir:all`).
    Package(String),
    Exact(Label),
}

impl Pattern {
    pub fn parse(text: &str) -> Result<Pattern, String> {
        if text == "//..." {
            return Ok(Pattern::Recursive(String::new()));
        }
        if let Some(pkg) = text.strip_prefix("//").and_then(|r| r.strip_suffix("/...")) {
            check_pkg(pkg)?;
            return Ok(Pattern::Recursive(pkg.to_string()));
        }
        if let Some(pkg) = text.strip_prefix("//").and_then(|r| r.strip_suffix(":all")) {
            check_pkg(pkg)?;
            return Ok(Pattern::Package(pkg.to_string()));
        }
        Label::parse(text, "").map(Pattern::Exact)
    }

    pub fn matches(&self, label: &Label) -> bool {
        match self {
            Pattern::Recursive(pkg) => {
                pkg.is_empty() || label.pkg == *pkg || (label.pkg.starts_with(pkg.as_str()) && label.pkg.as_bytes()[pkg.len()] == b'/')
            }
            Pattern::Package(pkg) => label.pkg == *pkg,
            Pattern::Exact(l) => l == label,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_relative_absolute_and_short_labels() {
        assert_eq!(Label::parse(":zlib", "pkgs/zlib").unwrap(), Label::new("pkgs/zlib", "zlib"));
        assert_eq!(Label::parse("//pkgs/zlib:dev", "x").unwrap(), Label::new("pkgs/zlib", "dev"));
        assert_eq!(Label::parse("//pkgs/zlib", "x").unwrap(), Label::new("pkgs/zlib", "zlib"));
        assert_eq!(Label::parse("//:top", "x").unwrap(), Label::new("", "top"));
        assert!(Label::parse("//", "x").is_err());
        assert!(Label::parse("//a/../b:c", "x").is_err());
        assert!(Label::parse("zlib", "x").is_err());
    }

    #[test]
    fn recursive_patterns_match_whole_path_segments() {
        let p = Pattern::parse("//pkgs/...").unwrap();
        assert!(p.matches(&Label::new("pkgs", "a")));
        assert!(p.matches(&Label::new("pkgs/zlib", "a")));
        assert!(!p.matches(&Label::new("pkgsx/zlib", "a")));
        assert!(Pattern::parse("//...").unwrap().matches(&Label::new("", "a")));
        assert!(Pattern::parse("//pkgs:all").unwrap().matches(&Label::new("pkgs", "z")));
    }
}
