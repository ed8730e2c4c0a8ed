//! Key work more than one runner does: back up a key under a wrapping key (the `backup`
//! step, and after a rotation), certify the record-signing key (when generated, and when
//! restored by a recovery), and read the live backups a root KEK wraps.

use super::context::HsmContext;
use super::run::{write_new, CeremonyRun};
use super::step::{Failure, StepFailure};
use crate::hsm::backup::{backup_key, KeyBackup};
use crate::hsm::objects::describe_key;
use crate::hsm::signer::HsmSigner;
use crate::hsm::UserKind;
use crate::journal::Event;
use crate::operations::LiveBackup;
use serde_json::json;
use sha2::{Digest, Sha256};

/// Backs up `key` wrapped by `wrap_key` to `DATA/backups/`, journaled (`backup_made`) and
/// registered in the inventory.
pub(super) fn backup(
    run: &mut CeremonyRun,
    hsm: &HsmContext,
    key: &str,
    wrap_key: &str,
) -> Result<(), Failure> {
    let path = run
        .data_root()
        .join("backups")
        .join(format!("{key}-{}.krbak", run.id));
    run.intent(Some(key))?;
    let s = hsm.login(UserKind::User)?;
    let listing = describe_key(&s, key, &hsm.policies, &hsm.quirks)?;
    // One rule with `keyrite hsm backup` (`operations::choose_backup_policy`): the policy the
    // key was made under, as journaled, when several fit.
    let token = s.name();
    let pname = crate::operations::choose_backup_policy(
        &run.journal,
        crate::operations::KeyOnToken {
            label: key,
            token: &token,
            token_serial: &s.token().serial,
            satisfies: &listing.policies,
            failures: &listing.failures,
        },
        None,
    )
    .map_err(|e| StepFailure::refused(e.to_string()))?;
    let pol = hsm.policies.get(&pname)?;
    let (b, _) = backup_key(&s, key, pol, wrap_key, &hsm.quirks)?;
    let serial = s.token().serial.clone();
    drop(s);
    let text = b.encode();
    write_new(run.data_root(), &path, text.as_bytes())?;
    run.journal.append_with_details(
        Event::BackupMade {
            backup_id: format!("{key}-{}", run.id),
            key_id: key.into(),
            wrapped_by: wrap_key.into(),
            blob_sha256: hex::encode(Sha256::digest(text.as_bytes())),
            location: path.display().to_string(),
        },
        json!({"ceremony_id": run.id, "policy": pname, "wrapping_key_kcv": b.wrapping_key_kcv}),
    )?;
    let location = path.display().to_string();
    let backup_id = format!("{key}-{}", run.id);
    run.register_backup(&backup_id, key, wrap_key, &serial, &location)?;
    run.done_event()?;
    Ok(())
}

/// Stores a self-signed X.509 certificate for the record-signing key `label` (CKA_ID
/// `id_hex`) on the token: records carry it, verifiers pin its key.
pub(super) fn certify_record_signing(
    run: &CeremonyRun,
    hsm: &HsmContext,
    label: &str,
    id_hex: &str,
) -> Result<(), StepFailure> {
    let s = hsm.login(UserKind::User)?;
    let signer = HsmSigner::open(s, label, &hsm.quirks)?;
    let der = crate::x509::record_signing_certificate(
        &signer,
        &run.env.profile().site.name,
        crate::clock::now(),
    )?;
    drop(signer);
    let s = hsm.login(UserKind::User)?;
    let id = hex::decode(id_hex).unwrap_or_default();
    Ok(crate::hsm::certificate::store_certificate(
        &s, label, &id, &der,
    )?)
}

/// The live backups wrapped by `kek_id`, read from their files (every one must be
/// rewrapped or restored).
pub(super) fn live_backups(
    run: &CeremonyRun,
    kek_id: &str,
) -> Result<Vec<LiveBackup>, StepFailure> {
    let conn = run.journal.store().conn();
    let mut stmt = conn.prepare(
        "SELECT backup_id, location FROM inventory_backup WHERE live = 1 AND wrapped_by = ?1 ORDER BY backup_id",
    )?;
    let rows: Vec<(String, String)> = stmt
        .query_map([kek_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .and_then(|rows| rows.collect())?;
    rows.into_iter()
        .map(|(backup_id, location)| {
            let text = std::fs::read_to_string(&location).map_err(|e| {
                StepFailure::refused(format!(
                    "cannot read backup {backup_id} at {location}: {e}; every live backup must be rewrapped"
                ))
            })?;
            let backup = KeyBackup::decode(&location, &text)?;
            Ok(LiveBackup {
                backup_id,
                source_name: location,
                backup,
            })
        })
        .collect()
}
