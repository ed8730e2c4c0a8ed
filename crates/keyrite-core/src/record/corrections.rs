//! Check-in corrections in the record (`participant_corrected`, made before the ceremony's
//! first HSM action): the participants list shows each seat under its corrected name, and a
//! section of its own lists every correction — seat, previous and new name, when, why — so an
//! auditor sees that the name changed and on whose word.

use super::model::Participant;
use serde::{Deserialize, Serialize};

/// A corrected check-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Correction {
    /// The seat corrected (`witness-1`).
    pub participant_id: String,
    /// Its role.
    pub role: String,
    /// Its seat number within the role.
    pub seat: u32,
    /// The name it was checked in under.
    pub previous_name: String,
    /// The name it holds now.
    pub name: String,
    /// Why, in the room's words.
    pub reason: String,
    /// When (journal time).
    pub at: String,
    /// Journal entry.
    pub seq: u64,
}

/// Applies `c` to the participants (the seat takes the corrected name) and lists it.
pub(super) fn apply(
    participants: &mut [Participant],
    corrections: &mut Vec<Correction>,
    c: Correction,
) {
    if let Some(p) = participants
        .iter_mut()
        .find(|p| p.participant_id == c.participant_id)
    {
        p.name = c.name.clone();
    }
    corrections.push(c);
}

/// The record's lines for its corrections, one each.
pub(super) fn lines(corrections: &[Correction]) -> Vec<String> {
    corrections
        .iter()
        .map(|c| {
            format!(
                "{} ({} seat {}): checked in as \"{}\", corrected to \"{}\" at {} [entry {}]; \
                 reason: {}",
                c.participant_id, c.role, c.seat, c.previous_name, c.name, c.at, c.seq, c.reason
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_correction_renames_its_seat_and_is_listed() {
        let p = |id: &str, name: &str| Participant {
            participant_id: id.into(),
            name: name.into(),
            role: "witness".into(),
            credential_fingerprint: None,
            signature_spki: None,
            at: "t0".into(),
            seq: 2,
        };
        let mut people = vec![p("administrator-1", "Ada"), p("witness-1", "Aud")];
        let mut list = Vec::new();
        apply(
            &mut people,
            &mut list,
            Correction {
                participant_id: "witness-1".into(),
                role: "witness".into(),
                seat: 1,
                previous_name: "Aud".into(),
                name: "Wes".into(),
                reason: "typed ahead".into(),
                at: "t1".into(),
                seq: 5,
            },
        );
        assert_eq!(people[1].name, "Wes");
        assert_eq!(people[0].name, "Ada");
        assert_eq!(
            lines(&list),
            [
                "witness-1 (witness seat 1): checked in as \"Aud\", corrected to \"Wes\" at t1 \
              [entry 5]; reason: typed ahead"
            ]
        );
    }
}
