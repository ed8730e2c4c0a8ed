//! What a share check shows: never the share, only what identifies it.

use crate::shares::Share;
use serde::Serialize;
use ts_rs::TS;

/// One share checked alone (`keyrite shares verify`).
#[derive(Debug, Clone, Serialize, TS)]
pub struct ShareCheck {
    /// The share's index, 1..=N.
    pub index: u8,
    /// N.
    pub count: u8,
    /// K: how many rebuild the secret.
    pub threshold: u8,
    /// The share set's id.
    pub set_id: String,
    /// The set id as words.
    pub set_words: String,
    /// The share's fingerprint as words.
    pub fingerprint_words: String,
}

impl From<&Share> for ShareCheck {
    fn from(s: &Share) -> Self {
        ShareCheck {
            index: s.index(),
            count: s.count(),
            threshold: s.threshold(),
            set_id: s.set_id().to_string(),
            set_words: s.set_id().words(),
            fingerprint_words: s.fingerprint().words(),
        }
    }
}
