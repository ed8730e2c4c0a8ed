//! The first page's statement of the root KEK in force on the ceremony's token, so that every
//! record — also of ceremonies that neither import a KEK nor back up under one — names the KEK
//! custodians would rebuild, by label, check value and words.
//!
//! Built from journaled facts only: the token's serial the engine journals with
//! `ceremony_started` (`details.token_serial`), the journal's newest root-KEK import for that
//! token before the start (`operations::kek_in_force`), and the ceremony's own entries for the
//! end. The token is never read for it, so the transcript rebuilt from the journal is the same.

use serde_json::Value;

use super::model::RootKekInForce;
use super::transcript::{Item, RecordTranscript};
use super::RecordError;
use crate::journal::{Event, Journal};
use crate::operations::kek_in_force::{ends_kek, root_kek_imported, JournaledKek};

/// The root KEK in force at the ceremony's start and end; `None` for a ceremony whose start
/// entry does not carry the token's serial (started before Keyrite journaled it).
pub(super) fn root_kek_in_force(
    journal: &Journal,
    items: &[Item],
) -> Result<Option<RootKekInForce>, RecordError> {
    let Some(first) = items.first() else {
        return Ok(None);
    };
    let token_serial = match first.details.get("token_serial") {
        None => return Ok(None),
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => None,
    };
    let at_start = match &token_serial {
        Some(s) => crate::operations::kek_in_force::root_kek_in_force(journal, s, first.seq)?,
        None => None,
    };
    let mut at_end = at_start.clone();
    let mut end_token_serial = token_serial.clone();
    for it in &items[1..] {
        let Some(ev) = &it.event else { continue };
        if let Event::HsmTokenInitialised { token_serial, .. } = ev {
            // C_InitToken erased every object; the serial may be new (assigned by it).
            end_token_serial = Some(token_serial.clone());
            at_end = None;
        } else if let Some(k) = root_kek_imported(ev, &it.details, it.seq) {
            end_token_serial = Some(k.token_serial.clone());
            at_end = Some(k);
        } else if at_end.as_ref().is_some_and(|k| ends_kek(ev, k)) {
            at_end = None;
        }
    }
    Ok(Some(RootKekInForce {
        token_serial,
        at_start,
        at_end,
        end_token_serial,
    }))
}

/// The lines, in order: the serial to pin (a token pinned by slot and initialised by this
/// ceremony), then the root KEK in force; empty when there is nothing to state.
pub(super) fn first_page_lines(t: &RecordTranscript) -> Vec<String> {
    let mut out: Vec<String> = t
        .hsm
        .iter()
        .filter_map(|h| {
            h.assigned_serial.as_ref().map(|s| {
                format!(
                    "PIN THE SERIAL: the module assigned serial \"{s}\" to the token \"{}\" \
                     when this ceremony initialised it in the slot the site profile pins; write \
                     serial = \"{s}\" under [hsm.expect] before the next ceremony.",
                    h.token_label
                )
            })
        })
        .collect();
    let Some(r) = &t.root_kek else {
        return out;
    };
    out.push(format!(
        "Root KEK in force at the start: {}",
        state(r.at_start.as_ref(), r.token_serial.as_deref())
    ));
    if r.at_end != r.at_start || r.end_token_serial != r.token_serial {
        out.push(format!(
            "Root KEK in force at the end (changed by this ceremony): {}",
            state(r.at_end.as_ref(), r.end_token_serial.as_deref())
        ));
    }
    out
}

fn state(kek: Option<&JournaledKek>, serial: Option<&str>) -> String {
    match (kek, serial) {
        (Some(k), _) => format!(
            "\"{}\" (key {}) on token {}, KCV {}: {} [entry {}].",
            k.label, k.key_id, k.token_serial, k.kcv, k.kcv_words, k.seq
        ),
        (None, Some(s)) => format!(
            "No root KEK on this token yet (token {s}): the journal names none imported into \
             it and still in force."
        ),
        (None, None) => "No root KEK on this token yet: no initialised token answered to the \
                         site profile's token selector."
            .into(),
    }
}
