//! Key check values for secret keys that do not weaken them.
//!
//! The usual KCV (the first bytes of E_K(0¹²⁸) or CMAC_K(0¹²⁸)) needs `CKA_ENCRYPT` or
//! `CKA_SIGN`, which the wrap-only root KEK must not have. Keyrite therefore uses, by what the
//! key may do:
//!
//! - `kwp-zero-key-sha256` (wrapping keys): wrap a throw-away session AES-256 key whose value is
//!   32 zero bytes with RFC 5649 (`CKM_AES_KEY_WRAP_PAD` or `CKM_AES_KEY_WRAP_KWP`, whichever
//!   the module offers: the output is the same); the KCV is the first 8 bytes of
//!   SHA-256("keyrite-kcv-v1" ‖ wrapped). RFC 5649 wrapping is deterministic, so the same KEK
//!   gives the same KCV on any token (which is how a backup names its wrapping key);
//! - `ecb-zero-block-sha256` (data keys): the first 8 bytes of
//!   SHA-256("keyrite-kcv-v1" ‖ AES-ECB_K(0¹²⁸)).
//!
//! Only a hash of one known-plaintext block leaves the token — less than a classic KCV reveals —
//! and the key gains no new usage.

use super::session::TokenSession;
use super::HsmError;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const DOMAIN: &[u8] = b"keyrite-kcv-v1";

/// A key check value and how it was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyCheckValue {
    /// `kwp-zero-key-sha256` or `ecb-zero-block-sha256`.
    pub method: String,
    /// 8 bytes, hex.
    pub value: String,
}

impl std::fmt::Display for KeyCheckValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.value, self.method)
    }
}

fn finish(method: &str, bytes: &[u8]) -> KeyCheckValue {
    let mut h = Sha256::new();
    h.update(DOMAIN);
    h.update(bytes);
    KeyCheckValue {
        method: method.into(),
        value: hex::encode(&h.finalize()[..8]),
    }
}

/// KCV of a wrapping key (`CKA_WRAP` true).
pub fn wrapping_key_kcv(s: &TokenSession, key: ObjectHandle) -> Result<KeyCheckValue, HsmError> {
    // A trusted wrapping key (the root KEK) may carry a wrap template asking for
    // CKA_WRAP_WITH_TRUSTED; an untrusted one could not wrap a probe that has it.
    let mech = super::wrap::choose(
        s.raw_ctx(),
        s.slot(),
        s.token(),
        None,
        "computing the key check value",
    )?;
    let trusted = s
        .raw()
        .get_attributes(key, &[cryptoki::object::AttributeType::Trusted])
        .map_err(|e| s.err("reading CKA_TRUSTED for the key check value", e))?
        .into_iter()
        .any(|a| matches!(a, Attribute::Trusted(true)));
    let probe = s
        .raw()
        .create_object(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Token(false),
            // A session object of a known all-zero value, destroyed below. Sensitive and
            // wrappable only by trusted keys so that it satisfies the root KEK's
            // CKA_WRAP_TEMPLATE (`hsm::protection::wrap_template`); public so that the check
            // value can be computed in any logged-in session.
            Attribute::Private(false),
            Attribute::Sensitive(true),
            Attribute::WrapWithTrusted(trusted),
            Attribute::Extractable(true),
            Attribute::Value(vec![0u8; 32]),
        ])
        .map_err(|e| s.err("creating the key-check probe key (C_CreateObject)", e))?;
    let wrapped = s.raw().wrap_key(&mech.mechanism(), key, probe);
    let _ = s.raw().destroy_object(probe);
    let wrapped = wrapped.map_err(|e| s.err("computing the key check value (C_WrapKey)", e))?;
    Ok(finish("kwp-zero-key-sha256", &wrapped))
}

/// The `kwp-zero-key-sha256` KCV of an AES-256 wrapping key given by value, computed on the
/// host: the same value [`wrapping_key_kcv`] gets from a token holding that key (RFC 5649 is
/// deterministic). Recovery compares a rebuilt root KEK with the recorded one with it before
/// the key goes anywhere near the HSM. `None` if `key` is not 32 bytes.
pub fn wrapping_key_kcv_of(key: &[u8]) -> Option<KeyCheckValue> {
    use aes::cipher::KeyInit;
    let kek = aes::Aes256::new_from_slice(key).ok()?;
    Some(finish("kwp-zero-key-sha256", &kwp_wrap(&kek, &[0u8; 32])))
}

/// RFC 5649 key wrap with padding of `plain` (more than 8 bytes) under `kek`.
fn kwp_wrap<C>(kek: &C, plain: &[u8]) -> Vec<u8>
where
    C: aes::cipher::BlockCipherEncrypt<BlockSize = aes::cipher::consts::U16>,
{
    let len = u32::try_from(plain.len()).unwrap_or(u32::MAX);
    let mut a = [0u8; 8];
    a[..4].copy_from_slice(&[0xA6, 0x59, 0x59, 0xA6]);
    a[4..].copy_from_slice(&len.to_be_bytes());
    let mut r: Vec<[u8; 8]> = plain
        .chunks(8)
        .map(|c| {
            let mut b = [0u8; 8];
            b[..c.len()].copy_from_slice(c);
            b
        })
        .collect();
    // RFC 3394's wrapping process W with the alternative initial value (n >= 2 here).
    let n = r.len() as u64;
    for j in 0..6u64 {
        for (i, ri) in r.iter_mut().enumerate() {
            let mut block = aes::Block::default();
            block[..8].copy_from_slice(&a);
            block[8..].copy_from_slice(ri);
            kek.encrypt_block(&mut block);
            let t = n * j + i as u64 + 1;
            for (k, x) in t.to_be_bytes().iter().enumerate() {
                a[k] = block[k] ^ x;
            }
            ri.copy_from_slice(&block[8..]);
        }
    }
    let mut out = a.to_vec();
    for ri in &r {
        out.extend_from_slice(ri);
    }
    out
}

/// KCV of a data-encryption key (`CKA_ENCRYPT` true).
pub fn data_key_kcv(s: &TokenSession, key: ObjectHandle) -> Result<KeyCheckValue, HsmError> {
    let ct = s
        .raw()
        .encrypt(&Mechanism::AesEcb, key, &[0u8; 16])
        .map_err(|e| s.err("computing the key check value (C_Encrypt)", e))?;
    Ok(finish("ecb-zero-block-sha256", &ct))
}

#[cfg(test)]
mod tests {
    use aes::cipher::KeyInit;

    #[test]
    fn key_wrap_with_padding_matches_rfc_5649() {
        // RFC 5649, section 6, first example (192-bit KEK, 20 octets of key data).
        let kek = aes::Aes192::new_from_slice(
            &hex::decode("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8").unwrap(),
        )
        .unwrap();
        let wrapped = super::kwp_wrap(
            &kek,
            &hex::decode("c37b7e6492584340bed12207808941155068f738").unwrap(),
        );
        assert_eq!(
            hex::encode(wrapped),
            "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a"
        );
    }

    #[test]
    fn only_an_aes_256_key_has_a_host_side_check_value() {
        assert!(super::wrapping_key_kcv_of(&[1u8; 16]).is_none());
        let kcv = super::wrapping_key_kcv_of(&[1u8; 32]).unwrap();
        assert_eq!(
            (kcv.method.as_str(), kcv.value.len()),
            ("kwp-zero-key-sha256", 16)
        );
    }
}
