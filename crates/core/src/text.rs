//! Text encodings the documents dhib writes need, written once.

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(2 * bytes.len()), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The RFC 4122 text of a UUID of `version` made of `bytes` (the version
/// and variant bits are set here): hashed names give version 5, random or
/// derived bytes version 4.
pub fn uuid(bytes: &[u8; 16], version: u8) -> String {
    let mut b = *bytes;
    b[6] = (b[6] & 0x0f) | (version << 4);
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

/// Seconds since the epoch as an RFC 3339 UTC time (civil-from-days, so no
/// time zone database is consulted).
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_of_known_times() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(1_704_067_200), "2024-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(951_782_400 + 3_661), "2000-02-29T01:01:01Z");
    }

    #[test]
    fn uuids_carry_their_version_and_variant() {
        assert_eq!(super::uuid(&[0xff; 16], 5), "ffffffff-ffff-5fff-bfff-ffffffffffff");
        assert_eq!(super::uuid(&[0; 16], 4), "00000000-0000-4000-8000-000000000000");
        assert_eq!(super::hex(&[0, 0xab]), "00ab");
    }
}
