//! Values checked against the schema's types.

use super::*;

impl Evaluator<'_> {
    pub(super) fn check_type(&mut self, file: &str, span: Span, ty: &Ty, v: &Value, attr: &str) -> Ev<()> {
        if let Some(problem) = type_problem(ty, v) {
            let mut d = Diag::error(file, span, "E0250", format!("`{attr}` expects {ty}, found {problem}"))
                .with_label(format!("this is {problem}"));
            if let (Ty::List(_), Value::Str(s)) = (ty, v) {
                d = d.with_help(format!("wrap it in a list: [\"{s}\"]"));
            } else if let (Ty::Str, Value::List(items)) = (ty, v) {
                if let [Value::Str(s)] = items.as_slice() {
                    d = d.with_help(format!("write the string without brackets: \"{s}\""));
                }
            } else if let (Ty::Str, Value::Int(i)) = (ty, v) {
                d = d.with_help(format!("quote it: \"{i}\""));
            } else if let (Ty::Label(_) | Ty::Base, Value::Str(s)) = (ty, v) {
                d = d.with_help(format!("labels are not quoted: write `:{s}` or `//dir:{s}`"));
            } else if let Ty::Sha256 = ty {
                d = d.with_help("write the lowercase hex sha256, e.g. the first field of `sha256sum FILE`");
            } else if let Ty::Date = ty {
                d = d.with_help("write the day as \"YYYY-MM-DD\", e.g. \"2027-06-30\"");
            } else if let Ty::Cpe = ty {
                d = d.with_help("write it as NVD names the product, e.g. \"cpe:2.3:a:zlib:zlib:{version}:*:*:*:*:*:*:*\"");
            }
            return Err(self.err(d));
        }
        Ok(())
    }
}

/// Describes why `v` is not of type `ty`, or `None` when it is.
pub(super) fn type_problem(ty: &Ty, v: &Value) -> Option<String> {
    let found = || format!("{} {}", article(v.type_name()), v.type_name());
    match (ty, v) {
        (Ty::Str, Value::Str(_)) | (Ty::Int, Value::Int(_)) | (Ty::Bool, Value::Bool(_)) => None,
        (Ty::Label(_), Value::Label(_)) | (Ty::File | Ty::LayerSource, Value::File(_)) => None,
        (Ty::LayerSource, Value::Str(s)) => match s.split_once("@sha256:") {
            Some((name, hex)) if name.contains('/') && hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => None,
            _ => Some(format!("\"{s}\", a reference not pinned by digest")),
        },
        (Ty::Base, Value::Label(_)) => None,
        (Ty::Base, Value::Str(s)) if s == "scratch" => None,
        (Ty::Monitor, Value::Call(c)) if MONITORS.contains(&c.function.as_str()) => None,
        (Ty::User, Value::Int(u)) if *u >= 0 && *u <= u32::MAX as i64 => None,
        (Ty::User, Value::Str(s)) if !s.is_empty() && !s.contains(char::is_whitespace) => None,
        (Ty::OneOf(options), Value::Str(s)) if options.contains(&s.as_str()) => None,
        (Ty::OneOf(_), Value::Str(s)) => Some(format!("\"{s}\"")),
        (Ty::Sha256, Value::Str(s)) => {
            if s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
                None
            } else if s.bytes().all(|b| b.is_ascii_hexdigit()) {
                Some(format!("{} hex digits{}", s.len(), if s.bytes().any(|b| b.is_ascii_uppercase()) { " (uppercase)" } else { "" }))
            } else {
                Some("a string that is not hex".to_string())
            }
        }
        (Ty::Date, Value::Str(s)) if is_date(s) => None,
        (Ty::Date, Value::Str(s)) => Some(format!("\"{s}\", not a calendar date")),
        (Ty::Cpe, Value::Str(s)) => cpe_problem(s).map(|p| format!("\"{s}\", {p}")),
        (Ty::List(inner), Value::List(items)) => items.iter().find_map(|i| type_problem(inner, i)).map(|p| format!("a list holding {p}")),
        (Ty::Map(inner), Value::Map(m)) => m.values().find_map(|i| type_problem(inner, i)).map(|p| format!("a map holding {p}")),
        (Ty::Record(fields), Value::Map(m)) => {
            for (k, val) in m {
                match fields.iter().find(|f| f.name == k) {
                    None => return Some(format!("a map with unknown key `{k}`")),
                    Some(f) => {
                        if let Some(p) = type_problem(&f.ty, val) {
                            return Some(format!("`{k}` = {p}"));
                        }
                    }
                }
            }
            fields.iter().find(|f| f.required && !m.contains_key(f.name)).map(|f| format!("a map without `{}`", f.name))
        }
        _ => Some(found()),
    }
}

/// Why `s` is not a CPE 2.3 formatted string: `cpe:2.3:` then part (`a`,
/// `o` or `h`), vendor, product, version, update, edition, language,
/// sw_edition, target_sw, target_hw and other, `:` escaped as `\:`.
fn cpe_problem(s: &str) -> Option<String> {
    let Some(rest) = s.strip_prefix("cpe:2.3:") else { return Some("which does not start with `cpe:2.3:`".into()) };
    let mut fields = vec![String::new()];
    let mut escaped = false;
    for c in rest.chars() {
        match c {
            ':' if !escaped => fields.push(String::new()),
            _ => fields.last_mut().expect("one field at least").push(c),
        }
        escaped = c == '\\' && !escaped;
    }
    if fields.len() != 11 {
        return Some(format!("with {} fields after `cpe:2.3:` (a CPE has 11)", fields.len()));
    }
    if !["a", "o", "h"].contains(&fields[0].as_str()) {
        return Some(format!("whose part is `{}` (a, o or h)", fields[0]));
    }
    if let Some(empty) = fields.iter().position(|f| f.is_empty()) {
        return Some(format!("whose field {} is empty (`*` stands for any)", empty + 3));
    }
    if fields[1] == "*" || fields[2] == "*" {
        return Some("without a vendor and product".into());
    }
    None
}

/// Whether `s` is a real day written `YYYY-MM-DD` (what `support.until`
/// and `dhib query 'supported(DATE, …)'` compare, as text).
pub fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' || !s.bytes().enumerate().all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit()) {
        return false;
    }
    let (y, m, d): (u32, u32, u32) = (s[..4].parse().unwrap_or(0), s[5..7].parse().unwrap_or(0), s[8..].parse().unwrap_or(0));
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let days = match m {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        1..=12 => 31,
        _ => 0,
    };
    (1..=days).contains(&d)
}
