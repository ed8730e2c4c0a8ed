//! UTC timestamps: milliseconds since the Unix epoch, written as RFC 3339
//! `YYYY-MM-DDTHH:MM:SS.mmmZ` (one form only, so it can be hashed).

/// A UTC instant with millisecond precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UtcTime(pub i64);

/// The current time.
pub fn now() -> UtcTime {
    let ms = crate::clock::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    UtcTime(ms)
}

const DAY_MS: i64 = 86_400_000;

// Howard Hinnant's civil-from-days / days-from-civil (public-domain algorithms).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl UtcTime {
    /// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    pub fn to_rfc3339(self) -> String {
        let days = self.0.div_euclid(DAY_MS);
        let rem = self.0.rem_euclid(DAY_MS);
        let (y, mo, d) = civil_from_days(days);
        let (h, mi, s, ms) = (
            rem / 3_600_000,
            rem / 60_000 % 60,
            rem / 1000 % 60,
            rem % 1000,
        );
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z")
    }

    /// The date part, `YYYY-MM-DD`.
    pub fn date(self) -> String {
        self.to_rfc3339()[..10].to_string()
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.mmm]Z` or a bare date `YYYY-MM-DD` (midnight UTC).
    pub fn parse(text: &str) -> Option<Self> {
        let b = text.as_bytes();
        // Digits only (no sign), at most four: folded directly, as journal verification
        // parses one time per entry.
        let num = |r: std::ops::Range<usize>| -> Option<i64> {
            b.get(r)?.iter().try_fold(0, |n, &c| {
                c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0'))
            })
        };
        if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
            return None;
        }
        let mut ms = days_from_civil(y, mo as u32, d as u32) * DAY_MS;
        if b.len() == 10 {
            return Some(Self(ms));
        }
        if b.len() < 20 || b[10] != b'T' || b[13] != b':' || b[16] != b':' || b[b.len() - 1] != b'Z'
        {
            return None;
        }
        let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if h > 23 || mi > 59 || s > 60 {
            return None;
        }
        ms += h * 3_600_000 + mi * 60_000 + s * 1000;
        match b.len() {
            20 => {}
            24 if b[19] == b'.' => ms += num(20..23)?,
            _ => return None,
        }
        Some(Self(ms))
    }

    /// This instant plus whole days.
    pub fn plus_days(self, days: i64) -> Self {
        Self(self.0 + days * DAY_MS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects() {
        let t = UtcTime::parse("2026-03-01T12:34:56.789Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-03-01T12:34:56.789Z");
        assert_eq!(UtcTime(0).to_rfc3339(), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            UtcTime::parse("2024-02-29").unwrap().plus_days(1).date(),
            "2024-03-01"
        );
        assert_eq!(UtcTime::parse("2024-13-01"), None);
        assert_eq!(UtcTime::parse("2024-01-01T00:00:00+01:00"), None);
        // Signs, spaces and other digits are not digits here.
        assert_eq!(UtcTime::parse("+024-01-01"), None);
        assert_eq!(UtcTime::parse("2024-01-01T0 :00:00Z"), None);
        assert_eq!(UtcTime::parse("2024-01-01T00:00:00.-12Z"), None);
        assert_eq!(UtcTime::parse("2024-0١-01"), None);
        assert_eq!(
            UtcTime::parse("2026-12-07T23:59:60.999Z").map(UtcTime::to_rfc3339),
            Some("2026-12-08T00:00:00.999Z".into())
        );
    }
}
