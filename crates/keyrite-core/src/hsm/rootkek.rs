//! The root KEK: drawn from the HSM's RNG mixed with the OS CSPRNG, imported as a private,
//! sensitive, non-extractable, non-modifiable, trusted wrap/unwrap-only key carrying
//! `CKA_UNWRAP_TEMPLATE` (and `CKA_WRAP_TEMPLATE`), verified, and the host copy zeroized.
//!
//! Mixing: KEK = SHA-256("keyrite-root-kek-v1" ‖ 32 bytes from C_GenerateRandom ‖ 32 bytes
//! from the OS CSPRNG). Either source alone being good suffices. The intermediate buffers are
//! `SecretBytes`.
//!
//! Only the SO may set `CKA_TRUSTED`, and a PKCS#11 SO session can create only public objects.
//! The import is therefore two calls: [`import_root_kek`] in an SO session creates the trusted
//! key (public unless the module's quirks say the SO may create it private), and
//! [`seal_root_kek`] in a user session makes it private where the quirks name a way
//! (`trusted_keys = "copy-to-private"`: copy with `CKA_PRIVATE` true, destroy the public
//! original), then reads it back and states which protection applied ([`KeyProtection`]).
//! Which way is taken is asked of the quirks, never of a vendor name.

use super::attributes::{expected, Half};
use super::keygen::{
    ensure_label_free, fresh_id, private_template, read_back_expecting, require_user, KeyEvidence,
};
use super::policy::{KeyPolicy, Origin};
use super::protection::{self, KeyProtection, ProtectionRule};
use super::quirks::{Quirks, TrustedKeys};
use super::session::TokenSession;
use super::{HsmError, UserKind};
use crate::secret::SecretBytes;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass};
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

/// A root KEK created by [`import_root_kek`] in an SO session, not yet sealed: pass it to
/// [`seal_root_kek`] in a user session before anything else uses the KEK.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a staged root KEK must be sealed in a user session (seal_root_kek)"]
pub struct StagedKek {
    /// `CKA_LABEL`.
    pub label: String,
    /// `CKA_ID`.
    pub id: Vec<u8>,
    /// The protection decided from the quirks and accepted by the site's rule.
    pub protection: KeyProtection,
}

/// Imports `kek` (consumed: zeroized when this returns) under `policy` (normally
/// "root-kek-import") in an SO session. The protection the module can give is decided from the
/// quirks and checked against `rule` before anything is created; production refuses weaker
/// protection unless the site profile accepts it. Returns the staged KEK, to be sealed by
/// [`seal_root_kek`] in a user session.
pub fn import_root_kek(
    s: &TokenSession,
    policy: &KeyPolicy,
    label: &str,
    kek: SecretBytes,
    quirks: &Quirks,
    rule: ProtectionRule,
) -> Result<StagedKek, HsmError> {
    let op = format!(
        "importing the root KEK \"{label}\" under policy \"{}\"",
        policy.name
    );
    policy.validate()?;
    let q = quirks.for_token(s.token());
    let policy = &policy.for_module(q);
    if policy.origin != Origin::Imported
        || !policy.key.is_secret()
        || !(policy.trusted || policy.without_trusted_keys)
    {
        return Err(HsmError::PolicyInvalid {
            policy: policy.name.clone(),
            problem: "importing the root KEK needs an imported, trusted AES policy".into(),
        });
    }
    if s.user() != Some(UserKind::So) {
        return Err(HsmError::Call {
            operation: op,
            target: s.name(),
            rv: "CKR_USER_NOT_LOGGED_IN (the SO is not logged in to the token); only the SO may \
                 set CKA_TRUSTED: log in as SO first"
                .into(),
        });
    }
    if kek.len() != 32 {
        return Err(HsmError::Malformed {
            operation: op,
            token: s.name(),
            problem: format!("the root KEK has {} bytes, AES-256 needs 32", kek.len()),
        });
    }
    q.require_key_attributes(&op, &s.name())?;
    let protection = KeyProtection::plan(q).check(rule, &op, &s.name())?;
    q.check_label(&op, &s.name(), label)?;
    super::wrap::choose(s.raw_ctx(), s.slot(), s.token(), Some(q), &op)?;
    ensure_label_free(s, &op, label)?;
    let id = fresh_id(s)?;
    let mut t = private_template(policy, label, &id);
    t.retain(|a| {
        !matches!(
            a,
            Attribute::ValueLen(_) | Attribute::Private(_) | Attribute::Modifiable(_)
        )
    });
    t.push(Attribute::Class(ObjectClass::SECRET_KEY));
    t.push(Attribute::KeyType(KeyType::AES));
    // A module that refuses CKA_TRUSTED refuses it even as false: the attribute is left out.
    if q.trusted_keys != TrustedKeys::Unsupported {
        t.push(Attribute::Trusted(policy.trusted));
    }
    let copy = matches!(
        q.trusted_keys,
        TrustedKeys::CopyToPrivate | TrustedKeys::Unsupported
    );
    t.push(Attribute::Private(q.trusted_keys == TrustedKeys::Supported));
    // The copy that makes it private needs the original copyable and modifiable (C_CopyObject
    // applies its template as a modification); the copy itself is made non-modifiable. Without
    // that step the KEK is non-modifiable and non-copyable from the start: nobody may add
    // CKA_DECRYPT (an AES-ECB oracle unwraps any backup) or copy it with other templates.
    t.push(Attribute::Modifiable(copy));
    t.push(Attribute::Copyable(copy));
    // Templates are set only where the quirks say the module enforces them: a module that
    // does not know the attribute would refuse the whole object.
    if q.unwrap_template {
        t.push(protection::unwrap_template(protection.kek_trusted));
    }
    if q.wrap_template {
        t.push(protection::wrap_template(protection.kek_trusted));
    }
    // The only copy of the key value outside `kek`: a Vec inside the template, zeroized below.
    t.push(Attribute::Value(kek.expose().to_vec()));
    let created = s.raw().create_object(&t);
    for a in t.iter_mut() {
        if let Attribute::Value(v) = a {
            zeroize::Zeroize::zeroize(v);
        }
    }
    drop(kek);
    created.map_err(|e| s.err(&format!("{op} (C_CreateObject)"), e))?;
    Ok(StagedKek {
        label: label.into(),
        id,
        protection,
    })
}

/// Seals a staged root KEK in a user session: where the quirks say so (`copy-to-private`),
/// copies it with `CKA_PRIVATE` true and `CKA_MODIFIABLE` false and destroys the public
/// original; then reads the KEK back against its policy (with the privacy and
/// non-modifiability the protection promises) and returns the evidence, which carries
/// `key_protection`.
///
/// On failure every object carrying the staged KEK's label and id is destroyed again, so that
/// no public or half-sealed KEK stays on the token and the import can be retried.
pub fn seal_root_kek(
    s: &TokenSession,
    policy: &KeyPolicy,
    staged: StagedKek,
    quirks: &Quirks,
) -> Result<KeyEvidence, HsmError> {
    let op = format!("sealing the root KEK \"{}\"", staged.label);
    require_user(s, &op)?;
    let template = [
        Attribute::Label(staged.label.as_bytes().to_vec()),
        Attribute::Id(staged.id.clone()),
    ];
    seal_inner(s, policy, staged, quirks, &op).inspect_err(|_| {
        for h in s.find(&op, &template).unwrap_or_default() {
            let _ = s.raw().destroy_object(h);
        }
    })
}

fn seal_inner(
    s: &TokenSession,
    policy: &KeyPolicy,
    staged: StagedKek,
    quirks: &Quirks,
    op: &str,
) -> Result<KeyEvidence, HsmError> {
    let label = staged.label.as_str();
    let q = quirks.for_token(s.token());
    let policy = &policy.for_module(q);
    let find = |private: Option<bool>| {
        let mut t = vec![
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(staged.id.clone()),
        ];
        if let Some(p) = private {
            t.push(Attribute::Private(p));
        }
        s.find(op, &t)
    };
    let not_found = || HsmError::KeyNotFound {
        operation: op.into(),
        token: s.name(),
        label: label.into(),
    };
    let h = if matches!(
        q.trusted_keys,
        TrustedKeys::CopyToPrivate | TrustedKeys::Unsupported
    ) {
        let original = find(Some(false))?.first().copied().ok_or_else(not_found)?;
        // CKA_MODIFIABLE last: the module applies the copy template in order, and once the
        // copy is non-modifiable it refuses every later entry.
        let copy = s
            .raw()
            .copy_object(
                original,
                &[Attribute::Private(true), Attribute::Modifiable(false)],
            )
            .map_err(|e| {
                s.err(
                    &format!(
                        "{op}: copying it into a private object (C_CopyObject); the staged KEK \
                         was removed, import it again"
                    ),
                    e,
                )
            })?;
        if let Err(e) = s.raw().destroy_object(original) {
            return Err(s.err(
                &format!(
                    "{op}: destroying the public original after the private copy was made \
                     (C_DestroyObject); the staged KEK and its copy are being removed, check \
                     with `keyrite hsm keys` that no \"{label}\" is left before importing again"
                ),
                e,
            ));
        }
        copy
    } else {
        find(None)?.first().copied().ok_or_else(not_found)?
    };
    let mut exp = expected(policy, Half::Secret, Origin::Imported);
    for e in exp.iter_mut().filter(|e| e.ty == AttributeType::Private) {
        e.value = staged.protection.kek_login_required.to_string();
    }
    let mut ev = read_back_expecting(s, policy, Origin::Imported, label, &staged.id, h, None, exp)?;
    ev.key_protection = Some(staged.protection);
    ev.wrap_mechanism = Some(super::wrap::choose(
        s.raw_ctx(),
        s.slot(),
        s.token(),
        Some(q),
        op,
    )?);
    Ok(ev)
}
