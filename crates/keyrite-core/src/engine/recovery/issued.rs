//! Which shares of a set were issued, and to whom, read from the journal alone: the faces'
//! word for who holds a share is never trusted.
//!
//! A share set made by root-key-generation names its holders by their participant id in
//! *that* ceremony (`custodian-2`), so the holder's name comes from that ceremony's
//! `participant_checked_in`; a set sealed to YubiKeys (rotation, custodian replacement) names
//! enrolled custodians (`yk-7001`), whose name and card come from the custodian register.

use std::collections::BTreeMap;

use crate::engine::run::CeremonyRun;
use crate::engine::step::StepFailure;
use crate::inventory::custodians as register;
use crate::journal::{Event, Select};

/// One share of the set as the journal records its hand-out.
#[derive(Debug, Clone)]
pub(in crate::engine) struct Issued {
    /// Share index, 1..=N.
    pub(in crate::engine) index: u8,
    /// The holder as `share_distributed` names them (`yk-7001`, or `custodian-2` of the
    /// ceremony that issued the share).
    pub(in crate::engine) holder: String,
    /// The holder's name.
    pub(in crate::engine) name: String,
    /// Shown on screen when issued (so typed or scanned from the card).
    pub(in crate::engine) shown: bool,
    /// The sealed file written when it was issued.
    pub(in crate::engine) sealed_file: Option<String>,
    /// The YubiKey the file is sealed to, for an enrolled holder.
    pub(in crate::engine) yubikey_serial: Option<u32>,
}

/// The shares of `set_id` the journal says were issued (by index), and the share
/// fingerprints recorded when the set was created (index i at position i − 1).
pub(super) fn issued(
    run: &CeremonyRun,
    set_id: &str,
) -> Result<(Vec<Issued>, Vec<String>), StepFailure> {
    // (ceremony id, participant id) → name; index → (ceremony id, holder, shown, file).
    let mut names: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut handed: BTreeMap<u8, (String, String, bool, Option<String>)> = BTreeMap::new();
    let mut fingerprints = Vec::new();
    run.journal.for_each_selected(
        &Select::kinds(&[
            "participant_checked_in",
            "share_set_created",
            "share_distributed",
        ]),
        0,
        |e| {
            match e.event()? {
                Event::ParticipantCheckedIn {
                    ceremony_id,
                    participant_id,
                    name,
                    ..
                } => {
                    names.insert((ceremony_id, participant_id), name);
                }
                Event::ShareSetCreated {
                    set_id: s,
                    share_fingerprints,
                    ..
                } if s == set_id => fingerprints = share_fingerprints,
                Event::ShareDistributed {
                    ceremony_id,
                    set_id: s,
                    index,
                    custodian_id,
                    shown,
                    sealed_file,
                    ..
                } if s == set_id => {
                    handed.insert(index, (ceremony_id, custodian_id, shown, sealed_file));
                }
                _ => {}
            }
            Ok(())
        },
    )?;
    let mut out = Vec::with_capacity(handed.len());
    for (index, (ceremony, holder, shown, sealed_file)) in handed {
        let enrolled = register::get(run.journal.store(), &holder)?.map(|c| c.record);
        let name = match &enrolled {
            Some(rec) => rec.name.clone(),
            None => names
                .get(&(ceremony, holder.clone()))
                .cloned()
                .unwrap_or_default(),
        };
        out.push(Issued {
            index,
            name,
            shown,
            // Only an enrolled holder's file is sealed to a card; the others' to a passphrase.
            yubikey_serial: enrolled
                .filter(|_| sealed_file.is_some())
                .map(|r| r.yubikey_serial),
            sealed_file,
            holder,
        });
    }
    Ok((out, fingerprints))
}
