//! Rules over the text of one changed file: each looks at the added lines
//! of a change next to the lines they replaced.

use std::collections::HashSet;
use std::sync::LazyLock;

use regex::Regex;

use super::supply::{is_autotools_output, is_build_script};
use super::{Confidence, Finding, Severity};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lang {
    C,
    Shell,
    Python,
    Go,
    Rust,
    Other,
}

fn lang(file: &str, text: &str) -> Lang {
    let name = file.rsplit('/').next().unwrap_or(file);
    let ext = name.rsplit_once('.').map_or("", |(_, e)| e);
    match ext {
        "c" | "h" | "cc" | "cpp" | "cxx" | "hpp" | "hh" | "hxx" => return Lang::C,
        "sh" | "bash" | "m4" | "ac" | "am" | "mk" => return Lang::Shell,
        "py" => return Lang::Python,
        "go" => return Lang::Go,
        "rs" => return Lang::Rust,
        _ => {}
    }
    if name.starts_with("configure") || name.starts_with("Makefile") || name == "GNUmakefile" {
        return Lang::Shell;
    }
    let shebang = text.lines().next().filter(|l| l.starts_with("#!")).unwrap_or("");
    if shebang.contains("python") {
        Lang::Python
    } else if ["/sh", "bash", "dash", "ksh", "zsh"].iter().any(|s| shebang.contains(s)) {
        Lang::Shell
    } else {
        Lang::Other
    }
}

/// One run of removed and added lines between unchanged ones.
struct Change<'a> {
    removed: Vec<&'a str>,
    /// With their 1-based line numbers in NEW.
    added: Vec<(usize, &'a str)>,
}

/// What every rule sees of the file.
struct Ctx<'a> {
    file: &'a str,
    lang: Lang,
    /// Lines of NEW, for rules that look back into the enclosing function.
    new_lines: Vec<&'a str>,
    /// OLD's lines with whitespace collapsed: an added line already there
    /// was moved or re-indented, not written.
    old_lines: HashSet<String>,
}

impl Ctx<'_> {
    fn finding(
        &self,
        rule: &'static str,
        severity: Severity,
        confidence: Confidence,
        lines: (usize, usize),
        explanation: String,
    ) -> Finding {
        Finding { rule, severity, confidence, file: self.file.to_string(), lines, explanation }
    }

    fn is_new(&self, line: &str) -> bool {
        !self.old_lines.contains(&collapse(line))
    }

    fn is_comment(&self, line: &str) -> bool {
        let t = line.trim_start();
        match self.lang {
            Lang::C | Lang::Go | Lang::Rust => t.starts_with("//") || t.starts_with("/*") || t.starts_with('*'),
            Lang::Shell | Lang::Python | Lang::Other => t.starts_with('#') || t.starts_with("dnl"),
        }
    }
}

fn collapse(line: &str) -> String {
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Runs the rules of the file's language on every change from `old` to
/// `new` (`old` is empty for an added file).
pub(super) fn check(file: &str, old: &str, new: &str, out: &mut Vec<Finding>) {
    let lang = lang(file, new);
    let build = is_build_script(file);
    if lang == Lang::Other && !build {
        return;
    }
    let ctx = Ctx { file, lang, new_lines: new.lines().collect(), old_lines: old.lines().map(collapse).collect() };
    let old_set: HashSet<&str> = old.lines().collect();
    let patch;
    let all = if new.lines().filter(|l| !old_set.contains(l)).nth(REWRITE_LINES).is_some() {
        vec![rewrite(old, new)]
    } else {
        patch = diffy::create_patch(old, new);
        changes(&patch)
    };
    for change in all {
        match lang {
            Lang::C => {
                inverted_check(&ctx, &change, "c.inverted-error-check", out);
                dropped_return_check(&ctx, &change, out);
                resource_leak(&ctx, &change, out);
                ifunc(&ctx, &change, out);
            }
            Lang::Shell => {
                shell(&ctx, &change, out);
            }
            Lang::Python => python(&ctx, &change, out),
            Lang::Go => {
                inverted_check(&ctx, &change, "go.inverted-error-check", out);
                go_discarded(&ctx, &change, out);
            }
            Lang::Rust => {
                inverted_check(&ctx, &change, "rust.inverted-check", out);
                rust_discarded(&ctx, &change, out);
            }
            Lang::Other => {}
        }
        if lang == Lang::Shell || build {
            hardening(&ctx, &change, out);
        }
    }
}

/// Lines of NEW that OLD lacks beyond which a file counts as rewritten:
/// diffing costs time proportional to the size times the edit distance.
const REWRITE_LINES: usize = 2000;

/// A rewritten file as one change: OLD's lines that NEW lacks against NEW's
/// lines that OLD lacks.
fn rewrite<'a>(old: &'a str, new: &'a str) -> Change<'a> {
    let (old_set, new_set): (HashSet<&str>, HashSet<&str>) = (old.lines().collect(), new.lines().collect());
    Change {
        removed: old.lines().filter(|l| !new_set.contains(l)).collect(),
        added: new.lines().enumerate().filter(|(_, l)| !old_set.contains(l)).map(|(i, l)| (i + 1, l)).collect(),
    }
}

fn changes<'a>(patch: &'a diffy::Patch<'_, str>) -> Vec<Change<'a>> {
    let mut all = Vec::new();
    for hunk in patch.hunks() {
        let mut line = hunk.new_range().start();
        let mut current = Change { removed: Vec::new(), added: Vec::new() };
        for l in hunk.lines() {
            match l {
                diffy::Line::Delete(t) => current.removed.push(t.trim_end_matches('\n')),
                diffy::Line::Insert(t) => {
                    current.added.push((line, t.trim_end_matches('\n')));
                    line += 1;
                }
                diffy::Line::Context(_) => {
                    line += 1;
                    if !current.removed.is_empty() || !current.added.is_empty() {
                        all.push(std::mem::replace(&mut current, Change { removed: Vec::new(), added: Vec::new() }));
                    }
                }
            }
        }
        if !current.removed.is_empty() || !current.added.is_empty() {
            all.push(current);
        }
    }
    all
}

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("rule patterns are valid")
}

static CONDITION: LazyLock<Regex> = LazyLock::new(|| re(r"\b(if|while|assert)\b|\?\s*$"));

/// A condition that tests the opposite of what it replaced, with the code
/// around it untouched: `if (ret < 0)` → `if (ret >= 0)`, `if (!p)` →
/// `if (p)`, `err != nil` → `err == nil`, `is_ok()` → `is_err()`. Larger
/// rewrites (an if/else swapped with its bodies) are not judged.
fn inverted_check(ctx: &Ctx, change: &Change, rule: &'static str, out: &mut Vec<Finding>) {
    // What remains of two conditions once their common ends are cut off:
    // `==` against `!=` leaves `=` against `!`, `is_some` against `is_none`
    // leaves `som` against `non`.
    const OPPOSITES: [(&str, &str); 7] =
        [("<", ">="), (">", "<="), ("!", "="), ("!", ""), ("ok", "err"), ("som", "non"), ("true", "false")];
    if change.removed.len() > 3 || change.added.len() > 3 {
        return;
    }
    for &(n, added) in &change.added {
        if !CONDITION.is_match(added) || ctx.is_comment(added) {
            continue;
        }
        let a: String = added.split_whitespace().collect();
        for removed in &change.removed {
            let r: String = removed.split_whitespace().collect();
            let prefix = a.bytes().zip(r.bytes()).take_while(|(x, y)| x == y).count();
            let suffix = a[prefix..].bytes().rev().zip(r[prefix..].bytes().rev()).take_while(|(x, y)| x == y).count();
            let (am, rm) = (&a.as_bytes()[prefix..a.len() - suffix], &r.as_bytes()[prefix..r.len() - suffix]);
            let opposite = |x: &str, y: &str| (am, rm) == (x.as_bytes(), y.as_bytes());
            if a != r && OPPOSITES.iter().any(|&(x, y)| opposite(x, y) || opposite(y, x)) {
                let lone = change.removed.len() == 1 && change.added.len() == 1;
                let confidence = if lone { Confidence::High } else { Confidence::Medium };
                let why = format!(
                    "the condition `{}` became `{}` while the code it guards stayed: the error path now runs on success and the success path on error",
                    removed.trim(),
                    added.trim()
                );
                out.push(ctx.finding(rule, Severity::High, confidence, (n, n), why));
                return;
            }
        }
    }
}

static CHECKED_CALL: LazyLock<Regex> = LazyLock::new(|| re(r"\bif\s*\(\s*!?\s*\(?\s*(?:\w+\s*=\s*)?([A-Za-z_]\w*)\s*\("));
static BARE_CALL: LazyLock<Regex> = LazyLock::new(|| re(r"^\s*(?:\(void\)\s*)?([A-Za-z_]\w*)\s*\(.*\)\s*;\s*$"));

/// `if (f(x) < 0) goto fail;` replaced by a bare `f(x);`: the failure of
/// `f` now goes unnoticed.
fn dropped_return_check(ctx: &Ctx, change: &Change, out: &mut Vec<Finding>) {
    let checked: Vec<&str> = change.removed.iter().filter_map(|r| CHECKED_CALL.captures(r)).map(|c| c.get(1).unwrap().as_str()).collect();
    for &(n, added) in &change.added {
        let Some(call) = BARE_CALL.captures(added).map(|c| c.get(1).unwrap().as_str()) else { continue };
        if checked.contains(&call) && !["if", "while", "for", "switch", "return", "sizeof"].contains(&call) {
            let why = format!("the result of `{call}(...)` was checked before and is now ignored: its failure goes unnoticed");
            out.push(ctx.finding("c.dropped-return-check", Severity::High, Confidence::High, (n, n), why));
        }
    }
}

static ACQUIRE: LazyLock<Regex> = LazyLock::new(|| {
    re(r"\b([A-Za-z_]\w*)\s*=\s*(?:\([^)]*\)\s*)?(malloc|calloc|realloc|strdup|strndup|fopen|fdopen|open|opendir|socket)\s*\(")
});
static RETURN: LazyLock<Regex> = LazyLock::new(|| re(r"^\s*(?:if\s*\(.*\)\s*)?return\b\s*([^;]*);"));

/// A new `return` after a `malloc`/`fopen`/`open` in the same function,
/// with no `free`/`fclose`/`close` of it on the way: the new path leaks.
/// Approximate, by indentation: a function starts at the last line opening
/// a brace in column 0, and a release counts if it is at the level of the
/// acquisition or in the block of the return.
fn resource_leak(ctx: &Ctx, change: &Change, out: &mut Vec<Finding>) {
    let indent = |l: &str| l.len() - l.trim_start().len();
    for &(n, added) in &change.added {
        let Some(ret) = RETURN.captures(added) else { continue };
        let returned = ret.get(1).unwrap().as_str();
        let before = &ctx.new_lines[..n - 1];
        let start = before.iter().rposition(|l| l.starts_with('{')).unwrap_or(0);
        let guard = [added, before.last().copied().unwrap_or("")];
        for (i, line) in before.iter().enumerate().skip(start) {
            let Some(acq) = ACQUIRE.captures(line) else { continue };
            let (var, how) = (acq.get(1).unwrap().as_str(), acq.get(2).unwrap().as_str());
            let mentions = re(&format!(r"\b{var}\b"));
            // Returned to the caller, or the return is the check of `var` itself.
            if guard.iter().any(|l| mentions.is_match(l)) || mentions.is_match(returned) {
                continue;
            }
            let release = re(&format!(r"\b(free|fclose|close|closedir|\w+_free)\s*\(\s*{var}\s*\)"));
            let rest = &before[i + 1..];
            let released = rest.iter().enumerate().any(|(j, l)| {
                let level = indent(l);
                release.is_match(l)
                    && (level <= indent(line)
                        || (level <= indent(added) && rest[j..].iter().all(|m| m.trim().is_empty() || indent(m) >= level)))
            });
            if !released {
                let why = format!("a new return path leaves `{var}` (from `{how}` on line {}) without releasing it", i + 1);
                out.push(ctx.finding("c.resource-leak", Severity::Medium, Confidence::Medium, (n, n), why));
            }
        }
    }
}

/// GNU indirect functions run resolvers during relocation, before main and
/// before RELRO protects the GOT: the xz-utils 2024 backdoor hooked in there.
fn ifunc(ctx: &Ctx, change: &Change, out: &mut Vec<Finding>) {
    static IFUNC: LazyLock<Regex> =
        LazyLock::new(|| re(r"__attribute__\s*\(\(\s*(__)?ifunc(__)?\b|\.type\s+\w+\s*,\s*[@%]gnu_indirect_function"));
    for &(n, added) in &change.added {
        if IFUNC.is_match(added) && !ctx.is_comment(added) && ctx.is_new(added) {
            let why =
                "a new GNU indirect function: its resolver runs inside the dynamic loader before RELRO, where it can rewrite other symbols"
                    .to_string();
            out.push(ctx.finding("c.ifunc-added", Severity::Medium, Confidence::Medium, (n, n), why));
        }
    }
}

/// Shell lines joined across `\` continuations, each with its first line.
fn logical_lines(added: &[(usize, &str)]) -> Vec<(usize, usize, String)> {
    let mut joined: Vec<(usize, usize, String)> = Vec::new();
    for &(n, text) in added {
        match joined.last_mut() {
            Some((_, end, acc)) if acc.ends_with('\\') && *end + 1 == n => {
                acc.pop();
                acc.push(' ');
                acc.push_str(text.trim());
                *end = n;
            }
            _ => joined.push((n, n, text.to_string())),
        }
    }
    joined
}

/// A line as quoted in an explanation: trimmed, and cut after 100 characters.
fn excerpt(line: &str) -> String {
    let line = line.trim();
    match line.char_indices().nth(100) {
        Some((cut, _)) => format!("{}...", &line[..cut]),
        None => line.to_string(),
    }
}

static DECODER: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?x)
        \bbase(64|32)\s+(-\w*d|--decode) | \bxxd\s+(-\w+\s+)*-r | \bopenssl\s+(enc|base64)\b.*\s-d\b | \buudecode\b
        | \btr\s+(-\w+\s+)?['\x22]?[\\\w\[\]:-]+['\x22]?\s+['\x22]?[\\\w\[\]:-]+
        | \b(xz|lzma|gzip|bzip2|zstd)\s+(-\w*d\w*|--decompress) | \b(xzcat|unxz|unlzma|zcat|gunzip|bzcat|zstdcat)\b
        | \b(head|tail)\s+-c | \bdd\b.*\b(skip|count)=")
});
static EXEC_SINK: LazyLock<Regex> = LazyLock::new(|| {
    re(r#"\|\s*((/usr)?/bin/)?(ba|da|k|z)?sh\b|\|\s*(eval|source)\b|\|\s*\.\s|\beval\s+["']?(\$\(|`)|\b(ba)?sh\s+-c\s+["']?(\$\(|`)"#)
});
static EVAL_SUBST: LazyLock<Regex> = LazyLock::new(|| re(r#"\beval\s+["']?(\$\(|`)"#));
static SUPPRESS: LazyLock<Regex> = LazyLock::new(|| re(r"\|\|\s*(true|:)\s*(;|\)|$|&&|\|)|^\s*set\s+\+e\b"));
/// Commands whose failure is routinely ignored: cleanup and probes.
static BENIGN_FAILURE: LazyLock<Regex> = LazyLock::new(|| {
    re(r"^\s*(-?@?\s*)?(\$\((RM|RMDIR)\)|rm|rmdir|unlink|kill|pkill|killall|grep|test|\[|which|command\s+-v|type|diff|cmp|mkdir\s+-p|ln)\b")
});

fn shell(ctx: &Ctx, change: &Change, out: &mut Vec<Finding>) {
    // Generated scripts (configure, Makefile.in, ltmain.sh) change wholesale
    // with the autotools version and are full of `|| :` and `eval`: only
    // payloads are worth reporting there.
    let generated = is_autotools_output(ctx.file);
    for (first, last, line) in logical_lines(&change.added) {
        if ctx.is_comment(&line) || !ctx.is_new(&line) {
            continue;
        }
        if DECODER.is_match(&line) && EXEC_SINK.is_match(&line) {
            let why = format!(
                "`{}` decodes or unpacks data at build time and runs the result as shell code: a hidden payload executes during the build",
                excerpt(&line)
            );
            out.push(ctx.finding("sh.encoded-payload", Severity::High, Confidence::High, (first, last), why));
        } else if EVAL_SUBST.is_match(&line) && !generated {
            let why = format!(
                "`{}` evaluates the output of a command substitution as shell code: whatever that command prints runs in the build",
                excerpt(&line)
            );
            out.push(ctx.finding("sh.eval-substitution", Severity::Medium, Confidence::Medium, (first, last), why));
        }
        if SUPPRESS.is_match(&line) && !BENIGN_FAILURE.is_match(&line) && !generated {
            let why = format!("`{}` now ignores a failure that stopped the build before", excerpt(&line));
            out.push(ctx.finding("sh.error-suppressed", Severity::Medium, Confidence::High, (first, last), why));
        }
    }
}

static HARDENING_OFF: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?x)
        -fno-stack-protector\b | -U_?FORTIFY_SOURCE\b | -D_FORTIFY_SOURCE=0\b | -z\s*,?\s*execstack\b | -no-pie\b
        | -z\s*,?\s*norelro\b | -fno-(PIE|pie|PIC|pic)\b | -fno-stack-clash-protection\b | -fcf-protection=none\b")
});
static FORTIFY_REDEFINED: LazyLock<Regex> = LazyLock::new(|| re(r"-U_?FORTIFY_SOURCE\b.*-D_FORTIFY_SOURCE=[1-9]"));
static SANDBOX_OFF: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?x)
        --disable-(sandbox|landlock|seccomp|capsicum|pledge)\b
        | \b([Ee]nable|ENABLE|[Uu]se|USE|[Hh]ave|HAVE)_?([Ss]andbox|SANDBOX|[Ll]andlock|LANDLOCK|[Ss]eccomp|SECCOMP)\w*
          \s*[=:]?\s*['\x22]?(0|OFF|[Oo]ff|NO|[Nn]o|FALSE|[Ff]alse)\b")
});
static OPTION_HELP: LazyLock<Regex> =
    LazyLock::new(|| re(r"AS_HELP_STRING|AC_HELP_STRING|AC_ARG_ENABLE|\boption\s*\(|add_argument|--help"));

/// Build files that turn off compiler hardening or the program's sandbox.
fn hardening(ctx: &Ctx, change: &Change, out: &mut Vec<Finding>) {
    for (first, last, line) in logical_lines(&change.added) {
        if ctx.is_comment(&line) || !ctx.is_new(&line) {
            continue;
        }
        if let Some(flag) = HARDENING_OFF.find(&line).filter(|_| !FORTIFY_REDEFINED.is_match(&line)) {
            let why = format!("adds `{}`, which turns off a hardening the distribution builds with", flag.as_str());
            out.push(ctx.finding("build.hardening-disabled", Severity::High, Confidence::High, (first, last), why));
        }
        if let Some(m) = SANDBOX_OFF.find(&line).filter(|_| !OPTION_HELP.is_match(&line)) {
            let why = format!("`{}` disables the program's sandbox (landlock, seccomp, ...)", m.as_str().trim());
            out.push(ctx.finding("build.sandbox-disabled", Severity::High, Confidence::High, (first, last), why));
        }
    }
}

static EXCEPT_ALL: LazyLock<Regex> =
    LazyLock::new(|| re(r"^\s*except\s*(\(?\s*(Base)?Exception\s*\)?(\s+as\s+\w+)?)?\s*:\s*(pass|\.\.\.)?\s*(#.*)?$"));
static PASS: LazyLock<Regex> = LazyLock::new(|| re(r"^\s*(pass|\.\.\.)\s*(#.*)?$"));
static CALL_UNCHECKED: LazyLock<Regex> = LazyLock::new(|| re(r"\bcheck\s*=\s*False\b|\bsubprocess\.(call|Popen)\s*\("));
static CALL_CHECKED: LazyLock<Regex> = LazyLock::new(|| re(r"\bcheck\s*=\s*True\b|\bsubprocess\.check_(call|output)\s*\("));

fn python(ctx: &Ctx, change: &Change, out: &mut Vec<Finding>) {
    let added = &change.added;
    for (i, &(n, line)) in added.iter().enumerate() {
        let Some(except) = EXCEPT_ALL.captures(line) else { continue };
        let pass_here = except.get(4).is_some();
        let pass_next = added.get(i + 1).is_some_and(|&(m, next)| m == n + 1 && PASS.is_match(next));
        if pass_here || pass_next {
            let end = if pass_here { n } else { n + 1 };
            let why = "a new handler catches every exception and does nothing: errors (and failed checks) pass silently".to_string();
            out.push(ctx.finding("py.swallowed-exception", Severity::Medium, Confidence::High, (n, end), why));
        }
    }
    if change.removed.iter().any(|r| CALL_CHECKED.is_match(r)) {
        for &(n, _) in added.iter().filter(|(_, l)| CALL_UNCHECKED.is_match(l)) {
            let why = "a subprocess call that raised on failure no longer does: a failing command is now ignored".to_string();
            out.push(ctx.finding("py.subprocess-unchecked", Severity::High, Confidence::High, (n, n), why));
        }
    }
}

static GO_DISCARD: LazyLock<Regex> = LazyLock::new(|| re(r"^\s*_\s*(,\s*_\s*)*=\s*([\w.]+)\s*\("));

/// `_ = f(x)` where the error of `f` was checked before.
fn go_discarded(ctx: &Ctx, change: &Change, out: &mut Vec<Finding>) {
    for &(n, line) in &change.added {
        let Some(call) = GO_DISCARD.captures(line).map(|c| c.get(2).unwrap().as_str()) else { continue };
        let assigned_err = re(&format!(r"\berr\s*:?=\s*{}\s*\(", regex::escape(call)));
        if change.removed.iter().any(|r| assigned_err.is_match(r)) {
            let why = format!("the error returned by `{call}` was checked before and is now discarded with `_`");
            out.push(ctx.finding("go.error-discarded", Severity::High, Confidence::High, (n, n), why));
        }
    }
}

static RUST_DISCARD: LazyLock<Regex> = LazyLock::new(|| re(r"^\s*(?:let\s+_\s*=\s*)?([\w:.]+?)\s*\(.*?(\.ok\(\))?\s*;\s*$"));

/// `let _ = f(x);` or `f(x).ok();` where `f(x)?`, `.unwrap()` or
/// `.expect(..)` stood before.
fn rust_discarded(ctx: &Ctx, change: &Change, out: &mut Vec<Finding>) {
    for &(n, line) in &change.added {
        let trimmed = line.trim_start();
        let Some(c) = RUST_DISCARD.captures(line) else { continue };
        if !trimmed.starts_with("let _") && c.get(2).is_none() {
            continue;
        }
        let call = c.get(1).unwrap().as_str();
        let propagated = re(&format!(r"{}\s*\(.*(\)\?|\.unwrap\(\)|\.expect\()", regex::escape(call)));
        if change.removed.iter().any(|r| propagated.is_match(r)) {
            let why = format!("the error of `{call}` was propagated or fatal before and is now discarded");
            out.push(ctx.finding("rust.error-discarded", Severity::High, Confidence::High, (n, n), why));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rules found when `file` goes from `old` to `new`.
    fn rules(file: &str, old: &str, new: &str) -> Vec<&'static str> {
        let mut out = Vec::new();
        check(file, old, new, &mut out);
        out.iter().map(|f| f.rule).collect()
    }

    #[test]
    fn inversions_of_a_condition_are_found_and_other_edits_are_not() {
        let c = |old: &str, new: &str| {
            rules("a.c", &format!("int f(void)\n{{\n{old}\n\t\treturn -1;\n}}\n"), &format!("int f(void)\n{{\n{new}\n\t\treturn -1;\n}}\n"))
        };
        for (old, new) in [
            ("\tif (p == NULL)", "\tif (p != NULL)"),
            ("\tif (!p)", "\tif (p)"),
            ("\tif (rc != 0)", "\tif (rc == 0)"),
            ("\tif (n <= 0)", "\tif (n > 0)"),
            ("\twhile (read(fd, b, 1) < 0)", "\twhile (read(fd, b, 1) >= 0)"),
        ] {
            assert_eq!(c(old, new), ["c.inverted-error-check"], "{old} -> {new}");
        }
        for (old, new) in [
            ("\tif (ret < 0)", "\tif (ret < -1)"),
            ("\tif (ret < 0)", "\tif (ret > 0)"),
            ("\tif (ret < 0) // bad", "\tif (ret < 0) // failed"),
        ] {
            assert!(c(old, new).is_empty(), "{old} -> {new}");
        }
        assert_eq!(rules("m.go", "\tif err != nil {\n", "\tif err == nil {\n"), ["go.inverted-error-check"]);
        assert_eq!(rules("m.rs", "    if v.is_some() {\n", "    if v.is_none() {\n"), ["rust.inverted-check"]);
    }

    #[test]
    fn dropped_checks_of_assignments_in_conditions_are_found() {
        let old = "\tif ((r = setuid(uid)) != 0)\n\t\tabort();\n";
        assert_eq!(rules("a.c", old, "\tsetuid(uid);\n"), ["c.dropped-return-check"]);
        assert_eq!(rules("a.c", old, "\t(void)setuid(uid);\n"), ["c.dropped-return-check"]);
        assert!(rules("a.c", old, "\tr = setuid(uid);\n\tif (r != 0)\n\t\tabort();\n").is_empty());
    }

    #[test]
    fn payloads_piped_into_a_shell_are_found_however_decoded() {
        for line in [
            "xz -dc tests/files/data.xz | bash",
            "\ttail -c +1024 $(srcdir)/tests/blob.bin | sh",
            "eval \"$(echo cHJpbnRm | base64 --decode)\"",
            "cat x | tr 'A-Za-z' 'N-ZA-Mn-za-m' | sh",
            "openssl enc -d -aes-256-cbc -in f.enc -k k | /bin/sh",
            "xxd -r -p payload.hex | \\\n  source /dev/stdin",
        ] {
            assert_eq!(rules("build.sh", "#!/bin/sh\n", &format!("#!/bin/sh\n{line}\n")), ["sh.encoded-payload"], "{line}");
        }
        for line in ["xz -dc data.xz > data", "# base64 -d < x | sh would be wrong", "tr a-z A-Z < in > out"] {
            assert!(rules("build.sh", "#!/bin/sh\n", &format!("#!/bin/sh\n{line}\n")).is_empty(), "{line}");
        }
    }

    #[test]
    fn rewritten_files_are_judged_without_a_diff_and_generated_ones_only_for_payloads() {
        let lines = |seed: &str| (0..REWRITE_LINES + 10).map(|i| format!("ac_{seed}_{i}=$ac_{i} || true\n")).collect::<String>();
        let new = format!("{}cat x.b64 | base64 -d | sh\n", lines("new"));
        let found = rules("build.sh", &lines("old"), &new);
        assert_eq!(found.iter().filter(|r| **r == "sh.error-suppressed").count(), REWRITE_LINES + 10);
        assert!(found.contains(&"sh.encoded-payload"));
        assert_eq!(rules("configure", &lines("old"), &new), ["sh.encoded-payload"]);
    }

    #[test]
    fn hardening_flags_are_found_in_build_files_only() {
        for flags in ["-Wl,-z,execstack", "-no-pie", "-D_FORTIFY_SOURCE=0", "-Wl,-z,norelro", "-fno-PIE"] {
            assert_eq!(rules("CMakeLists.txt", "", &format!("set(CMAKE_C_FLAGS \"{flags}\")\n")), ["build.hardening-disabled"], "{flags}");
        }
        assert!(rules("CMakeLists.txt", "", "set(CMAKE_C_FLAGS \"-Wl,-z,noexecstack -fPIE\")\n").is_empty());
        assert!(rules("docs/hardening.txt", "", "never build with -fno-stack-protector\n").is_empty());
    }
}
