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

/// KCV of a data-encryption key (`CKA_ENCRYPT` true).
pub fn data_key_kcv(s: &TokenSession, key: ObjectHandle) -> Result<KeyCheckValue, HsmError> {
    let ct = s
        .raw()
        .encrypt(&Mechanism::AesEcb, key, &[0u8; 16])
        .map_err(|e| s.err("computing the key check value (C_Encrypt)", e))?;
    Ok(finish("ecb-zero-block-sha256", &ct))
}
