//! A key the inventory already knows, put onto another token: root-key recovery rebuilds the
//! root KEK into a fresh token (the old one was lost) and restores there every live backup
//! made under it. The entry moves with the key — same key id, state, cryptoperiod and backups,
//! new token serial and CKA_ID — instead of a second entry being registered, so the inventory
//! says where each key lives, quorum steps on the new token are offered it, and there is one
//! active root KEK, not one per token it was ever on.
//!
//! Journaled as a `note` of kind `key_relocated` whose details name the key, both tokens and
//! CKA_IDs and the reason (docs/formats/journal.md), committed with the row it changes.

use super::{get, sql, InventoryError, KeyRecord, KeyState};
use crate::journal::{Event, Journal};
use rusqlite::{params, OptionalExtension};
use serde_json::json;

/// The journal note kind of a move.
pub const KEY_RELOCATED: &str = "key_relocated";

/// Records that inventory key `key_id` now lives on token `token_serial` as CKA_ID `cka_id`.
/// Already there: nothing is journaled (a resumed recovery records the move once). A destroyed
/// key is refused: it is never put back on a token.
pub fn relocate(
    journal: &mut Journal,
    key_id: &str,
    token_serial: &str,
    cka_id: &str,
    reason: &str,
) -> Result<KeyRecord, InventoryError> {
    let rec = get(journal.store(), key_id)?.ok_or_else(|| InventoryError::UnknownKey {
        key_id: key_id.into(),
    })?;
    if rec.token_serial == token_serial && rec.cka_id == cka_id {
        return Ok(rec);
    }
    if rec.state == KeyState::Destroyed {
        return Err(InventoryError::RelocateDestroyed {
            key_id: key_id.into(),
            token_serial: token_serial.into(),
        });
    }
    let path = journal.store().path().to_path_buf();
    journal.append_with(
        Event::Note {
            kind: KEY_RELOCATED.into(),
        },
        json!({
            "key_id": key_id,
            "from_token_serial": rec.token_serial,
            "from_cka_id": rec.cka_id,
            "to_token_serial": token_serial,
            "to_cka_id": cka_id,
            "reason": reason,
        }),
        |tx| {
            tx.execute(
                "UPDATE inventory_key SET token_serial = ?2, cka_id = ?3 WHERE key_id = ?1",
                params![key_id, token_serial, cka_id],
            )
            .map_err(sql(&path))
        },
    )?;
    get(journal.store(), key_id)?.ok_or(InventoryError::UnknownKey {
        key_id: key_id.into(),
    })
}

/// [`relocate`] for the key backup `backup_id` is a backup of (a restore put it on the token).
pub fn relocate_backed_up(
    journal: &mut Journal,
    backup_id: &str,
    token_serial: &str,
    cka_id: &str,
    reason: &str,
) -> Result<KeyRecord, InventoryError> {
    let path = journal.store().path().to_path_buf();
    let key_id: Option<String> = journal
        .store()
        .conn()
        .query_row(
            "SELECT key_id FROM inventory_backup WHERE backup_id = ?1",
            [backup_id],
            |r| r.get(0),
        )
        .optional()
        .map_err(sql(&path))?;
    let Some(key_id) = key_id else {
        return Err(InventoryError::UnknownBackup {
            backup_id: backup_id.into(),
        });
    };
    relocate(journal, &key_id, token_serial, cka_id, reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{add_backup, list, register, transition, KeyType, NewKey};

    fn key(j: &mut Journal, id: &str, key_type: KeyType) {
        register(
            j,
            NewKey {
                key_id: id.into(),
                label: id.into(),
                purpose: "test".into(),
                key_type,
                algorithm: "aes-256".into(),
                token_serial: "OLD".into(),
                cka_id: "01".into(),
                fingerprint: None,
                cryptoperiod_days: None,
                justification: None,
            },
            "test",
        )
        .expect("register");
        transition(j, id, KeyState::Active, "test", "test").expect("activate");
    }

    fn notes(j: &Journal) -> usize {
        let mut n = 0;
        j.for_each_entry(0, j.head().size - 1, |e| {
            if let Event::Note { kind } = e.event()? {
                n += usize::from(kind == KEY_RELOCATED);
            }
            Ok(())
        })
        .expect("entries");
        n
    }

    #[test]
    fn a_key_moves_once_and_a_destroyed_or_unknown_one_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut j = Journal::open(&dir.path().join("j.db"), &Default::default()).expect("journal");
        key(&mut j, "kek", KeyType::SymmetricKeyWrapping);
        key(&mut j, "signer", KeyType::PrivateSignature);
        add_backup(&mut j, "b1", "signer", "kek", "/b/b1").expect("backup");

        let moved = relocate(&mut j, "kek", "NEW", "0a", "recovered").expect("move");
        assert_eq!(
            (moved.token_serial.as_str(), moved.cka_id.as_str()),
            ("NEW", "0a")
        );
        assert_eq!(moved.state, KeyState::Active);
        let moved = relocate_backed_up(&mut j, "b1", "NEW", "0b", "restored").expect("move");
        assert_eq!(
            (moved.key_id.as_str(), moved.token_serial.as_str()),
            ("signer", "NEW")
        );
        assert_eq!(moved.backups, ["b1"]);
        assert_eq!(notes(&j), 2);
        // Already there: nothing more is journaled.
        relocate(&mut j, "kek", "NEW", "0a", "again").expect("idempotent");
        assert_eq!(notes(&j), 2);

        let before = list(j.store()).expect("list");
        let len = j.head().size;
        let e = relocate_backed_up(&mut j, "b9", "NEW", "0c", "x").unwrap_err();
        assert_eq!(e.to_string(), "backup b9 is not in the inventory");
        let e = relocate(&mut j, "nope", "NEW", "0c", "x").unwrap_err();
        assert_eq!(e.to_string(), "key nope is not in the inventory");
        crate::inventory::retire_backup(&mut j, "b1", "test").expect("retire");
        transition(&mut j, "signer", KeyState::Deactivated, "t", "t").expect("deactivate");
        transition(&mut j, "signer", KeyState::Destroyed, "t", "t").expect("destroy");
        let len_destroyed = j.head().size;
        assert!(len_destroyed > len);
        let e = relocate(&mut j, "signer", "OTHER", "0d", "x").unwrap_err();
        assert_eq!(
            e.to_string(),
            "key signer is destroyed; it cannot be recorded on token OTHER"
        );
        assert_eq!(j.head().size, len_destroyed);
        let after = list(j.store()).expect("list");
        assert_eq!(after[0], before[0], "the KEK's entry is unchanged");
        assert_eq!(after[1].token_serial, "NEW");
    }
}
