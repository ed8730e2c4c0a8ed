//! Which root KEK a token held at a given point of the journal, from journaled facts only: the
//! record names it on its first page, and an auditor re-deriving the record from the journal
//! must get the same answer, so the token is never read for it.
//!
//! A root KEK comes into force with a `key_imported` entry whose read-back
//! (`details.evidence`) was made under the `root-kek-import` policy: root-key-generation, a
//! root-KEK rotation and a recovery all journal it that way. It stops being in force when the
//! token is initialised again (`hsm_token_initialised` for the same serial: `C_InitToken`
//! erases every object) or the key is destroyed (`key_destroyed` of that key on that token).
//!
//! The lookup walks back through the journal's index one event type at a time
//! ([`Journal::last_of_kind_before`]), so it reads only root-KEK imports, initialisations and
//! destructions, never the whole journal.

use crate::journal::{Entry, Event, Journal, JournalError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The key policy every root KEK is imported under.
pub const ROOT_KEK_POLICY: &str = "root-kek-import";

/// A root KEK as the journal names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournaledKek {
    /// Inventory key id.
    pub key_id: String,
    /// `CKA_LABEL`.
    pub label: String,
    /// The token it was imported into.
    pub token_serial: String,
    /// Key check value, hex (`evidence.kcv.value`).
    pub kcv: String,
    /// The KCV in words ([`kcv_words`]).
    pub kcv_words: String,
    /// The `key_imported` entry.
    pub seq: u64,
}

/// A KCV (hex) as words, one per byte: the form every record line that names a KEK's check
/// value uses (key outputs, backups, the root KEK in force). Empty when it is not hex.
pub fn kcv_words(kcv_hex: &str) -> String {
    hex::decode(kcv_hex)
        .map(|b| crate::words::to_words(&b))
        .unwrap_or_default()
}

/// The root KEK `event` (with its `details`, journaled at `seq`) brought into force, if it
/// is a root-KEK import.
pub fn root_kek_imported(event: &Event, details: &Value, seq: u64) -> Option<JournaledKek> {
    let Event::KeyImported {
        key_id,
        label,
        token_serial,
        ..
    } = event
    else {
        return None;
    };
    let evidence = details.get("evidence")?;
    if evidence.get("policy").and_then(Value::as_str) != Some(ROOT_KEK_POLICY) {
        return None;
    }
    let kcv = evidence.get("kcv")?.get("value")?.as_str()?.to_string();
    Some(JournaledKek {
        key_id: key_id.clone(),
        label: label.clone(),
        token_serial: token_serial.clone(),
        kcv_words: kcv_words(&kcv),
        kcv,
        seq,
    })
}

/// Whether `event` ends `kek`'s life: the token initialised again or the key destroyed.
pub fn ends_kek(event: &Event, kek: &JournaledKek) -> bool {
    match event {
        Event::HsmTokenInitialised { token_serial, .. } => *token_serial == kek.token_serial,
        Event::KeyDestroyed {
            key_id,
            token_serial,
            ..
        } => *key_id == kek.key_id && *token_serial == kek.token_serial,
        _ => false,
    }
}

/// The root KEK in force on token `token_serial` just before entry `before`, or `None` when
/// the journal names none (never imported, or erased or destroyed since).
pub fn root_kek_in_force(
    journal: &Journal,
    token_serial: &str,
    before: u64,
) -> Result<Option<JournaledKek>, JournalError> {
    let mut at = before;
    let kek = loop {
        let Some(seq) = journal.last_of_kind_before("key_imported", at)? else {
            return Ok(None);
        };
        let (event, details) = parsed(&journal.entry(seq)?)?;
        match root_kek_imported(&event, &details, seq) {
            Some(k) if k.token_serial == token_serial => break k,
            _ => at = seq,
        }
    };
    for kind in ["hsm_token_initialised", "key_destroyed"] {
        let mut at = before;
        while let Some(seq) = journal.last_of_kind_before(kind, at)? {
            if seq < kek.seq {
                break;
            }
            if ends_kek(&parsed(&journal.entry(seq)?)?.0, &kek) {
                return Ok(None);
            }
            at = seq;
        }
    }
    Ok(Some(kek))
}

fn parsed(e: &Entry) -> Result<(Event, Value), JournalError> {
    let body = e.body_json()?;
    Ok((
        e.event()?,
        body.get("details").cloned().unwrap_or(Value::Null),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn import(j: &mut Journal, label: &str, serial: &str, policy: &str, kcv: &str) -> u64 {
        j.append_with_details(
            Event::KeyImported {
                key_id: label.into(),
                label: label.into(),
                cka_id: "01".into(),
                token_serial: serial.into(),
                algorithm: "aes-256".into(),
                source: "test".into(),
            },
            json!({"evidence": {"policy": policy, "kcv": {"method": "m", "value": kcv}}}),
        )
        .expect("append")
        .seq
    }

    fn initialised(j: &mut Journal, serial: &str) -> u64 {
        j.append(Event::HsmTokenInitialised {
            token_serial: serial.into(),
            token_label: "keyrite".into(),
            manufacturer: "m".into(),
            model: "v".into(),
        })
        .expect("append")
        .seq
    }

    fn in_force(j: &Journal, serial: &str, before: u64) -> Option<(String, String)> {
        root_kek_in_force(j, serial, before)
            .expect("lookup")
            .map(|k| (k.label, k.kcv))
    }

    #[test]
    fn the_newest_root_kek_of_the_token_until_it_is_erased_or_destroyed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut j = Journal::open(&dir.path().join("j.db"), &Default::default()).expect("journal");
        let first = initialised(&mut j, "A");
        assert_eq!(in_force(&j, "A", first + 1), None);
        import(&mut j, "kek", "A", ROOT_KEK_POLICY, "0102030405060708");
        // A restore (another policy) and another token's KEK are not A's root KEK.
        import(&mut j, "signer", "A", "ec-p384-sign", "ffffffffffffffff");
        let other = import(&mut j, "kek", "B", ROOT_KEK_POLICY, "1111111111111111");
        let kek = Some(("kek".to_string(), "0102030405060708".to_string()));
        assert_eq!(in_force(&j, "A", other + 1), kek);
        assert_eq!(
            in_force(&j, "B", other + 1),
            Some(("kek".into(), "1111111111111111".into()))
        );
        // Only what came before `before` counts.
        assert_eq!(in_force(&j, "B", other), None);
        let r2 = import(&mut j, "kek-r2", "A", ROOT_KEK_POLICY, "2222222222222222");
        assert_eq!(in_force(&j, "A", r2), kek);
        assert_eq!(
            in_force(&j, "A", r2 + 1),
            Some(("kek-r2".into(), "2222222222222222".into()))
        );
        // Destroying an older KEK does not end the newer one; destroying it does.
        let d = |j: &mut Journal, key: &str| {
            j.append(Event::KeyDestroyed {
                key_id: key.into(),
                token_serial: "A".into(),
                cka_id: "01".into(),
                proof: json!({}),
            })
            .expect("append")
            .seq
        };
        let old = d(&mut j, "kek");
        assert_eq!(
            in_force(&j, "A", old + 1).map(|k| k.0),
            Some("kek-r2".into())
        );
        let gone = d(&mut j, "kek-r2");
        assert_eq!(in_force(&j, "A", gone + 1), None);
        // C_InitToken of A erases A's KEK, not B's.
        import(&mut j, "kek-r3", "A", ROOT_KEK_POLICY, "3333333333333333");
        let erased = initialised(&mut j, "A");
        assert_eq!(in_force(&j, "A", erased + 1), None);
        assert_eq!(
            in_force(&j, "B", erased + 1).map(|k| k.0),
            Some("kek".into())
        );
        assert_eq!(kcv_words("zz"), "");
        assert_eq!(
            kcv_words("0102030405060708"),
            crate::words::to_words(&[1, 2, 3, 4, 5, 6, 7, 8])
        );
    }
}
