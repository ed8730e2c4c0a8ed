//! The root KEK: drawn from the HSM's RNG mixed with the OS CSPRNG, imported as a sensitive,
//! non-extractable, trusted wrap/unwrap-only key, verified, and the host copy zeroized.
//!
//! Mixing: KEK = SHA-256("keyrite-root-kek-v1" ‖ 32 bytes from C_GenerateRandom ‖ 32 bytes
//! from the OS CSPRNG). Either source alone being good suffices. The intermediate buffers are
//! `SecretBytes`.
//!
//! Only the SO may set `CKA_TRUSTED`, and an SO session can create only public objects, so the
//! import runs as SO and the KEK object is `CKA_PRIVATE=false` (still sensitive and
//! non-extractable: its value never leaves the token).

use super::attributes::is_private_object;
use super::keygen::{ensure_label_free, fresh_id, private_template, read_back, KeyEvidence};
use super::policy::{KeyPolicy, Origin};
use super::quirks::{require_mechanism, Quirks};
use super::session::TokenSession;
use super::{HsmError, UserKind};
use crate::secret::SecretBytes;
use cryptoki::mechanism::MechanismType;
use cryptoki::object::{Attribute, KeyType, ObjectClass};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Draws a fresh 32-byte root KEK: HSM randomness mixed with the OS CSPRNG.
pub fn draw_root_kek(s: &TokenSession) -> Result<SecretBytes, HsmError> {
    let mut hsm = SecretBytes::zeroed(32);
    s.raw()
        .generate_random_slice(hsm.expose_mut())
        .map_err(|e| s.err("drawing randomness for the root KEK (C_GenerateRandom)", e))?;
    let mut os = SecretBytes::zeroed(32);
    rand::rngs::OsRng.fill_bytes(os.expose_mut());
    Ok(mix(&hsm, &os))
}

/// SHA-256("keyrite-root-kek-v1" ‖ hsm ‖ os) into a `SecretBytes`.
pub fn mix(hsm: &SecretBytes, os: &SecretBytes) -> SecretBytes {
    let mut h = Sha256::new();
    h.update(b"keyrite-root-kek-v1");
    h.update(hsm.expose());
    h.update(os.expose());
    let mut out = SecretBytes::zeroed(32);
    let mut digest = h.finalize();
    out.expose_mut().copy_from_slice(&digest);
    zeroize::Zeroize::zeroize(digest.as_mut_slice());
    out
}

/// Imports `kek` (consumed: zeroized when this returns) under `policy` (normally
/// "root-kek-import") in an SO session, reads it back and returns the evidence (origin
/// `imported`: not local, not always-sensitive).
pub fn import_root_kek(
    s: &TokenSession,
    policy: &KeyPolicy,
    label: &str,
    kek: SecretBytes,
    quirks: &Quirks,
) -> Result<KeyEvidence, HsmError> {
    let op = format!(
        "importing the root KEK \"{label}\" under policy \"{}\"",
        policy.name
    );
    policy.validate()?;
    if policy.origin != Origin::Imported || !policy.key.is_secret() {
        return Err(HsmError::PolicyInvalid {
            policy: policy.name.clone(),
            problem: "importing the root KEK needs an imported AES policy".into(),
        });
    }
    let who = if is_private_object(policy) {
        UserKind::User
    } else {
        UserKind::So
    };
    if s.user() != Some(who) {
        return Err(HsmError::Call {
            operation: op,
            target: s.name(),
            rv: format!(
                "CKR_USER_NOT_LOGGED_IN (nobody is logged in to the token); log in as {who} first"
            ),
        });
    }
    if kek.len() != 32 {
        return Err(HsmError::Malformed {
            operation: op,
            token: s.name(),
            problem: format!("the root KEK has {} bytes, AES-256 needs 32", kek.len()),
        });
    }
    let q = quirks.for_token(s.token());
    q.check_label(&op, &s.name(), label)?;
    require_mechanism(
        s.raw_ctx(),
        s.slot(),
        s.token(),
        q,
        &op,
        MechanismType::AES_KEY_WRAP_PAD,
    )?;
    ensure_label_free(s, &op, label)?;
    let id = fresh_id(s)?;
    let mut t = private_template(policy, label, &id);
    t.retain(|a| !matches!(a, Attribute::ValueLen(_)));
    t.push(Attribute::Class(ObjectClass::SECRET_KEY));
    t.push(Attribute::KeyType(KeyType::AES));
    t.push(Attribute::Trusted(policy.trusted));
    // The only copy of the key value outside `kek`: a Vec inside the template, zeroized below.
    t.push(Attribute::Value(kek.expose().to_vec()));
    let created = s.raw().create_object(&t);
    for a in t.iter_mut() {
        if let Attribute::Value(v) = a {
            zeroize::Zeroize::zeroize(v);
        }
    }
    drop(kek);
    let h = created.map_err(|e| s.err(&format!("{op} (C_CreateObject)"), e))?;
    read_back(s, policy, Origin::Imported, label, &id, h, None)
}
