//! Shamir shares that cannot silently go wrong.
//!
//! A secret (16–64 bytes, e.g. the root KEK) is split K-of-N (2 ≤ K ≤ N ≤ 16) with vsss-rs'
//! GF(256) byte functions. Each share travels in a versioned envelope that carries the set
//! id, K, N, its index, the secret length and a digest of the secret bound to the set id, and
//! it is written as base32 text whose RS1024 checksum always detects up to three wrong symbols.
//! Combining checks one set, no duplicates, at least K, and the digest of the result, and
//! names a share that does not fit. Shares can be sealed to a P-256 key or a passphrase and
//! printed on a card. Formats: `docs/formats/share.md`, `docs/formats/sealing.md`.

mod base32;
/// Share cards (PDF).
pub mod card;
mod envelope;
mod error;
mod rs1024;
/// Sealing shares to custodians.
pub mod seal;
mod split;
/// Typing back a copied share.
pub mod typeback;

pub use envelope::{
    text_len, SetId, Share, ShareFingerprint, FORMAT_VERSION, MAX_SHARES, QR_PREFIX, SECRET_LEN,
};
pub use error::{ShareError, ShareLabel, ShareProblem};
pub use split::{combine, split, Rebuilt, ShareSet};

/// Verifies one share alone (characters, length, version, checksum, header) and returns it.
/// A set check needs [`combine`].
pub fn verify_one(text: &str) -> Result<Share, ShareError> {
    Share::parse(text, None)
}

/// Parses several shares (`texts[i]` is input #i+1) and checks them as a set; returns what
/// the combine proved.
pub fn verify_set<S: AsRef<str>>(texts: &[S]) -> Result<Rebuilt, ShareError> {
    let shares = texts
        .iter()
        .enumerate()
        .map(|(i, t)| Share::parse(t.as_ref(), Some(i + 1)))
        .collect::<Result<Vec<_>, _>>()?;
    combine(&shares)
}

/// Helpers for tests elsewhere in the workspace: build well-formed but wrong shares.
#[doc(hidden)]
pub mod testing {
    use super::Share;
    use crate::secret::SecretBytes;

    /// A copy of `s` whose value byte `at` is XORed with `flip`: it passes its checksum (the
    /// text is re-encoded) but no longer fits the other shares of its set.
    pub fn with_value_byte_flipped(s: &Share, at: usize, flip: u8) -> Share {
        let mut value = SecretBytes::from_slice(s.value.expose());
        let i = at % value.len();
        value.expose_mut()[i] ^= flip;
        Share {
            set_id: s.set_id,
            threshold: s.threshold,
            count: s.count,
            index: s.index,
            digest: s.digest,
            value,
        }
    }
}
