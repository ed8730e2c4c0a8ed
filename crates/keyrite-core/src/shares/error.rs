//! Share errors. Every message names the share (index and set, as far as they could be read)
//! and says what is wrong and what to do. No message ever contains share or secret bytes.

use std::fmt;

/// Which share an error is about, as far as it could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareLabel {
    /// 1-based position among the shares given, when known.
    pub position: Option<usize>,
    /// The share's index (1..=N), if it could be read.
    pub index: Option<u8>,
    /// The share's set id (hex), if it could be read.
    pub set: Option<String>,
}

impl ShareLabel {
    /// A label for the share given at `position` (1-based), nothing read yet.
    pub fn at(position: Option<usize>) -> Self {
        Self {
            position,
            index: None,
            set: None,
        }
    }
}

impl fmt::Display for ShareLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.index, &self.set) {
            (Some(i), Some(s)) => write!(f, "share {i} of set {s}")?,
            _ => f.write_str("share")?,
        }
        if let Some(p) = self.position {
            write!(f, " (input #{p})")?;
        }
        Ok(())
    }
}

/// What is wrong with one share.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShareProblem {
    /// Nothing but separators.
    #[error("is empty")]
    Empty,
    /// A character outside the alphabet (1-based position among the typed characters).
    #[error("character {position} '{ch}' is not a share character (0-9, A-Z without I L O U); retype it from the card")]
    BadCharacter {
        /// Position in the text as typed.
        position: usize,
        /// The character.
        ch: char,
    },
    /// An odd number of characters: one is missing or extra.
    #[error("has {got} characters, an odd number: a character is missing or extra; compare every group with the card")]
    OddLength {
        /// Characters read.
        got: usize,
    },
    /// Too short to hold even a header.
    #[error("is truncated: {got} characters where a share has at least {min}; scan or type the whole share")]
    Truncated {
        /// Characters read.
        got: usize,
        /// Minimum length of a share.
        min: usize,
    },
    /// Format version this build does not read.
    #[error("has unknown format version {0} (this Keyrite reads version 1); use the Keyrite that made it or check the first group")]
    UnknownVersion(u8),
    /// Length does not fit the secret length in the header.
    #[error("has {got} characters but a share of a {secret_len}-byte secret has {expected}: characters are missing or extra (a truncated QR scan?)")]
    Length {
        /// Characters read.
        got: usize,
        /// Characters expected.
        expected: usize,
        /// Secret length from the header.
        secret_len: usize,
    },
    /// The RS1024 checksum does not match.
    #[error("fails its checksum: at least one character is wrong or two are swapped; compare every group with the card")]
    Checksum,
    /// A header field is out of range (only possible with a checksum-valid share from a bad writer).
    #[error("has an invalid header: {0}")]
    Header(String),
    /// Missing "KEYRITE-SHARE:" in a QR payload.
    #[error("is not a Keyrite share QR payload (it must start with \"KEYRITE-SHARE:\")")]
    NotQrPayload,
    /// Belongs to another share set.
    #[error("belongs to another set (the first share is of set {expected}); leave it out")]
    OtherSet {
        /// The set the first share belongs to.
        expected: String,
    },
    /// Same set, but a header field differs from the first share's.
    #[error("disagrees with the first share about the {field}; it was not made in the same split")]
    Disagrees {
        /// The field that differs.
        field: &'static str,
    },
    /// Same index given twice.
    #[error("was given twice; give each share once")]
    Duplicate,
    /// Passes its checksum but does not fit the other shares.
    #[error("is wrong: it passes its checksum but does not fit the other shares (shares {good} rebuild the recorded secret without it); leave it out and have its custodian check their card")]
    Inconsistent {
        /// The indices that rebuild without it.
        good: String,
    },
}

/// Errors splitting, parsing, verifying and combining shares.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShareError {
    /// One share is bad.
    #[error("{share} {problem}")]
    Share {
        /// Which share.
        share: ShareLabel,
        /// What is wrong.
        problem: ShareProblem,
    },
    /// Several shares passed their checksums but do not fit the others.
    #[error("shares {bad} of set {set} are wrong: they pass their checksums but do not fit the other shares (shares {good} rebuild the recorded secret without them); leave them out")]
    SeveralInconsistent {
        /// The set.
        set: String,
        /// Bad indices.
        bad: String,
        /// Indices that rebuild.
        good: String,
    },
    /// Fewer shares than the threshold.
    #[error("too few shares: set {set} needs {threshold} shares, got {got} (shares {indices}); bring {missing} more")]
    TooFew {
        /// The set.
        set: String,
        /// K.
        threshold: u8,
        /// Shares given.
        got: usize,
        /// Indices given.
        indices: String,
        /// K − got.
        missing: usize,
    },
    /// No K-subset rebuilds the recorded digest.
    #[error("shares {indices} of set {set} do not rebuild the recorded secret (digest mismatch): at least one of them is wrong; bring one more share so Keyrite can name the wrong one")]
    DigestMismatch {
        /// The set.
        set: String,
        /// Indices given.
        indices: String,
    },
    /// No share given at all.
    #[error("no shares given")]
    NoShares,
    /// Bad split parameters.
    #[error("cannot split: {0}")]
    Split(String),
}

/// `1, 2, 3` from indices.
pub(crate) fn list(indices: &[u8]) -> String {
    indices
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
