//! Identifier newtypes of a ceremony script: script and step ids, the custodian threshold.

use serde::Serialize;
use std::fmt;

/// Largest number of custodians a script may declare.
pub const MAX_CUSTODIANS: u8 = 16;

/// Why a string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Empty string.
    #[error("is empty; use lowercase letters, digits and '-'")]
    Empty,
    /// Longer than 64 characters.
    #[error("is {0} characters long; at most 64 are allowed")]
    TooLong(usize),
    /// A character other than `a-z`, `0-9`, `-`, or a leading/trailing `-`.
    #[error("\"{0}\" may only hold lowercase letters, digits and '-' (not first or last)")]
    BadChars(String),
}

fn check_id(s: &str) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty);
    }
    if s.chars().count() > 64 {
        return Err(IdError::TooLong(s.chars().count()));
    }
    let ok = s
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(IdError::BadChars(s.to_string()))
    }
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Checks and wraps an identifier: 1–64 of `a-z`, `0-9`, `-` (not first or last).
            pub fn new(s: &str) -> Result<Self, IdError> {
                check_id(s)?;
                Ok(Self(s.to_string()))
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// A script's id, e.g. `root-key-generation`.
    ScriptId
);
id_type!(
    /// A step's id, unique within its script, e.g. `generate-root-kek`.
    StepId
);

/// Why a threshold is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ThresholdError {
    /// K below 2: one custodian alone could rebuild the root key.
    #[error("threshold {k} is below 2: a single custodian could rebuild the root key alone; use at least 2")]
    BelowTwo {
        /// K.
        k: i64,
    },
    /// K above N: the root key could never be rebuilt.
    #[error("threshold {k} is larger than the {n} custodians: the root key could never be rebuilt; use a threshold of at most {n}")]
    AboveTotal {
        /// K.
        k: i64,
        /// N.
        n: i64,
    },
    /// N above 16.
    #[error("{n} custodians is more than the {max} Keyrite supports")]
    TooMany {
        /// N.
        n: i64,
        /// The maximum.
        max: u8,
    },
}

/// K of N: K custodians out of N are needed to rebuild the root key or approve an operation.
/// Always 2 ≤ K ≤ N ≤ 16.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Threshold {
    k: u8,
    n: u8,
}

impl Threshold {
    /// Checks 2 ≤ K ≤ N ≤ 16.
    pub fn new(k: i64, n: i64) -> Result<Self, ThresholdError> {
        if n > i64::from(MAX_CUSTODIANS) {
            return Err(ThresholdError::TooMany {
                n,
                max: MAX_CUSTODIANS,
            });
        }
        if k < 2 {
            return Err(ThresholdError::BelowTwo { k });
        }
        if k > n {
            return Err(ThresholdError::AboveTotal { k, n });
        }
        // 2 ≤ k ≤ n ≤ 16, so both fit in u8.
        Ok(Self {
            k: k as u8,
            n: n as u8,
        })
    }

    /// K: how many custodians are needed.
    pub fn k(&self) -> u8 {
        self.k
    }

    /// N: how many custodians hold a share.
    pub fn n(&self) -> u8 {
        self.n
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} of {}", self.k, self.n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_bounds() {
        assert_eq!(Threshold::new(3, 5).map(|t| (t.k(), t.n())), Ok((3, 5)));
        assert_eq!(
            Threshold::new(16, 16).map(|t| t.to_string()),
            Ok("16 of 16".into())
        );
        assert_eq!(
            Threshold::new(1, 5).unwrap_err().to_string(),
            "threshold 1 is below 2: a single custodian could rebuild the root key alone; use at least 2"
        );
        assert_eq!(
            Threshold::new(6, 5).unwrap_err().to_string(),
            "threshold 6 is larger than the 5 custodians: the root key could never be rebuilt; use a threshold of at most 5"
        );
        assert_eq!(
            Threshold::new(3, 17).unwrap_err().to_string(),
            "17 custodians is more than the 16 Keyrite supports"
        );
    }

    #[test]
    fn ids() {
        assert!(StepId::new("generate-root-kek").is_ok());
        assert_eq!(StepId::new("").unwrap_err(), IdError::Empty);
        assert_eq!(
            StepId::new("Bad_Id").unwrap_err().to_string(),
            "\"Bad_Id\" may only hold lowercase letters, digits and '-' (not first or last)"
        );
        assert_eq!(
            ScriptId::new("-x").unwrap_err().to_string(),
            "\"-x\" may only hold lowercase letters, digits and '-' (not first or last)"
        );
        assert_eq!(
            StepId::new(&"a".repeat(65)).unwrap_err().to_string(),
            "is 65 characters long; at most 64 are allowed"
        );
    }
}
