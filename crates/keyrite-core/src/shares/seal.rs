//! Sealing a share to its custodian: to a P-256 public key (ephemeral ECDH, HKDF-SHA256,
//! ChaCha20-Poly1305) or to a passphrase (Argon2id, ChaCha20-Poly1305). Format:
//! `docs/formats/sealing.md`.
//!
//! The P-256 recipient side is "ECDH(recipient private key, ephemeral public key) → shared
//! x-coordinate", then [`open_with_shared_secret`]: a YubiKey's 9d slot performs the ECDH,
//! software keys use [`open_with_p256_key`].

use super::envelope::{SetId, Share};
use super::error::ShareError;
use crate::secret::{SecretBytes, SecretText};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// First bytes of every sealed share.
pub const MAGIC: &[u8; 6] = b"KRSEAL";
/// Sealing format version this build writes and reads.
pub const SEAL_VERSION: u8 = 1;
const KIND_P256: u8 = 1;
const KIND_PASSPHRASE: u8 = 2;
/// magic ‖ version ‖ kind ‖ set id ‖ index.
const COMMON_LEN: usize = 6 + 1 + 1 + 8 + 1;
const P256_HEADER_LEN: usize = COMMON_LEN + 33 + 65 + 12;
const PASS_HEADER_LEN: usize = COMMON_LEN + 12 + 16 + 12;
const TAG_LEN: usize = 16;

/// Argon2id cost parameters, stored in the sealed envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Params {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl Argon2Params {
    /// RFC 9106's second recommendation, Keyrite's floor: 64 MiB, t = 3, p = 4.
    pub const MINIMUM: Argon2Params = Argon2Params {
        m_kib: 64 * 1024,
        t: 3,
        p: 4,
    };
    /// Upper bounds accepted when opening (refuses a file that would exhaust the machine).
    pub const MAXIMUM: Argon2Params = Argon2Params {
        m_kib: 4 * 1024 * 1024,
        t: 64,
        p: 64,
    };

    fn check(&self) -> Result<(), SealError> {
        let (lo, hi) = (Self::MINIMUM, Self::MAXIMUM);
        if self.m_kib < lo.m_kib || self.t < lo.t || self.p < lo.p {
            return Err(SealError::WeakParams(*self));
        }
        if self.m_kib > hi.m_kib || self.t > hi.t || self.p > hi.p {
            return Err(SealError::HugeParams(*self));
        }
        Ok(())
    }
}

impl Default for Argon2Params {
    fn default() -> Self {
        Self::MINIMUM
    }
}

/// Which share a sealed envelope holds, readable without opening it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealedInfo {
    /// The share's set.
    pub set_id: SetId,
    /// The share's index.
    pub index: u8,
    /// How it is sealed.
    pub kind: SealKind,
}

/// How a share is sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealKind {
    /// To a P-256 key; `recipient` is its SEC1 compressed point.
    P256 {
        /// Recipient public key (SEC1 compressed).
        recipient: [u8; 33],
    },
    /// To a passphrase.
    Passphrase(Argon2Params),
}

/// Sealing errors. Each names the share (index and set) once the header could be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// Does not start with `KRSEAL`.
    #[error("not a Keyrite sealed share (it does not start with \"KRSEAL\")")]
    NotSealed,
    /// Unknown version.
    #[error("sealed share has unknown format version {0} (this Keyrite reads version 1)")]
    UnknownVersion(u8),
    /// Unknown kind byte.
    #[error("sealed share {0} uses an unknown sealing kind {1}")]
    UnknownKind(String, u8),
    /// Too short.
    #[error("sealed share is truncated ({got} bytes, at least {min} needed); copy the whole file")]
    Truncated {
        /// Bytes given.
        got: usize,
        /// Bytes needed.
        min: usize,
    },
    /// Opened with the wrong kind of secret.
    #[error("sealed share {0} is sealed to {1}, not to {2}")]
    WrongKind(String, &'static str, &'static str),
    /// A software key that is not the recipient.
    #[error("sealed share {share} is sealed to key {recipient}, not to key {given}; use its custodian's own key")]
    WrongKey {
        /// Share label.
        share: String,
        /// Recipient key fingerprint.
        recipient: String,
        /// Given key fingerprint.
        given: String,
    },
    /// AEAD refused after ECDH.
    #[error(
        "sealed share {0} did not open with this key agreement: wrong key, or the file is damaged"
    )]
    OpenFailed(String),
    /// AEAD refused after Argon2id.
    #[error("sealed share {0}: wrong passphrase (or the file is damaged); nothing was opened")]
    WrongPassphrase(String),
    /// Stored Argon2id parameters below the floor.
    #[error("Argon2id parameters m={} KiB, t={}, p={} are below Keyrite's minimum (64 MiB, t=3, p=4); refusing", .0.m_kib, .0.t, .0.p)]
    WeakParams(Argon2Params),
    /// Stored Argon2id parameters above the ceiling.
    #[error("Argon2id parameters m={} KiB, t={}, p={} are above Keyrite's maximum (4 GiB, t=64, p=64); refusing", .0.m_kib, .0.t, .0.p)]
    HugeParams(Argon2Params),
    /// A public key that is not a P-256 point.
    #[error("the recipient public key is not a valid P-256 point")]
    BadPublicKey,
    /// The opened share itself is bad.
    #[error("{0}")]
    Share(#[from] ShareError),
    /// A crypto primitive failed unexpectedly.
    #[error("sealing failed: {0}")]
    Crypto(String),
}

/// Short fingerprint of a P-256 public key: hex of SHA-256(SEC1 compressed)[..8].
pub fn key_fingerprint(public: &p256::PublicKey) -> String {
    let c = public.to_encoded_point(true);
    hex::encode(&Sha256::digest(c.as_bytes())[..8])
}

fn label(set_id: &SetId, index: u8) -> String {
    format!("{index} of set {set_id}")
}

fn common(share: &Share, kind: u8) -> Vec<u8> {
    let mut h = Vec::with_capacity(P256_HEADER_LEN);
    h.extend_from_slice(MAGIC);
    h.push(SEAL_VERSION);
    h.push(kind);
    h.extend_from_slice(&share.set_id.0);
    h.push(share.index);
    h
}

fn aead_seal(
    key: &SecretBytes,
    header: &[u8],
    nonce: &[u8],
    share: &Share,
) -> Result<Vec<u8>, SealError> {
    let cipher = ChaCha20Poly1305::new(Key::from_slice(key.expose()));
    let text = share.canonical_text();
    let ct = cipher
        .encrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: text.expose().as_bytes(),
                aad: header,
            },
        )
        .map_err(|_| SealError::Crypto("ChaCha20-Poly1305 refused to encrypt".into()))?;
    let mut out = header.to_vec();
    out.extend_from_slice(&ct);
    Ok(out)
}

fn aead_open(key: &SecretBytes, sealed: &[u8], header_len: usize) -> Option<SecretText> {
    let cipher = ChaCha20Poly1305::new(Key::from_slice(key.expose()));
    let nonce = &sealed[header_len - 12..header_len];
    let mut pt = cipher
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: &sealed[header_len..],
                aad: &sealed[..header_len],
            },
        )
        .ok()?;
    let text = String::from_utf8(std::mem::take(&mut pt)).ok();
    zeroize::Zeroize::zeroize(&mut pt);
    text.map(SecretText::new)
}

/// Reads the clear header of a sealed share.
pub fn sealed_info(sealed: &[u8]) -> Result<SealedInfo, SealError> {
    if sealed.len() < 8 || &sealed[..6] != MAGIC {
        return Err(if sealed.len() >= 6 && &sealed[..6] == MAGIC {
            SealError::Truncated {
                got: sealed.len(),
                min: COMMON_LEN,
            }
        } else {
            SealError::NotSealed
        });
    }
    if sealed[6] != SEAL_VERSION {
        return Err(SealError::UnknownVersion(sealed[6]));
    }
    if sealed.len() < COMMON_LEN {
        return Err(SealError::Truncated {
            got: sealed.len(),
            min: COMMON_LEN,
        });
    }
    let mut id = [0u8; 8];
    id.copy_from_slice(&sealed[8..16]);
    let (set_id, index) = (SetId(id), sealed[16]);
    let min = match sealed[7] {
        KIND_P256 => P256_HEADER_LEN,
        KIND_PASSPHRASE => PASS_HEADER_LEN,
        k => return Err(SealError::UnknownKind(label(&set_id, index), k)),
    } + TAG_LEN;
    if sealed.len() < min {
        return Err(SealError::Truncated {
            got: sealed.len(),
            min,
        });
    }
    let kind = if sealed[7] == KIND_P256 {
        let mut r = [0u8; 33];
        r.copy_from_slice(&sealed[COMMON_LEN..COMMON_LEN + 33]);
        SealKind::P256 { recipient: r }
    } else {
        let word = |i: usize| {
            let o = COMMON_LEN + 4 * i;
            u32::from_be_bytes([sealed[o], sealed[o + 1], sealed[o + 2], sealed[o + 3]])
        };
        SealKind::Passphrase(Argon2Params {
            m_kib: word(0),
            t: word(1),
            p: word(2),
        })
    };
    Ok(SealedInfo {
        set_id,
        index,
        kind,
    })
}

fn hkdf_key(shared_x: &SecretBytes, header_to_ephemeral: &[u8]) -> Result<SecretBytes, SealError> {
    let hk = hkdf::Hkdf::<Sha256>::new(Some(b"keyrite seal v1 p256"), shared_x.expose());
    let mut key = SecretBytes::zeroed(32);
    hk.expand(header_to_ephemeral, key.expose_mut())
        .map_err(|_| SealError::Crypto("HKDF refused the output length".into()))?;
    Ok(key)
}

/// Seals `share` to a P-256 public key (e.g. a custodian's YubiKey 9d key).
pub fn seal_to_p256(share: &Share, recipient: &p256::PublicKey) -> Result<Vec<u8>, SealError> {
    let eph = p256::ecdh::EphemeralSecret::random(&mut rand::rngs::OsRng);
    let eph_pub = eph.public_key().to_encoded_point(false);
    let shared = eph.diffie_hellman(recipient);
    let shared_x = SecretBytes::from_slice(shared.raw_secret_bytes());
    let mut header = common(share, KIND_P256);
    header.extend_from_slice(recipient.to_encoded_point(true).as_bytes());
    header.extend_from_slice(eph_pub.as_bytes());
    let key = hkdf_key(&shared_x, &header)?;
    let mut nonce = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    header.extend_from_slice(&nonce);
    aead_seal(&key, &header, &nonce, share)
}

/// The ephemeral public key of a P-256 sealed share: what the recipient's ECDH needs.
pub fn ephemeral_public(sealed: &[u8]) -> Result<p256::PublicKey, SealError> {
    let info = sealed_info(sealed)?;
    match info.kind {
        SealKind::P256 { .. } => {
            p256::PublicKey::from_sec1_bytes(&sealed[COMMON_LEN + 33..COMMON_LEN + 98])
                .map_err(|_| SealError::OpenFailed(label(&info.set_id, info.index)))
        }
        SealKind::Passphrase(_) => Err(SealError::WrongKind(
            label(&info.set_id, info.index),
            "a passphrase",
            "a key",
        )),
    }
}

/// Opens a P-256 sealed share given the ECDH shared x-coordinate (32 bytes) computed by the
/// recipient from its private key and [`ephemeral_public`].
pub fn open_with_shared_secret(sealed: &[u8], shared_x: &SecretBytes) -> Result<Share, SealError> {
    let info = sealed_info(sealed)?;
    let name = label(&info.set_id, info.index);
    if !matches!(info.kind, SealKind::P256 { .. }) {
        return Err(SealError::WrongKind(name, "a passphrase", "a key"));
    }
    let key = hkdf_key(shared_x, &sealed[..P256_HEADER_LEN - 12])?;
    let text = aead_open(&key, sealed, P256_HEADER_LEN).ok_or(SealError::OpenFailed(name))?;
    Ok(Share::parse(text.expose(), None)?)
}

/// Opens a P-256 sealed share with a software private key (tests, rehearsal).
pub fn open_with_p256_key(sealed: &[u8], key: &p256::SecretKey) -> Result<Share, SealError> {
    let info = sealed_info(sealed)?;
    let name = label(&info.set_id, info.index);
    let SealKind::P256 { recipient } = info.kind else {
        return Err(SealError::WrongKind(name, "a passphrase", "a key"));
    };
    let given = key.public_key();
    if given.to_encoded_point(true).as_bytes() != recipient {
        let recipient_fp = p256::PublicKey::from_sec1_bytes(&recipient)
            .map(|k| key_fingerprint(&k))
            .unwrap_or_else(|_| hex::encode(&Sha256::digest(recipient)[..8]));
        return Err(SealError::WrongKey {
            share: name,
            recipient: recipient_fp,
            given: key_fingerprint(&given),
        });
    }
    let eph = ephemeral_public(sealed)?;
    let shared = p256::ecdh::diffie_hellman(key.to_nonzero_scalar(), eph.as_affine());
    open_with_shared_secret(sealed, &SecretBytes::from_slice(shared.raw_secret_bytes()))
}

fn argon2_key(
    pass: &SecretText,
    salt: &[u8],
    params: Argon2Params,
) -> Result<SecretBytes, SealError> {
    let p = argon2::Params::new(params.m_kib, params.t, params.p, Some(32))
        .map_err(|e| SealError::Crypto(format!("Argon2id parameters: {e}")))?;
    let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, p);
    let mut key = SecretBytes::zeroed(32);
    crate::timing::phase("argon2id", || {
        a.hash_password_into(pass.expose().as_bytes(), salt, key.expose_mut())
    })
    .map_err(|e| SealError::Crypto(format!("Argon2id: {e}")))?;
    Ok(key)
}

/// Seals `share` to a passphrase with Argon2id (`params` at least [`Argon2Params::MINIMUM`]).
pub fn seal_with_passphrase(
    share: &Share,
    pass: &SecretText,
    params: Argon2Params,
) -> Result<Vec<u8>, SealError> {
    params.check()?;
    let mut header = common(share, KIND_PASSPHRASE);
    for w in [params.m_kib, params.t, params.p] {
        header.extend_from_slice(&w.to_be_bytes());
    }
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    header.extend_from_slice(&salt);
    let mut nonce = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    header.extend_from_slice(&nonce);
    let key = argon2_key(pass, &salt, params)?;
    aead_seal(&key, &header, &nonce, share)
}

/// Opens a passphrase-sealed share.
pub fn open_with_passphrase(sealed: &[u8], pass: &SecretText) -> Result<Share, SealError> {
    let info = sealed_info(sealed)?;
    let name = label(&info.set_id, info.index);
    let SealKind::Passphrase(params) = info.kind else {
        return Err(SealError::WrongKind(name, "a key", "a passphrase"));
    };
    params.check()?;
    let salt = &sealed[COMMON_LEN + 12..COMMON_LEN + 28];
    let key = argon2_key(pass, salt, params)?;
    let text = aead_open(&key, sealed, PASS_HEADER_LEN).ok_or(SealError::WrongPassphrase(name))?;
    Ok(Share::parse(text.expose(), None)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key a passphrase seal derives is the standard Argon2id output (version 0x13), whatever
    /// the crate does inside (its lanes now fill in parallel): the value was computed with the
    /// reference C implementation through argon2-cffi (`hash_secret_raw`, the recovery
    /// reference's own library), so a custodian's sealed file opens with any Argon2id.
    #[test]
    fn passphrase_key_is_the_reference_argon2id() {
        let pass = SecretText::new("correct horse battery staple".to_string());
        let salt: Vec<u8> = (0u8..16).collect();
        let key = argon2_key(&pass, &salt, Argon2Params::MINIMUM).expect("argon2id");
        assert_eq!(
            hex::encode(key.expose()),
            "853b272a44db1421c02962669a55eb0994f3cab385ed1c4c79253eee19bab49e"
        );
    }
}
