//! Recovery: K sealed shares opened by their custodians' YubiKeys, combined with every check,
//! imported into a (fresh) token as the root KEK, verified against the recorded fingerprint;
//! then backups are restored under it.

use serde_json::json;

use super::destroy::login;
use super::gate::{failed, kek_fingerprint, refuse};
use super::{HsmAccess, OperationError};
use crate::custodian::enrol::EnrolmentRecord;
use crate::custodian::unseal::unseal_shared_secret;
use crate::custodian::{CustodianError, PivToken};
use crate::hsm::backup::{restore_key, KeyBackup};
use crate::hsm::keygen::KeyEvidence;
use crate::hsm::rootkek::{import_root_kek, seal_root_kek};
use crate::hsm::{TokenSession, UserKind};
use crate::inventory::{self, KeyRecord, KeyState, NewKey};
use crate::journal::{Event, Journal};
use crate::secret::SecretBytes;
use crate::shares::seal::{ephemeral_public, open_with_shared_secret};
use crate::shares::Share;

const OP: &str = "recover";

/// A completed recovery.
#[derive(Debug, Clone)]
pub struct Recovery {
    /// The imported KEK's read-back evidence.
    pub evidence: KeyEvidence,
    /// The recovered KEK's inventory record (active, on the new token).
    pub record: KeyRecord,
    /// The custodians whose shares were combined.
    pub custodians: Vec<String>,
}

/// Opens a share sealed to `custodian`'s 9d key with their card and PIN: the card computes
/// the ECDH, the host decrypts. The card must be the enrolled one.
pub fn open_sealed_share(
    token: &mut dyn PivToken,
    custodian: &EnrolmentRecord,
    pin: &SecretBytes,
    sealed: &[u8],
) -> Result<Share, OperationError> {
    let card = |source| OperationError::Custodian {
        operation: OP,
        custodian_id: custodian.custodian_id.clone(),
        source: Box::new(source),
    };
    if token.serial() != custodian.yubikey_serial {
        return Err(card(CustodianError::WrongSerial {
            expected: custodian.yubikey_serial,
            found: vec![token.serial()],
        }));
    }
    let seal = |source| OperationError::Seal {
        operation: OP,
        source: Box::new(source),
    };
    let eph = ephemeral_public(sealed).map_err(seal)?;
    let point = p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&eph, false);
    let shared = unseal_shared_secret(token, pin, point.as_bytes()).map_err(card)?;
    open_with_shared_secret(sealed, &shared).map_err(seal)
}

/// Rebuilds the root KEK recorded as inventory key `kek_id` from `shares` (custodian id and
/// opened share), imports it into the token of `hsm` as `label` (SO PIN needed), checks its
/// check value against the recorded fingerprint (else removes it again), and records it as
/// inventory key `new_key_id`, active, protected by the same share set. With `new_key_id`
/// equal to `kek_id` the existing entry moves to the new token instead
/// ([`inventory::relocate`]): the engine's recovery, into a replacement for a lost token.
pub fn recover_root_kek(
    journal: &mut Journal,
    hsm: &HsmAccess<'_>,
    kek_id: &str,
    new_key_id: &str,
    label: &str,
    shares: Vec<(String, Share)>,
    actor: &str,
) -> Result<Recovery, OperationError> {
    let rec = super::destroy::inventory_record(journal, OP, kek_id)?;
    let Some(set_id) = rec.share_set_id.clone() else {
        let reason = "the inventory records no share set protecting it".to_string();
        return Err(refuse(journal, OP, kek_id, None, None, reason));
    };
    let opened: Vec<(String, u8, String)> = shares
        .iter()
        .map(|(c, s)| (c.clone(), s.index(), s.fingerprint().hex()))
        .collect();
    let only: Vec<Share> = shares.into_iter().map(|(_, s)| s).collect();
    let rebuilt = match crate::shares::combine(&only) {
        Ok(r) => r,
        Err(e) => return Err(refuse(journal, OP, kek_id, None, None, e.to_string())),
    };
    if hex::encode(rebuilt.set_id.0) != set_id {
        let reason = format!(
            "the shares belong to set {}, but the key is protected by set {set_id}",
            hex::encode(rebuilt.set_id.0)
        );
        return Err(refuse(journal, OP, kek_id, None, None, reason));
    }
    // The rebuilt key must be the recorded one before it goes near the token: its check value
    // is computed on the host exactly as the token computes it (hsm::kcv). The comparison
    // after the import below stays: it is the token's own word.
    if let Some(kcv) = crate::hsm::kcv::wrapping_key_kcv_of(rebuilt.secret.expose()) {
        let fp = kek_fingerprint(&kcv.value);
        if Some(&fp) != rec.fingerprint.as_ref() {
            let reason = format!(
                "the rebuilt key has fingerprint {fp}, the inventory records {}; nothing was imported",
                rec.fingerprint.as_deref().unwrap_or("none")
            );
            return Err(refuse(journal, OP, kek_id, None, None, reason));
        }
    }
    let so = login(journal, hsm, OP, kek_id, UserKind::So)?;
    let hsm_err = |source| OperationError::Hsm {
        operation: OP,
        key_id: kek_id.into(),
        source: Box::new(source),
    };
    let policy = hsm
        .policies
        .get("root-kek-import")
        .map_err(|e| failed(journal, OP, kek_id, hsm_err(e)))?;
    let staged = import_root_kek(
        &so,
        policy,
        label,
        rebuilt.secret,
        hsm.quirks,
        hsm.protection,
    )
    .map_err(|e| failed(journal, OP, kek_id, hsm_err(e)))?;
    drop(so);
    // User session: make the KEK private and read it back (see hsm::rootkek::seal_root_kek).
    // A failed seal removes the staged KEK itself.
    let user = login(journal, hsm, OP, kek_id, UserKind::User)?;
    let evidence = seal_root_kek(&user, policy, staged, hsm.quirks)
        .map_err(|e| failed(journal, OP, kek_id, hsm_err(e)))?;
    drop(user);
    let kcv = evidence.kcv.clone().map(|k| k.value).unwrap_or_default();
    let fp = kek_fingerprint(&kcv);
    if Some(&fp) != rec.fingerprint.as_ref() {
        if let Ok(user) = login(journal, hsm, OP, kek_id, UserKind::User) {
            let _ = crate::hsm::destroy::destroy_key(&user, label);
        }
        let reason = format!(
            "the rebuilt key has fingerprint {fp}, the inventory records {}; the imported key was removed",
            rec.fingerprint.as_deref().unwrap_or("none")
        );
        return Err(refuse(journal, OP, kek_id, None, None, reason));
    }
    let token_serial = hsm
        .module
        .find_token(&hsm.token)
        .map(|(_, t)| t.serial)
        .map_err(|e| OperationError::RecordAfter {
            operation: OP,
            key_id: kek_id.into(),
            reason: e.to_string(),
        })?;
    let custodians: Vec<String> = opened.iter().map(|(c, _, _)| c.clone()).collect();
    let record = (|| -> Result<KeyRecord, inventory::InventoryError> {
        for (c, index, fingerprint) in &opened {
            journal.append(Event::ShareVerified {
                set_id: set_id.clone(),
                index: *index,
                fingerprint: fingerprint.clone(),
                custodian_id: c.clone(),
            })?;
        }
        // The read-back as `details.evidence`: the record prints the KCV and its words.
        journal.append_with_details(
            Event::KeyImported {
                key_id: new_key_id.into(),
                label: label.into(),
                cka_id: evidence.id.clone(),
                token_serial: token_serial.clone(),
                algorithm: "aes-256".into(),
                source: format!("recovered from share set {set_id} (key {kek_id})"),
            },
            json!({ "evidence": &evidence }),
        )?;
        if new_key_id == kek_id {
            // The same key rebuilt onto another token (the old one lost): its entry moves
            // with it, keeping its state and the backups made under it, so there is one
            // active root KEK and it is on the token that holds it.
            let reason = format!(
                "root-key recovery by {actor}: rebuilt from share set {set_id} into token {token_serial}, in place of its copy on token {}",
                rec.token_serial
            );
            return inventory::relocate(journal, kek_id, &token_serial, &evidence.id, &reason)
                .and_then(|r| {
                    journal.append_with_details(
                        Event::Note {
                            kind: "root_kek_recovered".into(),
                        },
                        json!({"key_id": kek_id, "recovered_key_id": kek_id, "custodians": custodians}),
                    )?;
                    Ok(r)
                });
        }
        inventory::register(
            journal,
            NewKey {
                key_id: new_key_id.into(),
                label: label.into(),
                purpose: rec.purpose.clone(),
                key_type: inventory::KeyType::from_name(&rec.key_type)
                    .unwrap_or(inventory::KeyType::SymmetricKeyWrapping),
                algorithm: rec.algorithm.clone(),
                token_serial: token_serial.clone(),
                cka_id: evidence.id.clone(),
                fingerprint: Some(fp.clone()),
                cryptoperiod_days: Some(rec.cryptoperiod_days),
                justification: rec.justification.clone(),
            },
            actor,
        )?;
        inventory::set_share_set(journal, new_key_id, &set_id)?;
        journal.append_with_details(
            Event::Note {
                kind: "root_kek_recovered".into(),
            },
            json!({"key_id": new_key_id, "recovered_key_id": kek_id, "custodians": custodians}),
        )?;
        inventory::transition(
            journal,
            new_key_id,
            KeyState::Active,
            "recovered root KEK",
            actor,
        )
    })()
    .map_err(|e| OperationError::RecordAfter {
        operation: OP,
        key_id: kek_id.into(),
        reason: e.to_string(),
    })?;
    Ok(Recovery {
        evidence,
        record,
        custodians,
    })
}

/// Restores backup `backup_id` (read from `source_name`) under the root KEK `kek_label` on the
/// session's token and journals `backup_restored`.
pub fn restore_backup(
    journal: &mut Journal,
    session: &TokenSession,
    hsm: &HsmAccess<'_>,
    backup_id: &str,
    source_name: &str,
    backup: &KeyBackup,
    kek_label: &str,
) -> Result<KeyEvidence, OperationError> {
    let evidence = restore_key(
        session,
        source_name,
        backup,
        hsm.policies,
        kek_label,
        hsm.quirks,
    )
    .map_err(|source| {
        failed(
            journal,
            "restore",
            backup_id,
            OperationError::Hsm {
                operation: "restore",
                key_id: backup.label.clone(),
                source: Box::new(source),
            },
        )
    })?;
    journal
        .append(Event::BackupRestored {
            backup_id: backup_id.into(),
            key_id: backup.label.clone(),
            token_serial: session.token().serial.clone(),
        })
        .map_err(|e| OperationError::RecordAfter {
            operation: "restore",
            key_id: backup.label.clone(),
            reason: e.to_string(),
        })?;
    Ok(evidence)
}
