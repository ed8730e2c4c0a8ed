//! Key backups wrapped under the root KEK (RFC 5649: `CKM_AES_KEY_WRAP_PAD` or
//! `CKM_AES_KEY_WRAP_KWP`, whichever the module offers; see `hsm::wrap`), and restore.
//!
//! The file format is documented in `docs/formats/backup.md`: UTF-8 lines `name: value` in a
//! fixed order, binary values in lower-case hex, ending with a SHA-256 of everything before
//! it. One canonical encoding: [`KeyBackup::encode`] is the only writer and
//! [`KeyBackup::decode`] accepts exactly what it writes. The SHA-256 catches corruption; a
//! forged wrapped key fails RFC 5649's own integrity check on unwrap, and the wrapping key's
//! check value names the KEK a backup needs before the token is asked.

use super::kcv::{self, KeyCheckValue};
use super::keygen::{
    ensure_label_free, find_key, private_template, public_template, read_back, require_user,
    KeyEvidence,
};
use super::policy::{KeyPolicy, KeySpec, Origin, PolicySet};
use super::quirks::Quirks;
use super::wrap::Rfc5649;
use super::session::TokenSession;
use super::HsmError;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use sha2::{Digest, Sha256};

const MAGIC: &str = "keyrite-key-backup-v1";
const FIELDS: &[&str] = &[
    "label",
    "id",
    "key",
    "policy",
    "wrapping-key-label",
    "wrapping-key-kcv",
    "mechanism",
    "public",
    "spki-sha256",
    "wrapped",
];

/// Errors reading or applying a backup file.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The file is shorter than the format.
    #[error(
        "backup file {source_name} is truncated: it ends before the \"{missing}\" line (after \
         line {lines}); restore from another copy"
    )]
    Truncated {
        /// The file.
        source_name: String,
        /// The first missing field.
        missing: String,
        /// Complete lines present.
        lines: usize,
    },
    /// A line is not what the format requires.
    #[error(
        "backup file {source_name} is corrupt at line {line}: {problem}; restore from another copy"
    )]
    Corrupt {
        /// The file.
        source_name: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        problem: String,
    },
    /// The SHA-256 line does not match the content.
    #[error(
        "backup file {source_name} is corrupt: its recorded SHA-256 {recorded} does not match \
         its contents ({computed}); restore from another copy"
    )]
    Integrity {
        /// The file.
        source_name: String,
        /// Recorded.
        recorded: String,
        /// Computed.
        computed: String,
    },
    /// The backup was wrapped under another KEK.
    #[error(
        "backup file {source_name} was wrapped under a key with check value {expected}, but \
         \"{kek_label}\" on {token} has check value {actual}; load the root KEK this backup \
         was made under (from its shares) before restoring"
    )]
    WrongWrappingKey {
        /// The file.
        source_name: String,
        /// KEK label on the token.
        kek_label: String,
        /// The token.
        token: String,
        /// KCV in the file.
        expected: String,
        /// KCV of the token's KEK.
        actual: String,
    },
    /// The token refused to unwrap the key (damaged or forged wrapped bytes).
    #[error(
        "backup file {source_name} does not unwrap under \"{kek_label}\" on {token} \
         (C_UnwrapKey: {rv}); its wrapped bytes are damaged or forged although its checksum \
         matches; restore from another copy"
    )]
    Unwrap {
        /// The file.
        source_name: String,
        /// KEK label.
        kek_label: String,
        /// The token.
        token: String,
        /// Return code in words.
        rv: String,
    },
    /// The restored public key differs from the one recorded.
    #[error(
        "restoring backup file {source_name}: the restored public key has SPKI SHA-256 \
         {actual}, the backup records {expected}; the restored objects were destroyed"
    )]
    PublicKeyMismatch {
        /// The file.
        source_name: String,
        /// Recorded fingerprint.
        expected: String,
        /// Restored fingerprint.
        actual: String,
    },
}

/// One key backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyBackup {
    /// `CKA_LABEL`.
    pub label: String,
    /// `CKA_ID`.
    pub id: Vec<u8>,
    /// Algorithm and size.
    pub key: KeySpec,
    /// Policy name (restored under the same policy).
    pub policy: String,
    /// Label of the wrapping root KEK.
    pub wrapping_key_label: String,
    /// KCV of the wrapping key (`kwp-zero-key-sha256`).
    pub wrapping_key_kcv: String,
    /// Public values: `CKA_EC_POINT` (EC, Ed25519) or `modulus || exponent` encoded as
    /// two hex strings joined by ':' (RSA); empty for secret keys.
    pub public: String,
    /// SHA-256 of the public key's SPKI, hex; empty for secret keys.
    pub spki_sha256: String,
    /// The RFC 5649 wrapped private/secret key.
    pub wrapped: Vec<u8>,
    /// The mechanism number it was wrapped with. Either unwraps it: both are RFC 5649.
    pub mechanism: Rfc5649,
}

fn value_ok(v: &str) -> bool {
    !v.chars().any(|c| c.is_control())
}

impl KeyBackup {
    /// The canonical encoding.
    pub fn encode(&self) -> String {
        let mut s = format!("{MAGIC}\n");
        let values = [
            self.label.clone(),
            hex::encode(&self.id),
            self.key.name().to_string(),
            self.policy.clone(),
            self.wrapping_key_label.clone(),
            self.wrapping_key_kcv.clone(),
            self.mechanism.name().to_string(),
            self.public.clone(),
            self.spki_sha256.clone(),
            hex::encode(&self.wrapped),
        ];
        for (f, v) in FIELDS.iter().zip(values) {
            s.push_str(&format!("{f}: {v}\n"));
        }
        let digest = hex::encode(Sha256::digest(s.as_bytes()));
        s.push_str(&format!("sha256: {digest}\n"));
        s
    }

    /// Parses exactly what [`KeyBackup::encode`] writes; `source_name` names the file.
    pub fn decode(source_name: &str, text: &str) -> Result<Self, BackupError> {
        let corrupt = |line: usize, problem: String| BackupError::Corrupt {
            source_name: source_name.into(),
            line,
            problem,
        };
        let complete: Vec<&str> = text
            .split_inclusive('\n')
            .filter(|l| l.ends_with('\n'))
            .collect();
        let all_names: Vec<&str> = std::iter::once("keyrite-key-backup-v1")
            .chain(FIELDS.iter().copied())
            .chain(std::iter::once("sha256"))
            .collect();
        if complete.len() < all_names.len() {
            return Err(BackupError::Truncated {
                source_name: source_name.into(),
                missing: all_names[complete.len()].into(),
                lines: complete.len(),
            });
        }
        let consumed: usize = complete.iter().map(|l| l.len()).sum();
        if complete.len() > all_names.len() || consumed != text.len() {
            return Err(corrupt(
                all_names.len() + 1,
                "unexpected text after the sha256 line".into(),
            ));
        }
        if complete[0] != format!("{MAGIC}\n") {
            return Err(corrupt(1, format!("the first line must be \"{MAGIC}\"")));
        }
        let mut values = Vec::new();
        for (i, name) in FIELDS.iter().chain(std::iter::once(&"sha256")).enumerate() {
            let line = complete[i + 1].trim_end_matches('\n');
            let prefix = format!("{name}: ");
            let v = line
                .strip_prefix(&prefix)
                .ok_or_else(|| corrupt(i + 2, format!("expected the \"{name}\" line")))?;
            if !value_ok(v) {
                return Err(corrupt(
                    i + 2,
                    format!("the \"{name}\" value has control characters"),
                ));
            }
            values.push((i + 2, v.to_string()));
        }
        let body_len: usize = complete[..complete.len() - 1].iter().map(|l| l.len()).sum();
        let computed = hex::encode(Sha256::digest(&text.as_bytes()[..body_len]));
        let recorded = values[FIELDS.len()].1.clone();
        if computed != recorded {
            return Err(BackupError::Integrity {
                source_name: source_name.into(),
                recorded,
                computed,
            });
        }
        let hexv = |i: usize| {
            hex::decode(&values[i].1)
                .map_err(|_| corrupt(values[i].0, format!("\"{}\" is not hex", FIELDS[i])))
        };
        let key = KeySpec::from_name(&values[2].1)
            .ok_or_else(|| corrupt(values[2].0, format!("unknown key type \"{}\"", values[2].1)))?;
        let mechanism = Rfc5649::from_name(&values[6].1).ok_or_else(|| {
            corrupt(
                values[6].0,
                format!("unsupported mechanism \"{}\"", values[6].1),
            )
        })?;
        Ok(KeyBackup {
            label: values[0].1.clone(),
            id: hexv(1)?,
            key,
            policy: values[3].1.clone(),
            wrapping_key_label: values[4].1.clone(),
            wrapping_key_kcv: values[5].1.clone(),
            public: values[7].1.clone(),
            spki_sha256: values[8].1.clone(),
            wrapped: hexv(9)?,
            mechanism,
        })
    }
}

fn find_kek(
    s: &TokenSession,
    op: &str,
    kek_label: &str,
) -> Result<(ObjectHandle, KeyCheckValue), HsmError> {
    let kek = find_key(s, kek_label)?
        .secret
        .ok_or_else(|| HsmError::KeyNotFound {
            operation: op.into(),
            token: s.name(),
            label: kek_label.into(),
        })?;
    let kcv = kcv::wrapping_key_kcv(s, kek)?;
    Ok((kek, kcv))
}

/// Refuses, before anything is journaled or read, a backup the module cannot make: no user
/// login, or no RFC 5649 wrapping ([`super::wrap::choose`]: vendor quirks, then the module's
/// own mechanism list). [`backup_key`] checks the same again.
pub fn check_backup(
    s: &TokenSession,
    label: &str,
    kek_label: &str,
    quirks: &Quirks,
) -> Result<(), HsmError> {
    let op = format!("backing up key \"{label}\" under \"{kek_label}\"");
    require_user(s, &op)?;
    let q = quirks.for_token(s.token());
    super::wrap::choose(s.raw_ctx(), s.slot(), s.token(), Some(q), &op)?;
    Ok(())
}

/// What [`restore_key`] checks before anything changes that does not need the key material:
/// login, what the module lacks for the backup's policy (vendor quirks), RFC 5649 wrapping.
/// Callers that journal the operation call it first.
pub fn check_restore(
    s: &TokenSession,
    source_name: &str,
    backup: &KeyBackup,
    policies: &PolicySet,
    quirks: &Quirks,
) -> Result<(), HsmError> {
    let op = format!(
        "restoring key \"{}\" from backup file {source_name}",
        backup.label
    );
    let policy = policies.get(&backup.policy)?;
    require_user(s, &op)?;
    let q = quirks.for_token(s.token());
    q.policy_for(policy, quirks.site_rule, &op, &s.name())?;
    super::wrap::choose(s.raw_ctx(), s.slot(), s.token(), Some(q), &op)?;
    Ok(())
}

/// Wraps the key labelled `label` (made under `policy`) under the root KEK `kek_label`.
/// The key is read back first; the backup records its public values and fingerprint.
pub fn backup_key(
    s: &TokenSession,
    label: &str,
    policy: &KeyPolicy,
    kek_label: &str,
    quirks: &Quirks,
) -> Result<(KeyBackup, KeyEvidence), HsmError> {
    let op = format!("backing up key \"{label}\" under \"{kek_label}\"");
    require_user(s, &op)?;
    let q = quirks.for_token(s.token());
    let policy = &q.policy_for(policy, quirks.site_rule, &op, &s.name())?;
    let mech = super::wrap::choose(s.raw_ctx(), s.slot(), s.token(), Some(q), &op)?;
    let objs = find_key(s, label)?;
    let key = objs
        .secret
        .or(objs.private)
        .ok_or_else(|| HsmError::KeyNotFound {
            operation: op.clone(),
            token: s.name(),
            label: label.into(),
        })?;
    let id = s
        .raw()
        .get_attributes(key, &[AttributeType::Id])
        .map_err(|e| s.err(&op, e))?
        .into_iter()
        .find_map(|a| match a {
            Attribute::Id(v) => Some(v),
            _ => None,
        })
        .unwrap_or_default();
    let mut evidence =
        read_back(s, policy, Origin::Generated, label, &id, key, objs.public).or_else(|_| {
            super::keygen::read_back_quirk(
                s,
                policy,
                Origin::Imported,
                label,
                &id,
                key,
                objs.public,
                Some(q),
            )
        })?;
    let (kek, kcv) = find_kek(s, &op, kek_label)?;
    let wrapped = s
        .raw()
        .wrap_key(&mech.mechanism(), kek, key)
        .map_err(|e| s.err(&format!("{op} (C_WrapKey)"), e))?;
    let public = match (objs.public, policy.key) {
        (None, _) => String::new(),
        (Some(p), KeySpec::Rsa3072 | KeySpec::Rsa4096) => {
            let a = s
                .raw()
                .get_attributes(p, &[AttributeType::Modulus, AttributeType::PublicExponent])
                .map_err(|e| s.err(&op, e))?;
            let mut parts = [String::new(), String::new()];
            for x in a {
                match x {
                    Attribute::Modulus(v) => parts[0] = hex::encode(v),
                    Attribute::PublicExponent(v) => parts[1] = hex::encode(v),
                    _ => {}
                }
            }
            parts.join(":")
        }
        (Some(p), _) => s
            .raw()
            .get_attributes(p, &[AttributeType::EcPoint])
            .map_err(|e| s.err(&op, e))?
            .into_iter()
            .find_map(|a| match a {
                Attribute::EcPoint(v) => Some(hex::encode(v)),
                _ => None,
            })
            .unwrap_or_default(),
    };
    let b = KeyBackup {
        label: label.into(),
        id,
        key: policy.key,
        policy: policy.name.clone(),
        wrapping_key_label: kek_label.into(),
        wrapping_key_kcv: kcv.value,
        public,
        spki_sha256: evidence.spki_sha256.clone().unwrap_or_default(),
        wrapped,
        mechanism: mech,
    };
    evidence.wrap_mechanism = Some(mech);
    Ok((b, evidence))
}

fn key_type(spec: KeySpec) -> KeyType {
    match spec {
        KeySpec::Aes256 => KeyType::AES,
        KeySpec::EcP256 | KeySpec::EcP384 => KeyType::EC,
        KeySpec::Ed25519 => KeyType::EC_EDWARDS,
        KeySpec::Rsa3072 | KeySpec::Rsa4096 => KeyType::RSA,
    }
}

/// Restores `backup` (read from `source_name`) under the root KEK `kek_label`, with the same
/// policy, then reads it back. Keys restored by unwrapping are reported as imported.
pub fn restore_key(
    s: &TokenSession,
    source_name: &str,
    backup: &KeyBackup,
    policies: &PolicySet,
    kek_label: &str,
    quirks: &Quirks,
) -> Result<KeyEvidence, HsmError> {
    let op = format!(
        "restoring key \"{}\" from backup file {source_name}",
        backup.label
    );
    let policy = policies.get(&backup.policy)?;
    if policy.key != backup.key {
        return Err(BackupError::Corrupt {
            source_name: source_name.into(),
            line: 4,
            problem: format!(
                "key type {} does not match policy \"{}\" ({})",
                backup.key.name(),
                policy.name,
                policy.key.name()
            ),
        }
        .into());
    }
    require_user(s, &op)?;
    let q = quirks.for_token(s.token());
    let policy = &q.policy_for(policy, quirks.site_rule, &op, &s.name())?;
    q.check_label(&op, &s.name(), &backup.label)?;
    // This token's own number for RFC 5649, whichever the backup was made with.
    let mech = super::wrap::choose(s.raw_ctx(), s.slot(), s.token(), Some(q), &op)?;
    ensure_label_free(s, &op, &backup.label)?;
    let (kek, kcv) = find_kek(s, &op, kek_label)?;
    if kcv.value != backup.wrapping_key_kcv {
        return Err(BackupError::WrongWrappingKey {
            source_name: source_name.into(),
            kek_label: kek_label.into(),
            token: s.name(),
            expected: backup.wrapping_key_kcv.clone(),
            actual: kcv.value,
        }
        .into());
    }
    let class = if policy.key.is_secret() {
        ObjectClass::SECRET_KEY
    } else {
        ObjectClass::PRIVATE_KEY
    };
    let mut t = private_template(policy, &backup.label, &backup.id);
    // Unwrapped as a session object, then copied onto the token non-modifiable (below):
    // SoftHSM2 refuses CKA_MODIFIABLE false in C_UnwrapKey (CKR_ATTRIBUTE_READ_ONLY), and a
    // session object dies with the process, so a crash before the copy leaves nothing behind.
    t.retain(|a| !matches!(a, Attribute::Modifiable(_) | Attribute::Token(_)));
    t.push(Attribute::Token(false));
    t.push(Attribute::Class(class));
    t.push(Attribute::KeyType(key_type(policy.key)));
    let value_len_quirk = q.unwrapped_value_len_zero && policy.key.is_secret();
    if value_len_quirk {
        t.retain(|a| !matches!(a, Attribute::ValueLen(_)));
    }
    let staged = s
        .raw()
        .unwrap_key(&mech.mechanism(), kek, &backup.wrapped, &t)
        .map_err(|e| {
            HsmError::from(BackupError::Unwrap {
                source_name: source_name.into(),
                kek_label: kek_label.into(),
                token: s.name(),
                rv: super::rv::error_words(&e),
            })
        })?;
    // CKA_MODIFIABLE last: the module applies the copy template in order, and once the copy is
    // non-modifiable it refuses every later entry. The restored key is then as unchangeable as a
    // generated one (no usage or label can be altered after the read-back the journal holds).
    let copied = s
        .raw()
        .copy_object(staged, &[Attribute::Token(true), Attribute::Modifiable(false)]);
    // The session copy goes either way; if this fails it still dies with the session.
    let _ = s.raw().destroy_object(staged);
    let key = copied.map_err(|e| {
        s.err(
            &format!("{op}: storing the unwrapped key on the token (C_CopyObject)"),
            e,
        )
    })?;
    let public = if policy.key.is_secret() {
        None
    } else {
        let mut pt = public_template(policy, &backup.label, &backup.id);
        pt.retain(|a| !matches!(a, Attribute::ModulusBits(_) | Attribute::PublicExponent(_)));
        pt.push(Attribute::Class(ObjectClass::PUBLIC_KEY));
        pt.push(Attribute::KeyType(key_type(policy.key)));
        let bad = |p: &str| -> HsmError {
            BackupError::Corrupt {
                source_name: source_name.into(),
                line: 9,
                problem: p.into(),
            }
            .into()
        };
        if let Some((n, e)) = backup.public.split_once(':') {
            pt.push(Attribute::Modulus(
                hex::decode(n).map_err(|_| bad("the RSA modulus is not hex"))?,
            ));
            pt.push(Attribute::PublicExponent(
                hex::decode(e).map_err(|_| bad("the RSA exponent is not hex"))?,
            ));
        } else {
            pt.push(Attribute::EcPoint(
                hex::decode(&backup.public).map_err(|_| bad("the EC point is not hex"))?,
            ));
        }
        match s.raw().create_object(&pt) {
            Ok(h) => Some(h),
            Err(e) => {
                let _ = s.raw().destroy_object(key);
                return Err(s.err(
                    &format!("{op}: recreating the public key (C_CreateObject)"),
                    e,
                ));
            }
        }
    };
    let cleanup = |s: &TokenSession| {
        let _ = s.raw().destroy_object(key);
        if let Some(p) = public {
            let _ = s.raw().destroy_object(p);
        }
    };
    let mut evidence = match super::keygen::read_back_quirk(
        s,
        policy,
        Origin::Imported,
        &backup.label,
        &backup.id,
        key,
        public,
        Some(q),
    ) {
        Ok(e) => e,
        Err(e) => {
            cleanup(s);
            return Err(e);
        }
    };
    if let Some(fp) = &evidence.spki_sha256 {
        if *fp != backup.spki_sha256 {
            cleanup(s);
            return Err(BackupError::PublicKeyMismatch {
                source_name: source_name.into(),
                expected: backup.spki_sha256.clone(),
                actual: fp.clone(),
            }
            .into());
        }
    }
    evidence.wrap_mechanism = Some(mech);
    Ok(evidence)
}

#[cfg(test)]
mod tests;
