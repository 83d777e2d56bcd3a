//! The Debian repositories this machine's apt is configured with: what
//! `mirror://debian/` stands for when the workspace names no repository.
//! Reading apt's source lists (rather than naming a mirror in the
//! workspace) keeps host names out of the catalog and lets each site use the
//! mirror its machines already trust.

use std::path::Path;

/// The base URIs of the enabled `deb`/`deb-src` entries under `etc` (apt's
/// `sources.list` first, then `sources.list.d/` by file name), each once,
/// in the order apt reads them.
pub fn repositories(etc: &Path) -> Vec<String> {
    let mut files = vec![etc.join("sources.list")];
    if let Ok(dir) = std::fs::read_dir(etc.join("sources.list.d")) {
        let mut parts: Vec<_> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
        parts.sort();
        files.extend(parts);
    }
    let mut uris: Vec<String> = Vec::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else { continue };
        let found = match file.extension().and_then(|e| e.to_str()) {
            Some("sources") => deb822_uris(&text),
            Some("list") => one_line_uris(&text),
            _ => continue,
        };
        for uri in found {
            let uri = uri.trim_end_matches('/').to_string();
            if !uris.contains(&uri) {
                uris.push(uri);
            }
        }
    }
    uris
}

/// `deb [options] URI suite components` lines.
fn one_line_uris(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let line = line.split('#').next().unwrap_or("").trim();
            let rest = line.strip_prefix("deb-src").or_else(|| line.strip_prefix("deb"))?;
            let rest = rest.strip_prefix(|c: char| c.is_whitespace())?.trim_start();
            // Options are one bracketed group: `[arch=amd64 signed-by=...]`.
            let rest = match rest.strip_prefix('[') {
                Some(opts) => opts.split_once(']')?.1.trim_start(),
                None => rest,
            };
            rest.split_whitespace().next().map(str::to_string)
        })
        .collect()
}

/// deb822 stanzas (`Types:`, `URIs:`, `Enabled:`), as in `*.sources`.
fn deb822_uris(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for stanza in text.split("\n\n") {
        let mut fields: Vec<(String, String)> = Vec::new();
        for line in stanza.lines().filter(|l| !l.trim_start().starts_with('#')) {
            match line.strip_prefix([' ', '\t']) {
                Some(more) => {
                    if let Some((_, v)) = fields.last_mut() {
                        v.push(' ');
                        v.push_str(more.trim());
                    }
                }
                None => {
                    if let Some((k, v)) = line.split_once(':') {
                        fields.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                    }
                }
            }
        }
        let get = |k: &str| fields.iter().find(|(f, _)| f == k).map(|(_, v)| v.as_str());
        let enabled = get("enabled").is_none_or(|v| !v.eq_ignore_ascii_case("no"));
        let debian = get("types").is_some_and(|t| t.split_whitespace().any(|t| t == "deb" || t == "deb-src"));
        if enabled && debian {
            out.extend(get("uris").unwrap_or("").split_whitespace().map(str::to_string));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_formats_in_apts_order_and_skips_disabled_entries() {
        let etc = tempfile::tempdir().unwrap();
        std::fs::write(
            etc.path().join("sources.list"),
            "# a comment\ndeb [arch=amd64 signed-by=/k.gpg] http://one.test/debian bookworm main\n\
             deb-src http://one.test/debian bookworm main\ndeb http://two.test/debian/ bookworm main # trailing\n",
        )
        .unwrap();
        std::fs::create_dir(etc.path().join("sources.list.d")).unwrap();
        std::fs::write(
            etc.path().join("sources.list.d/b.sources"),
            "Types: deb\nURIs: http://three.test/debian\n  http://four.test/debian\nSuites: bookworm\n\n\
             Types: deb\nEnabled: no\nURIs: http://off.test/debian\n\nTypes: rpm\nURIs: http://rpm.test/\n",
        )
        .unwrap();
        std::fs::write(etc.path().join("sources.list.d/a.list"), "deb http://zero.test/debian bookworm main\n").unwrap();
        std::fs::write(etc.path().join("sources.list.d/c.list.save"), "deb http://backup.test/debian bookworm main\n").unwrap();
        assert_eq!(
            repositories(etc.path()),
            [
                "http://one.test/debian",
                "http://two.test/debian",
                "http://zero.test/debian",
                "http://three.test/debian",
                "http://four.test/debian"
            ]
        );
    }
}
