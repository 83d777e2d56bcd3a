//! Debian's version ordering (deb-version(7)), as `dpkg --compare-versions`
//! implements it: `[epoch:]upstream[-revision]`, compared part by part,
//! each part as alternating runs of non-digits (where `~` sorts before
//! everything, even the end, and letters before other characters) and
//! numbers. Upstream versions of from-source packages ("1.2.13", "3.45.1")
//! order the same way, so one comparison serves both.

use std::cmp::Ordering;

/// Compares two Debian versions.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (ea, ua, ra) = split(a);
    let (eb, ub, rb) = split(b);
    ea.cmp(&eb).then_with(|| compare_part(ua, ub)).then_with(|| compare_part(ra, rb))
}

/// (epoch, upstream, revision). A missing epoch is 0, a missing revision
/// is empty (which sorts as "0" does).
fn split(v: &str) -> (u64, &str, &str) {
    let v = v.trim();
    let (epoch, rest) = match v.split_once(':') {
        Some((e, rest)) if !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()) => (e.parse().unwrap_or(u64::MAX), rest),
        _ => (0, v),
    };
    match rest.rsplit_once('-') {
        Some((upstream, revision)) => (epoch, upstream, revision),
        None => (epoch, rest, ""),
    }
}

/// The weight of a character in a non-digit run: `~` before the end of
/// the run, the end before letters, letters before everything else.
fn weight(c: Option<u8>) -> i32 {
    match c {
        Some(b'~') => -1,
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => c as i32,
        Some(c) => c as i32 + 256,
    }
}

fn compare_part(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    while !a.is_empty() || !b.is_empty() {
        // The non-digit runs, character by character.
        loop {
            let (ca, cb) = (a.first().copied().filter(|c| !c.is_ascii_digit()), b.first().copied().filter(|c| !c.is_ascii_digit()));
            if ca.is_none() && cb.is_none() {
                break;
            }
            match weight(ca).cmp(&weight(cb)) {
                Ordering::Equal => {
                    a = &a[1..];
                    b = &b[1..];
                }
                other => return other,
            }
        }
        // The numbers, by value (leading zeros do not count).
        let digits = |s: &[u8]| s.iter().take_while(|c| c.is_ascii_digit()).count();
        let (na, nb) = (digits(a), digits(b));
        let strip = |s: &[u8]| -> Vec<u8> { s.iter().copied().skip_while(|&c| c == b'0').collect() };
        let (da, db) = (strip(&a[..na]), strip(&b[..nb]));
        match da.len().cmp(&db.len()).then_with(|| da.cmp(&db)) {
            Ordering::Equal => {
                a = &a[na..];
                b = &b[nb..];
            }
            other => return other,
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_as_deb_version_says() {
        let less = [
            ("1.0~rc1", "1.0"),
            ("1.0", "1.0-1"),
            ("1.0-1", "1.0-1+b1"),
            ("1.2.13.dfsg-1", "1:1.2.13.dfsg-1"),
            ("1:1.2.13.dfsg-1", "1:1.2.13.dfsg-1+deb12u1"),
            ("1:1.2.13.dfsg-1+deb12u1", "1:1.3.dfsg-3"),
            ("2.36-9+deb12u3", "2.36-9+deb12u10"),
            ("1.0a", "1.0+"),
            ("1.0~~", "1.0~"),
            ("1.2.9", "1.2.10"),
            ("0001.0", "2.0"),
        ];
        for (a, b) in less {
            assert_eq!(compare(a, b), Ordering::Less, "{a} < {b}");
            assert_eq!(compare(b, a), Ordering::Greater, "{b} > {a}");
        }
        for (a, b) in [("1.0", "1.00"), ("0:1.0", "1.0"), ("1.0-0", "1.0"), ("01.2", "1.2")] {
            assert_eq!(compare(a, b), Ordering::Equal, "{a} = {b}");
        }
    }
}
