//! The clock check: Keyrite shows the system time in UTC; the witness compares it with an
//! independent clock and the result is recorded.

use serde::{Deserialize, Serialize};
use std::time::{SystemTime, UNIX_EPOCH};

/// The system time as shown to the witness.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockReading {
    /// Seconds since the Unix epoch.
    pub unix_seconds: i64,
    /// The same instant as RFC 3339 UTC, e.g. `2026-03-01T02:00:00Z`.
    pub utc: String,
}

impl ClockReading {
    /// Reads the system clock now.
    pub fn now() -> Self {
        Self::at(crate::clock::now())
    }

    /// The reading for a given instant.
    pub fn at(t: SystemTime) -> Self {
        let secs = match t.duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_secs() as i64,
            Err(e) => -(e.duration().as_secs() as i64),
        };
        Self::from_unix(secs)
    }

    /// The reading for seconds since the epoch.
    pub fn from_unix(secs: i64) -> Self {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        Self {
            unix_seconds: secs,
            utc: format!(
                "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
                rem / 3600,
                rem % 3600 / 60,
                rem % 60
            ),
        }
    }
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
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

/// What the witness says after comparing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockConfirmation {
    /// Who confirmed (the witness's name as checked in).
    pub witness: String,
    /// The independent clock used, e.g. "wristwatch set to UTC from a GPS clock".
    pub reference: String,
    /// System time minus reference time, in seconds, as the witness reports it.
    pub offset_seconds: i64,
}

/// The recorded clock check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockCheckResult {
    /// What was shown.
    pub reading: ClockReading,
    /// What the witness said.
    pub confirmation: ClockConfirmation,
    /// Largest offset accepted.
    pub tolerance_seconds: u32,
    /// Within tolerance.
    pub passed: bool,
    /// One line for the record.
    pub reason: String,
}

impl ClockCheckResult {
    /// Judges a witness's confirmation against the tolerance.
    pub fn judge(
        reading: ClockReading,
        confirmation: ClockConfirmation,
        tolerance_seconds: u32,
    ) -> Self {
        let off = confirmation.offset_seconds;
        let passed = off.unsigned_abs() <= u64::from(tolerance_seconds);
        let reason = format!(
            "system clock {} ({off:+} s against {}, confirmed by {}); tolerance {} s: {}",
            reading.utc,
            confirmation.reference,
            confirmation.witness,
            tolerance_seconds,
            if passed {
                "within tolerance"
            } else {
                "OUT OF TOLERANCE"
            }
        );
        Self {
            reading,
            confirmation,
            tolerance_seconds,
            passed,
            reason,
        }
    }
}
