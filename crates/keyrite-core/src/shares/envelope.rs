//! The share envelope: one share with everything needed to check it alone, and its text forms.
//!
//! Canonical layout (documented in `docs/formats/share.md`): the bytes
//! `version ‖ set id (8) ‖ (K−1)<<4 | (N−1) ‖ index ‖ secret length ‖ digest (8) ‖ value`
//! packed big-endian into 10-bit symbols (zero padding), followed by three RS1024 check
//! symbols; each symbol is written as two base32 characters.

use super::base32;
use super::error::{ShareError, ShareLabel, ShareProblem};
use super::rs1024;
use crate::secret::{SecretBytes, SecretText};
use sha2::{Digest, Sha256};
use std::fmt;

/// The envelope format version this build writes and reads.
pub const FORMAT_VERSION: u8 = 1;
/// Prefix of the QR payload.
pub const QR_PREFIX: &str = "KEYRITE-SHARE:";
/// Bytes before the share value.
const HEADER_LEN: usize = 20;
/// Smallest and largest secret, in bytes.
pub const SECRET_LEN: std::ops::RangeInclusive<usize> = 16..=64;
/// Most shares in a set.
pub const MAX_SHARES: u8 = 16;

/// A share set's random identifier (64 bits), shared by every share of one split.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SetId(pub [u8; 8]);

impl SetId {
    /// The id as words (one word per byte), for cards and reading aloud.
    pub fn words(&self) -> String {
        crate::words::to_words(&self.0)
    }
}

impl fmt::Display for SetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for SetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SetId({self})")
    }
}

/// SHA-256 of a share's canonical text, for the ceremony record: a custodian proves their
/// share is the recorded one by showing it hashes to this.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ShareFingerprint(pub [u8; 32]);

impl ShareFingerprint {
    /// The first 6 bytes as words, to read aloud.
    pub fn words(&self) -> String {
        crate::words::short_words(&self.0, 6)
    }
    /// Lower-case hex of all 32 bytes.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for ShareFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ShareFingerprint({})", self.hex())
    }
}

/// One Shamir share in its envelope. The value is secret: no `Clone`, redacted `Debug`.
pub struct Share {
    pub(crate) set_id: SetId,
    pub(crate) threshold: u8,
    pub(crate) count: u8,
    pub(crate) index: u8,
    pub(crate) digest: [u8; 8],
    pub(crate) value: SecretBytes,
}

impl fmt::Debug for Share {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Share({} of {}, any {}, set {}, value redacted)",
            self.index, self.count, self.threshold, self.set_id
        )
    }
}

/// Characters in the canonical text of a share of a `secret_len`-byte secret.
pub fn text_len(secret_len: usize) -> usize {
    2 * symbols_len(secret_len)
}

fn symbols_len(secret_len: usize) -> usize {
    ((HEADER_LEN + secret_len) * 8).div_ceil(10) + rs1024::CHECK_SYMBOLS
}

impl Share {
    /// The share set's id.
    pub fn set_id(&self) -> SetId {
        self.set_id
    }
    /// K: shares needed to rebuild.
    pub fn threshold(&self) -> u8 {
        self.threshold
    }
    /// N: shares in the set.
    pub fn count(&self) -> u8 {
        self.count
    }
    /// This share's index, 1..=N.
    pub fn index(&self) -> u8 {
        self.index
    }
    /// Length of the shared secret in bytes.
    pub fn secret_len(&self) -> usize {
        self.value.len()
    }
    /// The truncated digest of the secret that every combine checks (public; see share.md).
    pub fn digest(&self) -> [u8; 8] {
        self.digest
    }
    /// A label naming this share in errors.
    pub fn label(&self, position: Option<usize>) -> ShareLabel {
        ShareLabel {
            position,
            index: Some(self.index),
            set: Some(self.set_id.to_string()),
        }
    }

    /// The canonical header-and-value bytes (secret: contains the share value).
    fn payload_bytes(&self) -> SecretBytes {
        let mut b = SecretBytes::zeroed(HEADER_LEN + self.value.len());
        let out = b.expose_mut();
        out[0] = FORMAT_VERSION;
        out[1..9].copy_from_slice(&self.set_id.0);
        out[9] = ((self.threshold - 1) << 4) | (self.count - 1);
        out[10] = self.index;
        out[11] = self.value.len() as u8;
        out[12..20].copy_from_slice(&self.digest);
        out[20..].copy_from_slice(self.value.expose());
        b
    }

    /// The canonical text: base32, no separators, no prefix.
    pub fn canonical_text(&self) -> SecretText {
        let payload = self.payload_bytes();
        let mut symbols = pack10(payload.expose());
        let check = rs1024::checksum(&symbols);
        symbols.extend_from_slice(&check);
        let mut s = String::with_capacity(symbols.len() * 2);
        for sym in &symbols {
            s.push(base32::char_of((sym >> 5) as u8));
            s.push(base32::char_of((sym & 31) as u8));
        }
        zeroize::Zeroize::zeroize(&mut symbols);
        SecretText::new(s)
    }

    /// The human form: groups of four characters separated by spaces. The first four groups
    /// are the same on every share of a set (version, set id, K and N); the fifth starts with
    /// the index.
    pub fn human_form(&self) -> SecretText {
        let text = self.canonical_text();
        let t = text.expose().as_bytes();
        let mut s = String::with_capacity(t.len() + t.len() / 4);
        for (i, chunk) in t.chunks(4).enumerate() {
            if i > 0 {
                s.push(' ');
            }
            s.push_str(std::str::from_utf8(chunk).unwrap_or(""));
        }
        SecretText::new(s)
    }

    /// The QR payload: `KEYRITE-SHARE:` and the canonical text (QR alphanumeric mode).
    pub fn qr_payload(&self) -> SecretText {
        SecretText::new(format!("{QR_PREFIX}{}", self.canonical_text().expose()))
    }

    /// SHA-256("keyrite share fingerprint v1" ‖ 0 ‖ canonical text).
    pub fn fingerprint(&self) -> ShareFingerprint {
        let mut h = Sha256::new();
        h.update(b"keyrite share fingerprint v1\0");
        h.update(self.canonical_text().expose().as_bytes());
        ShareFingerprint(h.finalize().into())
    }

    /// Parses a QR payload (must start with `KEYRITE-SHARE:`).
    pub fn from_qr_payload(text: &str, position: Option<usize>) -> Result<Share, ShareError> {
        let t = text.trim();
        match t.strip_prefix(QR_PREFIX) {
            Some(rest) => Share::parse_body(rest, position),
            None => Err(ShareError::Share {
                share: ShareLabel::at(position),
                problem: ShareProblem::NotQrPayload,
            }),
        }
    }

    /// Parses a share as typed or scanned: the human form (any case, any spaces or dashes)
    /// or the QR payload.
    pub fn parse(text: &str, position: Option<usize>) -> Result<Share, ShareError> {
        let t = text.trim();
        let body = t
            .get(..QR_PREFIX.len())
            .filter(|p| p.eq_ignore_ascii_case(QR_PREFIX))
            .map(|_| &t[QR_PREFIX.len()..])
            .unwrap_or(t);
        Share::parse_body(body, position)
    }

    fn parse_body(text: &str, position: Option<usize>) -> Result<Share, ShareError> {
        let mut label = ShareLabel::at(position);
        let fail = |label: &ShareLabel, problem| ShareError::Share {
            share: label.clone(),
            problem,
        };
        // Characters → 5-bit values (kept secret: they are the share).
        let mut values =
            SecretBytes::zeroed(text.chars().filter(|c| !base32::is_separator(*c)).count());
        let mut n = 0;
        for (pos, c) in text.chars().enumerate() {
            if base32::is_separator(c) {
                continue;
            }
            match base32::value_of(c) {
                Some(v) => {
                    values.expose_mut()[n] = v;
                    n += 1;
                }
                None => {
                    return Err(fail(
                        &label,
                        ShareProblem::BadCharacter {
                            position: pos + 1,
                            ch: c,
                        },
                    ))
                }
            }
        }
        let v = values.expose();
        if v.is_empty() {
            return Err(fail(&label, ShareProblem::Empty));
        }
        let min = text_len(*SECRET_LEN.start());
        // Read what the header says as early as possible, so errors can name the share.
        let symbols: Vec<u16> = v
            .chunks(2)
            .map(|c| ((c[0] as u16) << 5) | *c.get(1).unwrap_or(&0) as u16)
            .collect();
        let mut symbols = zeroize::Zeroizing::new(symbols);
        let head = unpack10(&symbols[..symbols.len().min(10)]);
        if head.len() >= 11 {
            let mut id = [0u8; 8];
            id.copy_from_slice(&head[1..9]);
            label.set = Some(SetId(id).to_string());
            label.index = Some(head[10]);
        }
        if v.len() % 2 == 1 {
            return Err(fail(&label, ShareProblem::OddLength { got: v.len() }));
        }
        if let Some(&version) = head.first() {
            if version != FORMAT_VERSION {
                return Err(fail(&label, ShareProblem::UnknownVersion(version)));
            }
        }
        if head.len() < 12 {
            return Err(fail(&label, ShareProblem::Truncated { got: v.len(), min }));
        }
        let secret_len = head[11] as usize;
        if SECRET_LEN.contains(&secret_len) && text_len(secret_len) != v.len() {
            let problem = if v.len() < min {
                ShareProblem::Truncated { got: v.len(), min }
            } else {
                ShareProblem::Length {
                    got: v.len(),
                    expected: text_len(secret_len),
                    secret_len,
                }
            };
            return Err(fail(&label, problem));
        }
        if v.len() < min {
            return Err(fail(&label, ShareProblem::Truncated { got: v.len(), min }));
        }
        if !rs1024::verify(&symbols) {
            return Err(fail(&label, ShareProblem::Checksum));
        }
        // Checksum holds: from here on a problem means a bad writer, not a typo.
        if !SECRET_LEN.contains(&secret_len) {
            return Err(fail(
                &label,
                ShareProblem::Header(format!("secret length {secret_len} is outside 16..=64")),
            ));
        }
        let data_symbols = symbols.len() - rs1024::CHECK_SYMBOLS;
        let bytes = zeroize::Zeroizing::new(unpack10(&symbols[..data_symbols]));
        let used_bits = (HEADER_LEN + secret_len) * 8;
        if bytes.len() < HEADER_LEN + secret_len || pad_bits(&symbols[..data_symbols], used_bits) {
            return Err(fail(
                &label,
                ShareProblem::Header("the padding bits are not zero".into()),
            ));
        }
        zeroize::Zeroize::zeroize(&mut *symbols);
        let threshold = (bytes[9] >> 4) + 1;
        let count = (bytes[9] & 15) + 1;
        let index = bytes[10];
        if threshold < 2 || threshold > count {
            return Err(fail(
                &label,
                ShareProblem::Header(format!("threshold {threshold} of {count} is not 2 ≤ K ≤ N")),
            ));
        }
        if index == 0 || index > count {
            return Err(fail(
                &label,
                ShareProblem::Header(format!("index {index} is not in 1..={count}")),
            ));
        }
        let mut id = [0u8; 8];
        id.copy_from_slice(&bytes[1..9]);
        let mut digest = [0u8; 8];
        digest.copy_from_slice(&bytes[12..20]);
        Ok(Share {
            set_id: SetId(id),
            threshold,
            count,
            index,
            digest,
            value: SecretBytes::from_slice(&bytes[20..20 + secret_len]),
        })
    }
}

/// Bytes → 10-bit symbols, big-endian, zero padding.
fn pack10(bytes: &[u8]) -> Vec<u16> {
    let mut out = Vec::with_capacity((bytes.len() * 8).div_ceil(10) + rs1024::CHECK_SYMBOLS);
    let (mut acc, mut bits) = (0u32, 0u32);
    for b in bytes {
        acc = (acc << 8) | *b as u32;
        bits += 8;
        while bits >= 10 {
            bits -= 10;
            out.push(((acc >> bits) & 0x3ff) as u16);
        }
    }
    if bits > 0 {
        out.push(((acc << (10 - bits)) & 0x3ff) as u16);
    }
    out
}

/// 10-bit symbols → whole bytes (trailing partial byte dropped).
fn unpack10(symbols: &[u16]) -> Vec<u8> {
    let mut out = Vec::with_capacity(symbols.len() * 10 / 8);
    let (mut acc, mut bits) = (0u32, 0u32);
    for s in symbols {
        acc = (acc << 10) | (*s & 0x3ff) as u32;
        bits += 10;
        while bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
        acc &= (1 << bits) - 1;
    }
    out
}

/// Whether any bit past `used_bits` in `symbols` is set.
fn pad_bits(symbols: &[u16], used_bits: usize) -> bool {
    let total = symbols.len() * 10;
    (used_bits..total).any(|bit| (symbols[bit / 10] >> (9 - bit % 10)) & 1 == 1)
}

/// The digest bound to the set: SHA-256("keyrite share digest v1" ‖ 0 ‖ set id ‖ K ‖ N ‖ len ‖ secret)[..8].
pub(crate) fn secret_digest(set_id: &SetId, threshold: u8, count: u8, secret: &[u8]) -> [u8; 8] {
    let mut h = Sha256::new();
    h.update(b"keyrite share digest v1\0");
    h.update(set_id.0);
    h.update([threshold, count, secret.len() as u8]);
    h.update(secret);
    let full: [u8; 32] = h.finalize().into();
    let mut d = [0u8; 8];
    d.copy_from_slice(&full[..8]);
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_unpack_round_trip() {
        let bytes: Vec<u8> = (0..52u8).map(|b| b.wrapping_mul(37)).collect();
        let s = pack10(&bytes);
        assert_eq!(s.len(), 42);
        assert_eq!(&unpack10(&s)[..52], &bytes[..]);
        assert!(!pad_bits(&s, 52 * 8));
    }

    #[test]
    fn text_lengths() {
        assert_eq!(text_len(16), 2 * (29 + 3));
        assert_eq!(text_len(32), 90);
        assert_eq!(text_len(64), 142);
    }
}
