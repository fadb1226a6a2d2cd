//! UTC calendar fields of a time, for the dates a listing shows: minutes on
//! the page, RFC 3339 in JSON.
//!
//! Pure. Howard Hinnant's `civil_from_days` over the proleptic Gregorian
//! calendar, for any time a file system can report (before 1970 included);
//! the property test holds it against `httpdate` for years 1970–9999.

use std::time::{SystemTime, UNIX_EPOCH};

/// A UTC date and time of day, split into its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Civil {
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
}

/// Whole seconds since the Unix epoch, rounded down (also before 1970).
fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(before) => {
            let d = before.duration();
            let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            let floor = i64::from(d.subsec_nanos() > 0);
            (-secs).saturating_sub(floor)
        }
    }
}

/// The UTC calendar fields of `t` (proleptic Gregorian calendar).
fn civil(t: SystemTime) -> Civil {
    let secs = unix_seconds(t);
    let (days, of_day) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's `civil_from_days`: eras of 400 years start on March 1.
    // Days fit easily: |days| ≤ i64::MAX / 86400, far from overflow here.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    Civil {
        year,
        month,
        day,
        hour: of_day / 3600,
        minute: of_day % 3600 / 60,
        second: of_day % 60,
    }
}

/// `YYYY-MM-DD HH:MM`, UTC, for the page.
pub fn format_minutes(t: SystemTime) -> String {
    let c = civil(t);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        c.year, c.month, c.day, c.hour, c.minute
    )
}

/// RFC 3339 in UTC (`2026-11-21T14:00:00Z`); `None` outside years
/// 0000–9999, which RFC 3339 cannot write.
pub fn format_rfc3339(t: SystemTime) -> Option<String> {
    let c = civil(t);
    (0..=9999).contains(&c.year).then(|| {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            c.year, c.month, c.day, c.hour, c.minute, c.second
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::Duration;

    /// 2026-11-21T14:00:00Z.
    const NOW: u64 = 1_795_269_600;

    #[test]
    fn dates_are_utc_minutes_and_rfc3339() {
        let t = UNIX_EPOCH + Duration::from_secs(NOW + 59);
        assert_eq!(format_minutes(t), "2026-11-21 14:00");
        assert_eq!(format_rfc3339(t).as_deref(), Some("2026-11-21T14:00:59Z"));
        assert_eq!(format_minutes(UNIX_EPOCH), "1970-01-01 00:00");
        // 2000 was a leap year, 1900 was not.
        assert_eq!(
            format_rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)).as_deref(),
            Some("2000-02-29T00:00:00Z")
        );
        let before = UNIX_EPOCH - Duration::from_millis(1);
        assert_eq!(
            format_rfc3339(before).as_deref(),
            Some("1969-12-31T23:59:59Z")
        );
    }

    proptest! {
        #[test]
        fn dates_agree_with_httpdate(secs in 0u64..253_402_300_800) {
            let t = UNIX_EPOCH + Duration::from_secs(secs);
            let ours = format_rfc3339(t).expect("years 1970-9999");
            let theirs = httpdate::fmt_http_date(t);
            let back = httpdate::parse_http_date(&theirs).expect("httpdate round trip");
            prop_assert_eq!(back, t);
            // "Sun, 06 Nov 1994 08:49:37 GMT" → compare field by field.
            let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
            let parts: Vec<&str> = theirs.split([' ', ':']).collect();
            let month = months.iter().position(|m| *m == parts[2]).expect("month") + 1;
            let expected = format!("{}-{:02}-{}T{}:{}:{}Z", parts[3], month, parts[1], parts[4], parts[5], parts[6]);
            prop_assert_eq!(ours, expected);
        }
    }
}
