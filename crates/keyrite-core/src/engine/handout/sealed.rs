//! Shares sealed to enrolled custodians' YubiKeys by `distribute-share`: share i goes to the
//! custodian who checked in as `custodian-i` when the custodian register holds an active
//! enrolment of that name; it is sealed to their 9d public key (no card needed) and written
//! where the quorum operations write theirs.

use super::{bad, next_undistributed};
use crate::custodian::enrol::EnrolmentRecord;
use crate::engine::error::EngineError;
use crate::engine::run::{write_new, CeremonyRun};
use crate::engine::step::StepFailure;
use crate::inventory::custodians as register;
use crate::journal::Event;
use crate::shares::seal::seal_to_p256;
use p256::pkcs8::DecodePublicKey;
use serde_json::json;
use sha2::{Digest, Sha256};

/// The enrolled custodian share `i` goes to: the active enrolment whose name is the name the
/// ceremony's participant `custodian-i` checked in with (names, not ids: `custodian-i` is this
/// ceremony's seat, `yk-<serial>` the register's). `None`: not enrolled, so the share is shown
/// or passphrase-sealed.
fn enrolled_holder(run: &CeremonyRun, i: u8) -> Result<Option<EnrolmentRecord>, EngineError> {
    let Some(p) = run.participant(&format!("custodian-{i}")) else {
        return Ok(None);
    };
    Ok(register::active(run.journal.store())?
        .into_iter()
        .map(|c| c.record)
        .find(|r| r.name == p.name))
}

/// Seals each next share whose custodian is enrolled to their YubiKey's 9d public key (no
/// card needed), writes it to `DATA/shares/<set>/share-<i>-<custodian>.sealed` as the quorum
/// operations do, journals the hand-over and drops the share from memory. Stops at the first
/// share whose custodian is not enrolled (that one waits for the room).
pub(super) fn seal_to_enrolled(run: &mut CeremonyRun) -> Result<Option<StepFailure>, EngineError> {
    while let Some(i) = next_undistributed(run) {
        let Some(rec) = enrolled_holder(run, i)? else {
            return Ok(None);
        };
        let set_id = run
            .set
            .as_ref()
            .map(|s| s.set_id.clone())
            .unwrap_or_default();
        let Some(share) = run
            .shares
            .as_ref()
            .and_then(|s| s.shares.iter().find(|s| s.index() == i))
        else {
            return Err(bad(format!("share {i} is not in memory")));
        };
        let Ok(key) = p256::PublicKey::from_public_key_der(&rec.key_management_spki) else {
            return Ok(Some(StepFailure::refused(format!(
                "custodian {}'s enrolled 9d key is not a P-256 public key; share {i} cannot be sealed to it",
                rec.custodian_id
            ))));
        };
        let sealed = seal_to_p256(share, &key).map_err(|e| bad(e.to_string()))?;
        let fingerprint = share.fingerprint().hex();
        let path = run
            .data_root()
            .join("shares")
            .join(&set_id)
            .join(format!("share-{i}-{}.sealed", rec.custodian_id));
        if let Err(f) = write_new(run.data_root(), &path, &sealed) {
            return Ok(Some(f));
        }
        run.journal.append_with_details(
            Event::ShareDistributed {
                ceremony_id: run.id.clone(),
                set_id,
                index: i,
                custodian_id: rec.custodian_id.clone(),
                shown: false,
                sealed_file: Some(path.display().to_string()),
                sealed_sha256: Some(hex::encode(Sha256::digest(&sealed))),
            },
            json!({
                "sealed_to": "the custodian's YubiKey (9d)",
                "custodian_name": rec.name,
                "yubikey_serial": rec.yubikey_serial,
                "fingerprint": fingerprint,
            }),
        )?;
        if let Some(set) = run.set.as_mut() {
            set.distributed.insert(i, Some(path.display().to_string()));
            set.holders.insert(i, rec.custodian_id.clone());
        }
        if let Some(mem) = run.shares.as_mut() {
            mem.shares.retain(|s| s.index() != i);
        }
    }
    // Every share is out: nothing of the set stays in memory.
    run.shares = None;
    Ok(None)
}
