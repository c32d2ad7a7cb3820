//! Dates and numbers for people, as Tornado's `Locale` writes them: "3
//! minutes ago", "yesterday at 5:01 pm", "Monday, January 22",
//! "1,000,000".

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How [`Locale::format_date`](super::Locale::format_date) writes a date;
/// the defaults are Tornado's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateFormat {
    /// Minutes the reader's clock is *behind* UTC (Tornado's `gmt_offset`;
    /// JavaScript's `Date.getTimezoneOffset()` gives it): 300 for New York
    /// in winter, -60 for Paris.
    pub gmt_offset: i64,
    /// "3 minutes ago", "yesterday" for recent dates (default `true`).
    pub relative: bool,
    /// Leave out the time ("yesterday", "January 22").
    pub shorter: bool,
    /// Always the whole date: "January 22, 2013 at 5:01 pm".
    pub full_format: bool,
}

impl Default for DateFormat {
    fn default() -> Self {
        DateFormat { gmt_offset: 0, relative: true, shorter: false, full_format: false }
    }
}

/// A day of the proleptic Gregorian calendar, with the time of day.
pub(super) struct Civil {
    pub(super) year: i64,
    /// 1 to 12.
    pub(super) month: usize,
    pub(super) day: u32,
    /// 0 for Monday to 6 for Sunday.
    pub(super) weekday: usize,
    pub(super) hour: u32,
    pub(super) minute: u32,
}

/// `t` in whole seconds since 1970 (before it, negative).
pub(super) fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        // Floor, as for times after 1970: 0.5 s before it is second -1.
        Err(before) => {
            let d = before.duration();
            -i64::try_from(d.as_secs()).unwrap_or(i64::MAX) - i64::from(d.subsec_nanos() > 0)
        }
    }
}

/// The calendar day and time of `seconds` since 1970 (days to civil date
/// by the era arithmetic of Howard Hinnant's `chrono`-compatible algorithm).
pub(super) fn civil(seconds: i64) -> Civil {
    let days = seconds.div_euclid(86_400);
    let of_day = seconds.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as usize;
    let year = yoe + era * 400 + i64::from(month <= 2);
    Civil {
        year,
        month,
        day,
        // 1970-01-01 was a Thursday (3).
        weekday: (days + 3).rem_euclid(7) as usize,
        hour: (of_day / 3600) as u32,
        minute: (of_day % 3600 / 60) as u32,
    }
}

/// What `format_date` says of `date` seen at `now`, before translation:
/// a relative phrase, or the pattern the date fills in.
pub(super) enum Said {
    SecondsAgo(u64),
    MinutesAgo(u64),
    HoursAgo(u64),
    Pattern(&'static str),
}

/// Tornado's choice of phrase, with its thresholds: under 50 s in seconds,
/// under 50 min in minutes, the same day in hours; then yesterday, a
/// weekday within 5 days, month and day within 334 days, else the year too.
/// A date up to a minute ahead counts as now (clocks drift); further ahead,
/// the whole date.
pub(super) fn choose(date: i64, now: i64, format: &DateFormat) -> (Said, i64) {
    let mut date = date;
    let mut full = format.full_format;
    if date > now {
        if format.relative && date - now < 60 {
            date = now;
        } else {
            full = true;
        }
    }
    let difference = now - date;
    let (days, seconds) = (difference.div_euclid(86_400), difference.rem_euclid(86_400));
    let local = date - format.gmt_offset * 60;
    let local_yesterday = now - format.gmt_offset * 60 - 86_400;
    let pattern = |short: &'static str, long: &'static str| Said::Pattern(if format.shorter { short } else { long });
    if !full {
        if format.relative && days == 0 {
            // Python's round(): halves go to the even neighbour.
            let round = |x: f64| x.round_ties_even() as u64;
            let said = if seconds < 50 {
                Said::SecondsAgo(seconds as u64)
            } else if seconds < 50 * 60 {
                Said::MinutesAgo(round(seconds as f64 / 60.0))
            } else {
                Said::HoursAgo(round(seconds as f64 / 3600.0))
            };
            return (said, local);
        }
        if days == 0 {
            return (Said::Pattern("%(time)s"), local);
        }
        if days == 1 && civil(local).day == civil(local_yesterday).day && format.relative {
            return (pattern("yesterday", "yesterday at %(time)s"), local);
        }
        if days < 5 {
            return (pattern("%(weekday)s", "%(weekday)s at %(time)s"), local);
        }
        if days < 334 {
            return (pattern("%(month_name)s %(day)s", "%(month_name)s %(day)s at %(time)s"), local);
        }
    }
    (pattern("%(month_name)s %(day)s, %(year)s", "%(month_name)s %(day)s, %(year)s at %(time)s"), local)
}

/// The time of day as locale `code` writes it: 12-hour with am/pm for
/// English, 上午/下午 for Simplified Chinese, 24-hour elsewhere.
pub(super) fn time_of_day(code: &str, at: &Civil) -> String {
    let twelve = if at.hour.is_multiple_of(12) { 12 } else { at.hour % 12 };
    match code {
        "en" | "en_US" => format!("{twelve}:{:02} {}", at.minute, if at.hour >= 12 { "pm" } else { "am" }),
        "zh_CN" => format!("{}{twelve}:{:02}", if at.hour >= 12 { "下午" } else { "上午" }, at.minute),
        _ => format!("{}:{:02}", at.hour, at.minute),
    }
}

/// `%(name)s` and `%(name)d` in `template` replaced by `values`; `%%` is
/// `%`; anything else stays as written.
pub fn interpolate(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('%') {
            out.push('%');
            rest = tail;
            continue;
        }
        let named = after.strip_prefix('(').and_then(|inner| {
            let close = inner.find(')')?;
            let name = &inner[..close];
            let conversion = inner[close + 1..].chars().next().filter(|c| matches!(c, 's' | 'd'))?;
            let value = values.iter().find(|(n, _)| *n == name)?.1;
            Some((value, close + 3 + conversion.len_utf8()))
        });
        match named {
            Some((value, used)) => {
                out.push_str(value);
                rest = &rest[at + used..];
            }
            None => {
                out.push('%');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// `value` with commas between thousands: `1,000,000`.
pub(super) fn with_commas(value: i64) -> String {
    let digits = value.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if value < 0 {
        out.push('-');
    }
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// `SystemTime` from seconds since 1970, for callers holding timestamps.
pub(super) fn from_unix(seconds: i64) -> SystemTime {
    if seconds >= 0 {
        UNIX_EPOCH + Duration::from_secs(seconds as u64)
    } else {
        UNIX_EPOCH - Duration::from_secs(seconds.unsigned_abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_match_known_days() {
        // 2013-04-28 18:35 UTC, a Sunday (Tornado's own test date).
        let c = civil(1_367_174_100);
        assert_eq!((c.year, c.month, c.day, c.weekday, c.hour, c.minute), (2013, 4, 28, 6, 18, 35));
        let leap = civil(951_782_400); // 2000-02-29, a Tuesday
        assert_eq!((leap.year, leap.month, leap.day, leap.weekday), (2000, 2, 29, 1));
        let before = civil(-1); // 1969-12-31 23:59, a Wednesday
        assert_eq!((before.year, before.month, before.day, before.weekday, before.hour), (1969, 12, 31, 2, 23));
    }

    #[test]
    fn interpolation_fills_named_values_and_keeps_the_rest() {
        let values = [("name", "Ada"), ("count", "3")];
        assert_eq!(interpolate("%(name)s has %(count)d notes", &values), "Ada has 3 notes");
        assert_eq!(interpolate("100%% of %(missing)s and 5%", &values), "100% of %(missing)s and 5%");
        assert_eq!(interpolate("%(name)x %(", &values), "%(name)x %(");
    }

    #[test]
    fn thousands_are_grouped_by_commas() {
        assert_eq!(with_commas(1_000_000), "1,000,000");
        assert_eq!(with_commas(999), "999");
        assert_eq!(with_commas(-123_456), "-123,456");
        assert_eq!(with_commas(i64::MIN), "-9,223,372,036,854,775,808");
    }
}
