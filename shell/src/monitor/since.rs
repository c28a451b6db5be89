//! `--since`: a backfill window (`15m`, `2h`, `1d`, `30s`) or an RFC 3339
//! instant, and the time of a line (MON-6).

use std::time::Duration;

use firma_core::UnixTime;

/// Why a `--since` value was rejected.
#[derive(Debug, thiserror::Error)]
#[error(
    "invalid value `{value}`: expected <n>s, <n>m, <n>h or <n>d (e.g. 15m) or an RFC 3339 time \
     (e.g. 2026-11-22T02:24:12Z){detail}"
)]
pub struct SinceError {
    /// The value as given.
    pub value: String,
    /// Extra detail (empty or `: …`).
    pub detail: String,
}

/// The cut-off instant for `spec`, relative windows counted back from `now`.
pub fn parse(spec: &str, now: UnixTime) -> Result<UnixTime, SinceError> {
    let err = |detail: &str| SinceError {
        value: spec.to_owned(),
        detail: detail.to_owned(),
    };
    let s = spec.trim();
    if let Some(t) = rfc3339(s) {
        return Ok(t);
    }
    let Some(unit) = s.chars().last() else {
        return Err(err(""));
    };
    let secs_per = match unit {
        's' => 1u64,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        _ => return Err(err("")),
    };
    let digits = &s[..s.len() - 1];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err(""));
    }
    let n: u64 = digits.parse().map_err(|_| err(": number too large"))?;
    let secs = n
        .checked_mul(secs_per)
        .ok_or_else(|| err(": window too large"))?;
    let back = Duration::from_secs(secs);
    let now_ns = now.as_nanos();
    let back_ns = u64::try_from(back.as_nanos()).unwrap_or(u64::MAX);
    Ok(UnixTime::from_nanos(now_ns.saturating_sub(back_ns)))
}

/// RFC 3339 with `Z` or a numeric offset (`+02:00`, `-05:30`).
pub fn rfc3339(s: &str) -> Option<UnixTime> {
    if let Some(t) = UnixTime::parse_rfc3339(s) {
        return Some(t);
    }
    // A numeric offset: parse the local part as UTC, then shift.
    let cut = s.len().checked_sub(6)?;
    let (local, offset) = (s.get(..cut)?, s.get(cut..)?);
    let ob = offset.as_bytes();
    let sign = match ob.first()? {
        b'+' => 1i64,
        b'-' => -1,
        _ => return None,
    };
    let digits = |r: std::ops::Range<usize>| -> Option<i64> {
        let d = ob.get(r)?;
        d.iter()
            .all(u8::is_ascii_digit)
            .then(|| d.iter().fold(0i64, |n, b| n * 10 + i64::from(b - b'0')))
    };
    if ob.get(3) != Some(&b':') {
        return None;
    }
    let (hh, mm) = (digits(1..3)?, digits(4..6)?);
    if hh > 23 || mm > 59 {
        return None;
    }
    let base = UnixTime::parse_rfc3339(&format!("{local}Z"))?;
    let shift_ns = u64::try_from((hh * 3_600 + mm * 60) * 1_000_000_000).ok()?;
    // Local time = UTC + offset, so UTC = local − offset.
    let ns = if sign > 0 {
        base.as_nanos().checked_sub(shift_ns)?
    } else {
        base.as_nanos().checked_add(shift_ns)?
    };
    Some(UnixTime::from_nanos(ns))
}

/// The time at the start of a component log line (its first
/// whitespace-separated token), if it is RFC 3339.
pub fn line_time(line: &str) -> Option<UnixTime> {
    line.split_whitespace().next().and_then(rfc3339)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: UnixTime = UnixTime::from_secs(1_800_000_000);

    #[test]
    fn relative_windows() {
        assert_eq!(
            parse("15m", NOW).unwrap(),
            UnixTime::from_secs(1_800_000_000 - 900)
        );
        assert_eq!(
            parse("2h", NOW).unwrap(),
            UnixTime::from_secs(1_800_000_000 - 7_200)
        );
        assert_eq!(
            parse("1d", NOW).unwrap(),
            UnixTime::from_secs(1_800_000_000 - 86_400)
        );
        assert_eq!(
            parse("30s", NOW).unwrap(),
            UnixTime::from_secs(1_800_000_000 - 30)
        );
        assert_eq!(parse("0m", NOW).unwrap(), NOW);
        assert_eq!(parse("99999999999d", NOW).unwrap(), UnixTime::EPOCH);
    }

    #[test]
    fn absolute_times() {
        let z = parse("2026-11-22T02:24:12Z", NOW).unwrap();
        assert_eq!(parse("2026-11-22T04:24:12+02:00", NOW).unwrap(), z);
        assert_eq!(parse("2026-11-22T00:24:12-02:00", NOW).unwrap(), z);
        assert_eq!(
            parse("2026-11-22T02:24:12.5Z", NOW).unwrap().as_nanos(),
            z.as_nanos() + 500_000_000
        );
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "m",
            "15",
            "15x",
            "-5m",
            "1.5h",
            "15 m",
            "2026-11-22",
            "2026-11-22T02:24:12+2:00",
            "2026-11-22T02:24:12+24:00",
        ] {
            assert!(parse(bad, NOW).is_err(), "{bad:?} accepted");
        }
        let e = parse("15x", NOW).unwrap_err().to_string();
        assert!(e.contains("`15x`") && e.contains("15m"), "{e}");
    }

    #[test]
    fn line_time_reads_the_first_token() {
        assert_eq!(
            line_time("2026-11-22T02:24:12.123456Z  INFO x: y"),
            UnixTime::parse_rfc3339("2026-11-22T02:24:12.123456Z")
        );
        assert_eq!(line_time("error: boom"), None);
        assert_eq!(line_time(""), None);
    }
}
