//! Wall-clock times for the operator: UTC date-times printed by `ha-agent log` and the
//! `--since` argument parsed into a wall-clock millisecond count.
//!
//! Owns the conversion between Unix milliseconds and the proleptic Gregorian calendar in UTC
//! (the appliance keeps UTC; there is no time-zone database on it) and the grammar of
//! `--since`. It does not read a clock: relative forms (`10m`) take "now" from the caller.
//!
//! `--since` accepts, case-sensitively:
//! - `YYYY-MM-DD` (midnight UTC), `YYYY-MM-DDTHH:MM`, `YYYY-MM-DDTHH:MM:SS` (a space may replace
//!   the `T`; a trailing `Z` is allowed);
//! - `N` followed by `s`, `m`, `h` or `d` (that long before now), optionally with a leading `-`;
//! - `@SECONDS` (Unix seconds).

#![forbid(unsafe_code)]

use std::fmt;

/// Bound on the `--since` text.
pub const MAX_SINCE_BYTES: usize = 32;
/// Bound on a relative duration: ten years.
const MAX_RELATIVE_MS: u64 = 10 * 366 * 86_400_000;
/// Years accepted in a date (the journal's wall stamps are after 1970; far futures are typos).
const MIN_YEAR: i64 = 1970;
const MAX_YEAR: i64 = 9999;
/// 9999-12-31 23:59:59Z: `@SECONDS` beyond it would name a year the date forms cannot write.
const MAX_UNIX_SECONDS: i64 = 253_402_300_799;

/// Why a `--since` argument was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SinceError {
    TooLong,
    Empty,
    /// Not one of the accepted forms; the text says which part is wrong.
    Malformed(&'static str),
    OutOfRange(&'static str),
}

impl fmt::Display for SinceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SinceError::TooLong => write!(f, "longer than {MAX_SINCE_BYTES} bytes"),
            SinceError::Empty => write!(f, "empty"),
            SinceError::Malformed(what) | SinceError::OutOfRange(what) => f.write_str(what),
        }
        .and_then(|_| {
            f.write_str(
                " (use YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS] in UTC, 10m / 2h / 1d ago, or @UNIX_SECONDS)",
            )
        })
    }
}

/// Days since 1970-01-01 of a civil date (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01 (`civil_from_days`).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// The UTC calendar fields of a wall-clock time (for formats other than [`format_utc`]'s, such
/// as syslog's, written without allocating).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UtcFields {
    pub year: i64,
    /// 1..=12.
    pub month: u8,
    /// 1..=31.
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    pub millis: u16,
}

/// The UTC fields of a wall-clock millisecond count.
pub fn utc_fields(wall_ms: u64) -> UtcFields {
    let secs = (wall_ms / 1000) as i64;
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    UtcFields {
        year: y,
        month: m as u8,
        day: d as u8,
        hour: (s / 3600) as u8,
        minute: (s / 60 % 60) as u8,
        second: (s % 60) as u8,
        millis: (wall_ms % 1000) as u16,
    }
}

/// `2026-11-26 21:47:03.123Z` for a wall-clock millisecond count.
pub fn format_utc(wall_ms: u64) -> String {
    let t = utc_fields(wall_ms);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}Z",
        t.year, t.month, t.day, t.hour, t.minute, t.second, t.millis
    )
}

/// Digits only, at most `max` of them, as a number.
fn number(text: &str, max: usize, what: &'static str) -> Result<i64, SinceError> {
    if text.is_empty() || text.len() > max || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SinceError::Malformed(what));
    }
    text.parse().map_err(|_| SinceError::Malformed(what))
}

fn parse_date_time(text: &str) -> Result<u64, SinceError> {
    let text = text.strip_suffix('Z').unwrap_or(text);
    let (date, time) = match text.split_once(['T', ' ']) {
        Some((d, t)) => (d, Some(t)),
        None => (text, None),
    };
    let mut parts = date.split('-');
    let (Some(y), Some(m), Some(d), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(SinceError::Malformed("the date is not YYYY-MM-DD"));
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return Err(SinceError::Malformed("the date is not YYYY-MM-DD"));
    }
    let (y, m, d) = (number(y, 4, "bad year")?, number(m, 2, "bad month")?, number(d, 2, "bad day")?);
    if !(MIN_YEAR..=MAX_YEAR).contains(&y) {
        return Err(SinceError::OutOfRange("the year is before 1970 or after 9999"));
    }
    if !(1..=12).contains(&m) {
        return Err(SinceError::OutOfRange("the month is not 01..12"));
    }
    if d < 1 || d > days_in_month(y, m) {
        return Err(SinceError::OutOfRange("that day does not exist in that month"));
    }
    let mut secs = days_from_civil(y, m, d) * 86_400;
    if let Some(time) = time {
        let mut parts = time.split(':');
        let (Some(h), Some(min), s, None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(SinceError::Malformed("the time is not HH:MM or HH:MM:SS"));
        };
        if h.len() != 2 || min.len() != 2 || s.is_some_and(|s| s.len() != 2) {
            return Err(SinceError::Malformed("the time is not HH:MM or HH:MM:SS"));
        }
        let h = number(h, 2, "bad hour")?;
        let min = number(min, 2, "bad minute")?;
        let s = match s {
            Some(s) => number(s, 2, "bad second")?,
            None => 0,
        };
        if h > 23 || min > 59 || s > 59 {
            return Err(SinceError::OutOfRange("the time is not within 00:00:00..23:59:59"));
        }
        secs += h * 3600 + min * 60 + s;
    }
    // MIN_YEAR keeps it non-negative; MAX_YEAR keeps it far from overflow.
    Ok(u64::try_from(secs).expect("year >= 1970") * 1000)
}

/// The wall-clock millisecond count `--since TEXT` stands for, `now_wall_ms` being now.
pub fn parse_since(text: &str, now_wall_ms: u64) -> Result<u64, SinceError> {
    if text.len() > MAX_SINCE_BYTES {
        return Err(SinceError::TooLong);
    }
    let text = text.trim();
    if text.is_empty() {
        return Err(SinceError::Empty);
    }
    if let Some(secs) = text.strip_prefix('@') {
        let secs = number(secs, 12, "@ must be followed by Unix seconds")?;
        if secs > MAX_UNIX_SECONDS {
            return Err(SinceError::OutOfRange("the time is after the year 9999"));
        }
        return Ok(secs as u64 * 1000);
    }
    let relative = text.strip_prefix('-').unwrap_or(text);
    if let Some(unit) = relative.bytes().last().filter(|b| b"smhd".contains(b)) {
        let digits = &relative[..relative.len() - 1];
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            let n = number(digits, 9, "bad duration")? as u64;
            let unit_ms = match unit {
                b's' => 1000,
                b'm' => 60_000,
                b'h' => 3_600_000,
                _ => 86_400_000,
            };
            let ms = n.checked_mul(unit_ms).filter(|&ms| ms <= MAX_RELATIVE_MS);
            let Some(ms) = ms else { return Err(SinceError::OutOfRange("the duration is over ten years")) };
            return Ok(now_wall_ms.saturating_sub(ms));
        }
    }
    parse_date_time(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_795_730_823_123; // 2026-11-26 22:07:03.123Z

    #[test]
    fn formats_utc() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00.000Z");
        assert_eq!(format_utc(NOW), "2026-11-26 22:07:03.123Z");
        assert_eq!(format_utc(951_782_400_000), "2000-02-29 00:00:00.000Z");
    }

    #[test]
    fn parses_dates_and_times_in_utc() {
        assert_eq!(parse_since("1970-01-01", NOW), Ok(0));
        assert_eq!(parse_since("2026-11-26T22:07:03Z", NOW), Ok(NOW - 123));
        assert_eq!(parse_since("2026-11-26 22:07:03", NOW), Ok(NOW - 123));
        assert_eq!(parse_since("2026-11-26T22:07", NOW), Ok(NOW - 3123));
        assert_eq!(parse_since("2000-02-29", NOW), Ok(951_782_400_000));
        assert_eq!(parse_since("@1795730823", NOW), Ok(NOW - 123));
        assert_eq!(parse_since("@253402300799", NOW), Ok(253_402_300_799_000));
        assert_eq!(format_utc(253_402_300_799_000), "9999-12-31 23:59:59.000Z");
    }

    #[test]
    fn parses_relative_times() {
        assert_eq!(parse_since("10m", NOW), Ok(NOW - 600_000));
        assert_eq!(parse_since("-2h", NOW), Ok(NOW - 7_200_000));
        assert_eq!(parse_since("30s", NOW), Ok(NOW - 30_000));
        assert_eq!(parse_since("1d", NOW), Ok(NOW - 86_400_000));
        assert_eq!(parse_since("1d", 1000), Ok(0));
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        for bad in [
            "",
            "yesterday",
            "2026-13-01",
            "2026-02-29",
            "2026-11-26T24:00",
            "2026-11-26T21:60",
            "2026-11-26T21",
            "26-11-2026",
            "1969-12-31",
            "2026-1-1",
            "10x",
            "m",
            "-",
            "@",
            "@12a",
            "99999999999m",
            "2026-11-26T21:27:03:00",
            "+10m",
            "2026-11-26Tab:cd",
            "0000000000000000000000000000000000000",
            "@288002200004",
            "@253402300800",
        ] {
            assert!(parse_since(bad, NOW).is_err(), "{bad:?} accepted");
        }
        let e = parse_since("2026-02-30", NOW).unwrap_err();
        assert!(e.to_string().contains("day does not exist"), "{e}");
    }

    #[test]
    fn round_trips_every_day_boundary_of_a_few_centuries() {
        let mut day = 0i64;
        while day < 150_000 {
            let ms = day as u64 * 86_400_000;
            let text = format_utc(ms);
            assert_eq!(parse_since(&text[..10], NOW), Ok(ms), "{text}");
            day += 37;
        }
    }
}
