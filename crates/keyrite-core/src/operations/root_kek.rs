//! Quorum-gated rotation of the root KEK: a new KEK is drawn, split into a new share set sealed
//! to each custodian's 9d key, imported, every live backup is rewrapped inside the HSM (unwrap
//! under the old KEK into a session object, wrap under the new one), the old share set is
//! recorded void and the old KEK is deactivated, then destroyed once nothing depends on it.

use std::path::Path;

use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use p256::pkcs8::DecodePublicKey;
use serde_json::json;

use super::destroy::{inventory_record, login, record_destruction};
use super::gate::{failed, gate, kek_fingerprint, key_ref, refuse, Quorum};
use super::{HsmAccess, OperationError};
use crate::hsm::backup::KeyBackup;
use crate::hsm::destroy::DestructionProof;
use crate::hsm::keygen::{private_template, KeyEvidence};
use crate::hsm::policy::KeySpec;
use crate::hsm::rootkek::{draw_root_kek, import_root_kek, seal_root_kek};
use crate::hsm::{HsmError, TokenSession, UserKind};
use crate::inventory::{self, KeyRecord, KeyState, NewKey};
use crate::journal::{Event, Journal};
use crate::quorum::{Operation, VerifiedQuorum};
use crate::shares::seal::seal_to_p256;

const OP: &str = "rotate-root-kek";

/// A live backup file made under the old root KEK.
#[derive(Debug, Clone)]
pub struct LiveBackup {
    /// Its inventory backup id.
    pub backup_id: String,
    /// Where it was read from (for messages).
    pub source_name: String,
    /// The decoded file.
    pub backup: KeyBackup,
}

/// One share of the new set, sealed to a custodian's 9d key (safe to store and hand over).
#[derive(Debug, Clone)]
pub struct SealedShare {
    /// The custodian it is sealed to.
    pub custodian_id: String,
    /// Share index (1..=N).
    pub index: u8,
    /// Share fingerprint, hex.
    pub fingerprint: String,
    /// The sealed bytes (`docs/formats/sealing.md`).
    pub sealed: Vec<u8>,
}

/// A completed root KEK rotation.
#[derive(Debug, Clone)]
pub struct RootKekRotation {
    /// Who approved.
    pub quorum: VerifiedQuorum,
    /// The new KEK's read-back evidence.
    pub new_kek: KeyEvidence,
    /// The new share set id (hex).
    pub share_set_id: String,
    /// The new shares, one per enrolled custodian, in the policy's order.
    pub sealed_shares: Vec<SealedShare>,
    /// The rewrapped backups: new backup id, file path, contents.
    pub backups: Vec<(String, String, KeyBackup)>,
    /// The old KEK's destruction proof, if nothing else depended on it.
    pub old_kek_destroyed: Option<DestructionProof>,
    /// Why the old KEK was kept (deactivated), if it was.
    pub old_kek_kept: Option<String>,
}

/// The new KEK's names.
#[derive(Debug, Clone)]
pub struct NewKek<'a> {
    /// Inventory key id.
    pub key_id: &'a str,
    /// `CKA_LABEL`.
    pub label: &'a str,
    /// K of the new share set (N is the number of enrolled custodians).
    pub threshold: u8,
    /// Where the rewrapped backup files are written (`<new backup id>.backup`).
    pub backup_dir: &'a Path,
}

fn live_backups(journal: &Journal, kek_id: &str) -> Result<Vec<(String, String)>, rusqlite::Error> {
    let conn = journal.store().conn();
    let mut stmt = conn.prepare("SELECT backup_id, key_id FROM inventory_backup WHERE live = 1 AND wrapped_by = ?1 ORDER BY backup_id")?;
    let rows = stmt.query_map([kek_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

fn find_secret(s: &TokenSession, op: &str, label: &str) -> Result<ObjectHandle, HsmError> {
    s.find(
        op,
        &[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::Label(label.as_bytes().to_vec()),
        ],
    )?
    .first()
    .copied()
    .ok_or_else(|| HsmError::KeyNotFound {
        operation: op.into(),
        token: s.name(),
        label: label.into(),
    })
}

/// Unwraps `b` under `old` into a session object (never a token object, never in the clear on
/// the host), wraps it under `new`, destroys the session object.
fn rewrap(
    s: &TokenSession,
    hsm: &HsmAccess<'_>,
    b: &LiveBackup,
    old: ObjectHandle,
    new: ObjectHandle,
    new_label: &str,
    new_kcv: &str,
) -> Result<KeyBackup, HsmError> {
    let op = format!("rewrapping backup {} ({})", b.backup_id, b.source_name);
    let policy = &hsm
        .policies
        .get(&b.backup.policy)?
        .for_module(hsm.quirks.for_token(s.token()));
    let mech = crate::hsm::wrap::choose(
        s.raw_ctx(),
        s.slot(),
        s.token(),
        Some(hsm.quirks.for_token(s.token())),
        &op,
    )?;
    let mut t = private_template(policy, &b.backup.label, &b.backup.id);
    // SoftHSM2 refuses CKA_MODIFIABLE false in C_UnwrapKey (CKR_ATTRIBUTE_READ_ONLY).
    t.retain(|a| {
        !matches!(
            a,
            Attribute::Token(_) | Attribute::ValueLen(_) | Attribute::Modifiable(_)
        )
    });
    t.push(Attribute::Token(false));
    t.push(Attribute::Class(if policy.key.is_secret() {
        ObjectClass::SECRET_KEY
    } else {
        ObjectClass::PRIVATE_KEY
    }));
    t.push(Attribute::KeyType(match policy.key {
        KeySpec::Aes256 => KeyType::AES,
        KeySpec::EcP256 | KeySpec::EcP384 => KeyType::EC,
        KeySpec::Ed25519 => KeyType::EC_EDWARDS,
        KeySpec::Rsa3072 | KeySpec::Rsa4096 => KeyType::RSA,
    }));
    let temp = s
        .raw()
        .unwrap_key(&mech.mechanism(), old, &b.backup.wrapped, &t)
        .map_err(|e| {
            s.err(
                &format!("{op}: unwrapping under the old root KEK (C_UnwrapKey)"),
                e,
            )
        })?;
    let wrapped = s.raw().wrap_key(&mech.mechanism(), new, temp);
    let _ = s.raw().destroy_object(temp);
    let wrapped = wrapped.map_err(|e| {
        s.err(
            &format!("{op}: wrapping under the new root KEK (C_WrapKey)"),
            e,
        )
    })?;
    Ok(KeyBackup {
        wrapping_key_label: new_label.into(),
        wrapping_key_kcv: new_kcv.into(),
        wrapped,
        mechanism: mech,
        ..b.backup.clone()
    })
}

/// Rotates the root KEK `kek_id` once `quorum` holds. `backups` must be exactly the live
/// backups the inventory records under the old KEK; the rewrapped files are written to
/// `new.backup_dir` as `<new backup id>.backup`. The new shares are returned sealed, one to each
/// custodian of `quorum.policy` (their enrolled 9d keys).
pub fn rotate_root_kek(
    journal: &mut Journal,
    hsm: &HsmAccess<'_>,
    quorum: &Quorum<'_>,
    kek_id: &str,
    new: &NewKek<'_>,
    backups: &[LiveBackup],
    actor: &str,
) -> Result<RootKekRotation, OperationError> {
    replace_root_kek(
        journal,
        hsm,
        quorum,
        Operation::Rotate,
        kek_id,
        new,
        backups,
        actor,
    )
}

/// [`rotate_root_kek`] approved as `operation`: [`Operation::Rotate`], or
/// [`Operation::ReplaceCustodian`] when the custodian set changes — the new shares go to the
/// custodians of `quorum.policy` only, and a departing custodian's old share (with any other
/// old shares) rebuilds nothing: the old KEK is gone.
#[expect(
    clippy::too_many_arguments,
    reason = "each argument is a distinct input of the operation; a struct would only rename them"
)]
pub fn replace_root_kek(
    journal: &mut Journal,
    hsm: &HsmAccess<'_>,
    quorum: &Quorum<'_>,
    operation: Operation,
    kek_id: &str,
    new: &NewKek<'_>,
    backups: &[LiveBackup],
    actor: &str,
) -> Result<RootKekRotation, OperationError> {
    // The rewrapped backups go into `new.backup_dir` itself, never through a link out of it
    // (the engine names `DATA/backups`): checked before anything is journaled or changed.
    let backup_root = new.backup_dir.parent().unwrap_or(new.backup_dir);
    crate::paths::ensure_dir_within(backup_root, new.backup_dir, "the rewrapped backups").map_err(
        |e| OperationError::Io {
            operation: OP,
            path: new.backup_dir.display().to_string(),
            reason: e.to_string(),
        },
    )?;
    let rec = inventory_record(journal, OP, kek_id)?;
    if rec.state != KeyState::Active {
        let reason = format!("it is {}; only the active root KEK is rotated", rec.state);
        return Err(refuse(journal, OP, kek_id, None, None, reason));
    }
    let recorded = live_backups(journal, kek_id).map_err(|reason| OperationError::RecordAfter {
        operation: OP,
        key_id: kek_id.into(),
        reason: reason.to_string(),
    })?;
    for (bid, key) in &recorded {
        if !backups.iter().any(|b| &b.backup_id == bid) {
            let reason = format!("live backup {bid} (of key {key}) is wrapped under it but its file was not given; every live backup must be rewrapped");
            return Err(refuse(journal, OP, kek_id, None, None, reason));
        }
    }
    for b in backups {
        let known = recorded.iter().any(|(bid, _)| bid == &b.backup_id);
        if !known || b.backup.wrapping_key_label != rec.label {
            let reason = format!(
                "backup {} ({}) is not a live backup under root KEK \"{}\" in the inventory",
                b.backup_id, b.source_name, rec.label
            );
            return Err(refuse(journal, OP, kek_id, None, None, reason));
        }
    }
    let custodians = quorum.policy.custodians();
    let mut recipients = Vec::new();
    for c in custodians {
        match p256::PublicKey::from_public_key_der(&c.key_management_spki) {
            Ok(k) => recipients.push((c.custodian_id.clone(), k)),
            Err(_) => {
                let reason = format!(
                    "custodian {}'s enrolled 9d key is not a P-256 public key",
                    c.custodian_id
                );
                return Err(refuse(journal, OP, kek_id, None, None, reason));
            }
        }
    }
    let count = u8::try_from(recipients.len()).unwrap_or(u8::MAX);
    let expected = key_ref(&rec).map_err(|e| {
        refuse(
            journal,
            OP,
            kek_id,
            None,
            None,
            format!("its inventory record cannot be approved: {e}"),
        )
    })?;

    // SO session: draw, split, seal, import. Sealing comes before the import so that a
    // failure leaves the token untouched.
    let so = login(journal, hsm, OP, kek_id, UserKind::So)?;
    let verified = gate(
        journal,
        quorum,
        operation,
        OP,
        kek_id,
        &expected,
        &rec.token_serial,
    )?;
    let hsm_err = |source| OperationError::Hsm {
        operation: OP,
        key_id: kek_id.into(),
        source: Box::new(source),
    };
    let kek = draw_root_kek(&so).map_err(|e| failed(journal, OP, kek_id, hsm_err(e)))?;
    let set = crate::shares::split(&kek, new.threshold, count).map_err(|source| {
        failed(
            journal,
            OP,
            kek_id,
            OperationError::Shares {
                operation: OP,
                key_id: kek_id.into(),
                source: Box::new(source),
            },
        )
    })?;
    let mut sealed_shares = Vec::new();
    for (share, (custodian_id, key)) in set.shares.iter().zip(&recipients) {
        let sealed = seal_to_p256(share, key).map_err(|source| {
            failed(
                journal,
                OP,
                kek_id,
                OperationError::Seal {
                    operation: OP,
                    source: Box::new(source),
                },
            )
        })?;
        sealed_shares.push(SealedShare {
            custodian_id: custodian_id.clone(),
            index: share.index(),
            fingerprint: share.fingerprint().hex(),
            sealed,
        });
    }
    let policy = hsm
        .policies
        .get("root-kek-import")
        .map_err(|e| failed(journal, OP, kek_id, hsm_err(e)))?;
    let staged = import_root_kek(&so, policy, new.label, kek, hsm.quirks, hsm.protection)
        .map_err(|e| failed(journal, OP, kek_id, hsm_err(e)))?;
    drop(so);

    // User session: seal the new KEK (private, read back), then rewrap every backup; on any
    // failure remove the new KEK again.
    let user = login(journal, hsm, OP, kek_id, UserKind::User)?;
    // A failed seal removes the staged KEK itself.
    let new_kek = seal_root_kek(&user, policy, staged, hsm.quirks)
        .map_err(|e| failed(journal, OP, kek_id, hsm_err(e)))?;
    let new_kcv = new_kek.kcv.clone().map(|k| k.value).unwrap_or_default();
    let rewrapped = (|| -> Result<Vec<(String, String, KeyBackup)>, OperationError> {
        let op = "rewrapping backups";
        let old_h = find_secret(&user, op, &rec.label).map_err(hsm_err)?;
        let new_h = find_secret(&user, op, new.label).map_err(hsm_err)?;
        let mut out = Vec::new();
        for b in backups {
            let nb = rewrap(&user, hsm, b, old_h, new_h, new.label, &new_kcv).map_err(hsm_err)?;
            let id = format!("{}@{}", b.backup_id, new.key_id);
            let name = format!("{id}.backup");
            // Never over an existing file, never through a link (crate::paths).
            let path = crate::paths::write_new_within(
                backup_root,
                new.backup_dir,
                &name,
                "rewrapped backup",
                nb.encode().as_bytes(),
            )
            .map_err(|e| OperationError::Io {
                operation: OP,
                path: new.backup_dir.join(&name).display().to_string(),
                reason: e.to_string(),
            })?;
            out.push((id, path.display().to_string(), nb));
        }
        Ok(out)
    })();
    let rewrapped = match rewrapped {
        Ok(r) => r,
        Err(e) => {
            let _ = crate::hsm::destroy::destroy_key(&user, new.label);
            return Err(failed(journal, OP, kek_id, e));
        }
    };

    // Record: new KEK, new share set, old set void, rewrapped backups, old KEK deactivated.
    let set_id = hex::encode(set.set_id.0);
    // Journaled as root-key-generation journals it: the result card reads the words from here.
    let set_words = set.set_id.words();
    let after = |e: &dyn std::fmt::Display| OperationError::RecordAfter {
        operation: OP,
        key_id: kek_id.into(),
        reason: e.to_string(),
    };
    let record = (|| -> Result<KeyRecord, crate::inventory::InventoryError> {
        // The read-back (attributes, KCV, key protection) as `details.evidence`, as the
        // root-key ceremony journals it: the record prints the new KEK's KCV and words.
        journal.append_with_details(
            Event::KeyImported {
                key_id: new.key_id.into(),
                label: new.label.into(),
                cka_id: new_kek.id.clone(),
                token_serial: rec.token_serial.clone(),
                algorithm: "aes-256".into(),
                source: format!(
                    "drawn in rotation of root KEK {kek_id}; split into share set {set_id}"
                ),
            },
            json!({ "evidence": &new_kek }),
        )?;
        inventory::register(
            journal,
            NewKey {
                key_id: new.key_id.into(),
                label: new.label.into(),
                purpose: rec.purpose.clone(),
                key_type: inventory::KeyType::from_name(&rec.key_type)
                    .unwrap_or(inventory::KeyType::SymmetricKeyWrapping),
                algorithm: rec.algorithm.clone(),
                token_serial: rec.token_serial.clone(),
                cka_id: new_kek.id.clone(),
                fingerprint: Some(kek_fingerprint(&new_kcv)),
                cryptoperiod_days: Some(rec.cryptoperiod_days),
                justification: rec.justification.clone(),
            },
            actor,
        )?;
        inventory::transition(journal, new.key_id, KeyState::Active, "new root KEK", actor)?;
        journal.append_with_details(
            Event::ShareSetCreated {
                set_id: set_id.clone(),
                protects_key_id: new.key_id.into(),
                threshold: new.threshold,
                share_count: count,
                share_fingerprints: sealed_shares
                    .iter()
                    .map(|s| s.fingerprint.clone())
                    .collect(),
            },
            json!({ "set_words": set_words }),
        )?;
        inventory::set_share_set(journal, new.key_id, &set_id)?;
        journal.append_with_details(
            Event::ShareSetVoided {
                set_id: rec.share_set_id.clone().unwrap_or_default(),
                reason: format!(
                    "the root KEK {kek_id} was rotated; superseded by share set {set_id}"
                ),
            },
            json!({"protected_key_id": kek_id, "superseded_by": set_id}),
        )?;
        for ((nid, path, nb), b) in rewrapped.iter().zip(backups) {
            let of = recorded
                .iter()
                .find(|(bid, _)| bid == &b.backup_id)
                .map(|(_, k)| k.clone())
                .unwrap_or_default();
            journal.append_with_details(
                Event::BackupMade {
                    backup_id: nid.clone(),
                    key_id: of.clone(),
                    wrapped_by: new.key_id.into(),
                    blob_sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(nb.encode())),
                    location: path.clone(),
                },
                json!({"wrapping_key_kcv": nb.wrapping_key_kcv}),
            )?;
            inventory::add_backup(journal, nid, &of, new.key_id, path)?;
            inventory::retire_backup(journal, &b.backup_id, &format!("rewrapped as {nid}"))?;
        }
        inventory::transition(
            journal,
            kek_id,
            KeyState::Deactivated,
            &format!("root KEK rotated to {}", new.key_id),
            actor,
        )
    })()
    .map_err(|e| after(&e))?;

    let (old_kek_destroyed, old_kek_kept) =
        match inventory::retention_guard(journal.store(), kek_id) {
            Err(e) => (None, Some(e.to_string())),
            Ok(()) => {
                let proof =
                    crate::hsm::destroy::destroy_key(&user, &rec.label).map_err(|e| after(&e))?;
                record_destruction(journal, &record, &proof, actor)?;
                (Some(proof), None)
            }
        };
    Ok(RootKekRotation {
        quorum: verified,
        new_kek,
        share_set_id: set_id,
        sealed_shares,
        backups: rewrapped,
        old_kek_destroyed,
        old_kek_kept,
    })
}
