//! Times as files write them: epoch numbers in any unit, ISO-8601 dates and date-times
//! (with or without a UTC offset), and basic dates, in nanoseconds since the epoch.

use super::EpochUnit;
use crate::metrics::days_from_civil;

/// A time field: an epoch number or an ISO-8601 date or date-time, in nanoseconds since
/// the epoch. `unit` is fixed by the first numeric time when not given.
pub(super) fn parse_time(
    s: &str,
    unit: &mut Option<EpochUnit>,
) -> Result<(u64, Option<i32>), String> {
    let b = s.as_bytes();
    if b.is_empty() {
        return Err("empty time: give every row a time".into());
    }
    let numeric = b.iter().all(|c| c.is_ascii_digit() || *c == b'.')
        && b.iter().filter(|&&c| c == b'.').count() <= 1;
    if numeric {
        // ISO-8601's basic form of a date, `20240131`, as many exports write it: read as
        // seconds since 1970 it would be a time in 1970, a second from the next row.
        if unit.is_none() && b.len() == 8 && !s.contains('.') {
            let dashed = format!("{}-{}-{}", &s[..4], &s[4..6], &s[6..]);
            if let Some(t) = parse_iso_offset(&dashed) {
                return Ok(t);
            }
        }
        if let Ok(v) = s.parse::<u64>() {
            let u = *unit.get_or_insert_with(|| EpochUnit::detect(v as f64));
            return v.checked_mul(u.nanos()).map(|t| (t, None)).ok_or_else(|| {
                format!("too large for a time in {u:?} since 1970: check --epoch-unit")
            });
        }
        let v: f64 = s.parse().map_err(|_| "not a number".to_string())?;
        let u = *unit.get_or_insert_with(|| EpochUnit::detect(v));
        // A fraction of a nanosecond or microsecond; a whole number here is one too large
        // for a u64, out of range below.
        if matches!(u, EpochUnit::Nanos | EpochUnit::Micros) && s.contains('.') {
            return Err(format!("not a whole number of {u:?}"));
        }
        let ns = v * u.nanos() as f64;
        if !(0.0..1.8e19).contains(&ns) {
            return Err(format!(
                "out of range for a time in {u:?}: check --epoch-unit"
            ));
        }
        return Ok((ns.round() as u64, None));
    }
    parse_iso_offset(s).ok_or_else(|| {
        // A well-formed time of another year (a leap year for a leap one) reads: the year
        // is out of range (Yahoo's indices start in 1927; 9999-12-31 marks "no end").
        let year = s
            .get(..4)
            .filter(|y| y.bytes().all(|c| c.is_ascii_digit()))
            .and_then(|y| y.parse::<i64>().ok());
        if let (Some(y), Some(rest)) = (year, s.get(4..)) {
            let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
            let other = if leap { "2000" } else { "2001" };
            if parse_iso_offset(&format!("{other}{rest}")).is_some() {
                return "outside the times a series can hold, 1970-01-01 to 2262-04-11 UTC: \
                        remove the rows outside that span"
                    .into();
            }
        }
        "not a time: expected an ISO-8601 date or date-time (2024-01-31, 2024-01-31 09:30:00, \
         2024-01-31T09:30:00.5+01:00) or a number since 1970 (s, ms, us or ns)"
            .into()
    })
}

/// `YYYY-MM-DD[( |T)HH:MM[:SS[.f+]]][Z|±HH[:MM]]` (`/` or `.` also accepted in the date).
#[cfg(test)]
fn parse_iso(s: &str) -> Option<u64> {
    parse_iso_offset(s).map(|(t, _)| t)
}

/// As `parse_iso`, with the UTC offset written in the text (`None` without one).
fn parse_iso_offset(s: &str) -> Option<(u64, Option<i32>)> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = b.get(from..from + len)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    let y = num(0, 4)?;
    let sep = *b.get(4)?;
    if !matches!(sep, b'-' | b'/' | b'.') || b.get(7) != Some(&sep) {
        return None;
    }
    let (m, d) = (num(5, 2)?, num(8, 2)?);
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m as u32) {
        return None;
    }
    let mut i = 10;
    let mut secs = 0i64;
    let mut nanos = 0i64;
    if matches!(b.get(i), Some(b' ') | Some(b'T') | Some(b't')) {
        let (hh, mm) = (num(i + 1, 2)?, num(i + 4, 2)?);
        if b.get(i + 3) != Some(&b':') || hh > 23 || mm > 59 {
            return None;
        }
        secs = hh * 3600 + mm * 60;
        i += 6;
        if b.get(i) == Some(&b':') {
            let ss = num(i + 1, 2)?;
            if ss > 60 {
                return None;
            }
            secs += ss;
            i += 3;
            if b.get(i) == Some(&b'.') || b.get(i) == Some(&b',') {
                i += 1;
                let start = i;
                while b.get(i).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                }
                let digits = &b[start..i];
                if digits.is_empty() {
                    return None;
                }
                for k in 0..9 {
                    nanos = nanos * 10 + digits.get(k).map_or(0, |c| i64::from(c - b'0'));
                }
            }
        }
    }
    let mut offset = 0i64;
    let mut written = None;
    match b.get(i) {
        None => {}
        Some(b'Z') | Some(b'z') if i + 1 == b.len() => written = Some(0),
        Some(&c) if c == b'+' || c == b'-' => {
            let hh = num(i + 1, 2)?;
            let rest = &b[i + 3..];
            let mm = match rest {
                [] => 0,
                [b':', _, _] => num(i + 4, 2)?,
                [_, _] => num(i + 3, 2)?,
                _ => return None,
            };
            if hh > 23 || mm > 59 {
                return None;
            }
            offset = (hh * 3600 + mm * 60) * if c == b'-' { -1 } else { 1 };
            written = Some(offset as i32);
        }
        _ => return None,
    }
    let days = days_from_civil(y, m as u32, d as u32);
    let total = (days * 86_400 + secs - offset).checked_mul(1_000_000_000)? + nanos;
    Some((u64::try_from(total).ok()?, written))
}

fn days_in_month(y: i64, m: u32) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_forms() {
        let day = 1_704_067_200_000_000_000u64; // 2024-01-01T00:00:00Z
        assert_eq!(parse_iso("2024-01-01"), Some(day));
        assert_eq!(parse_iso("2024/01/01"), Some(day));
        assert_eq!(parse_iso("2024-01-01 00:00:00"), Some(day));
        assert_eq!(parse_iso("2024-01-01T01:00:00+01:00"), Some(day));
        assert_eq!(parse_iso("2023-12-31T19:00:00-0500"), Some(day));
        assert_eq!(parse_iso("2024-01-01T00:00:00.5Z"), Some(day + 500_000_000));
        assert_eq!(parse_iso("2024-01-01 00:01"), Some(day + 60_000_000_000));
        assert_eq!(parse_iso("2024-02-30"), None);
        assert_eq!(parse_iso("2024-01-01X"), None);
        assert_eq!(parse_iso("1969-12-31"), None);
    }
}
