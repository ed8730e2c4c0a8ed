//! The key inventory: which keys exist, where, in which SP 800-57 state, when they are due for
//! rotation, and what depends on them.
//!
//! Every change is a journal event committed in the same transaction as the inventory row
//! ([`Journal::append_with`]), so the inventory never disagrees with the journal.

pub mod cryptoperiod;
pub mod custodians;
pub mod reconcile;
pub mod relocate;
pub mod state;

pub use cryptoperiod::KeyType;
pub use reconcile::{reconcile, HsmObject, Reconciliation};
pub use relocate::{relocate, relocate_backed_up};
pub use state::{KeyState, Transition, TRANSITIONS};

use crate::journal::time::{now, UtcTime};
use crate::journal::{Event, Journal, JournalError};
use crate::store::{Store, StoreError};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use serde_json::Value;

/// Inventory errors.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// No such key.
    #[error("key {key_id} is not in the inventory")]
    UnknownKey {
        /// Key id.
        key_id: String,
    },
    /// Already registered.
    #[error("key {key_id} is already in the inventory (state {state})")]
    Duplicate {
        /// Key id.
        key_id: String,
        /// Its state.
        state: KeyState,
    },
    /// The transition is not in the table.
    #[error("key {key_id} cannot go from {from} to {to}: from {from} it may only go to {allowed}")]
    IllegalTransition {
        /// Key id.
        key_id: String,
        /// Current state.
        from: KeyState,
        /// Requested state.
        to: KeyState,
        /// Allowed successors, or a note that the state is final.
        allowed: String,
    },
    /// A cryptoperiod beyond the NIST suggestion needs a justification.
    #[error("key {key_id}: a cryptoperiod of {days} days exceeds the NIST SP 800-57 suggestion for a {key_type} key ({suggested} days); record a justification (SP 800-57 §5.3.1 risk factors)")]
    NeedsJustification {
        /// Key id.
        key_id: String,
        /// Requested days.
        days: i64,
        /// Key type name.
        key_type: &'static str,
        /// Suggested days.
        suggested: i64,
    },
    /// The retention guard refused destruction.
    #[error("key {key_id} cannot be destroyed: {dependants}; restore or retire those first")]
    StillNeeded {
        /// Key id.
        key_id: String,
        /// What still depends on it.
        dependants: String,
    },
    /// A destroyed key is never recorded on a token again.
    #[error("key {key_id} is destroyed; it cannot be recorded on token {token_serial}")]
    RelocateDestroyed {
        /// Key id.
        key_id: String,
        /// The token it was to be recorded on.
        token_serial: String,
    },
    /// A referenced backup does not exist.
    #[error("backup {backup_id} is not in the inventory")]
    UnknownBackup {
        /// Backup id.
        backup_id: String,
    },
    /// A custodian id, name or YubiKey is already enrolled.
    #[error("custodian {custodian_id} is already enrolled: {detail}")]
    CustodianExists {
        /// The enrolled custodian.
        custodian_id: String,
        /// What is enrolled.
        detail: String,
    },
    /// No such active custodian.
    #[error("custodian {custodian_id} is not an active enrolled custodian")]
    UnknownCustodian {
        /// The id asked for.
        custodian_id: String,
    },
    /// A stored enrolment record cannot be read.
    #[error("an enrolment record in the custodian register cannot be read ({detail}); run `keyrite journal verify`")]
    CorruptCustodian {
        /// The parse error.
        detail: String,
    },
    /// The journal refused or failed (the change did not happen).
    #[error(transparent)]
    Journal(#[from] JournalError),
}

impl From<StoreError> for InventoryError {
    fn from(e: StoreError) -> Self {
        InventoryError::Journal(e.into())
    }
}

/// A key to enter into the inventory.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// Stable id (e.g. `kid:sha256:<fingerprint prefix>` or a label).
    pub key_id: String,
    /// CKA_LABEL.
    pub label: String,
    /// What it is for.
    pub purpose: String,
    /// SP 800-57 key type.
    pub key_type: KeyType,
    /// Algorithm (`ec-p384`, `aes-256` …).
    pub algorithm: String,
    /// HSM token serial.
    pub token_serial: String,
    /// CKA_ID (hex).
    pub cka_id: String,
    /// Public-key fingerprint, if asymmetric.
    pub fingerprint: Option<String>,
    /// Policy cryptoperiod in days; `None` takes the NIST suggestion.
    pub cryptoperiod_days: Option<i64>,
    /// Why a longer cryptoperiod is acceptable (required when it exceeds the suggestion).
    pub justification: Option<String>,
}

/// A key as the inventory holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[expect(missing_docs, reason = "mirrors NewKey plus state and dates")]
pub struct KeyRecord {
    pub key_id: String,
    pub label: String,
    pub purpose: String,
    pub key_type: String,
    pub algorithm: String,
    pub token_serial: String,
    pub cka_id: String,
    pub fingerprint: Option<String>,
    pub state: KeyState,
    pub created: String,
    pub activated: Option<String>,
    pub state_changed: String,
    pub cryptoperiod_days: i64,
    pub justification: Option<String>,
    pub share_set_id: Option<String>,
    /// Start of the cryptoperiod (activation, else creation) plus the cryptoperiod.
    pub rotation_due: String,
    /// Backups of this key.
    pub backups: Vec<String>,
}

fn sql(store_path: &std::path::Path) -> impl Fn(rusqlite::Error) -> InventoryError + '_ {
    move |e| StoreError::from_sqlite(store_path, std::time::Duration::ZERO, e).into()
}

/// Enters a new key in state pre-activation (SP 800-57 transition 1).
pub fn register(
    journal: &mut Journal,
    key: NewKey,
    actor: &str,
) -> Result<KeyRecord, InventoryError> {
    let suggested = key.key_type.suggested_days();
    let days = key.cryptoperiod_days.unwrap_or(suggested);
    let justification = key.justification.clone().filter(|j| !j.trim().is_empty());
    if days > suggested && justification.is_none() {
        return Err(InventoryError::NeedsJustification {
            key_id: key.key_id,
            days,
            key_type: key.key_type.name(),
            suggested,
        });
    }
    if let Some(existing) = get(journal.store(), &key.key_id)? {
        return Err(InventoryError::Duplicate {
            key_id: key.key_id,
            state: existing.state,
        });
    }
    let path = journal.store().path().to_path_buf();
    let t = now().to_rfc3339();
    let event = Event::KeyRegistered {
        key_id: key.key_id.clone(),
        label: key.label.clone(),
        purpose: key.purpose.clone(),
        key_type: key.key_type.name().into(),
        algorithm: key.algorithm.clone(),
        token_serial: key.token_serial.clone(),
        cka_id: key.cka_id.clone(),
        fingerprint: key.fingerprint.clone(),
        cryptoperiod_days: days,
        nist_suggested_days: suggested,
        justification: justification.clone(),
    };
    let _ = actor;
    journal.append_with(event, Value::Null, |tx| {
        tx.execute(
            "INSERT INTO inventory_key(key_id, label, purpose, key_type, algorithm, token_serial, cka_id, fingerprint, state, created_utc, state_changed_utc, cryptoperiod_days, justification)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11, ?12)",
            params![key.key_id, key.label, key.purpose, key.key_type.name(), key.algorithm, key.token_serial, key.cka_id, key.fingerprint, KeyState::PreActivation.name(), t, days, justification],
        )
        .map_err(sql(&path))
    })?;
    get(journal.store(), &key.key_id)?.ok_or(InventoryError::UnknownKey { key_id: key.key_id })
}

/// Moves a key to `to` if the table allows it; destruction passes the retention guard first.
pub fn transition(
    journal: &mut Journal,
    key_id: &str,
    to: KeyState,
    reason: &str,
    actor: &str,
) -> Result<KeyRecord, InventoryError> {
    let rec = get(journal.store(), key_id)?.ok_or_else(|| InventoryError::UnknownKey {
        key_id: key_id.into(),
    })?;
    if state::allowed(rec.state, to).is_none() {
        let succ = rec.state.successors();
        let allowed = if succ.is_empty() {
            "nothing: it is final".to_string()
        } else {
            succ.iter().map(|s| s.name()).collect::<Vec<_>>().join(", ")
        };
        return Err(InventoryError::IllegalTransition {
            key_id: key_id.into(),
            from: rec.state,
            to,
            allowed,
        });
    }
    if to == KeyState::Destroyed {
        retention_guard(journal.store(), key_id)?;
    }
    let path = journal.store().path().to_path_buf();
    let t = now().to_rfc3339();
    let event = Event::InventoryStateChanged {
        key_id: key_id.into(),
        from: rec.state,
        to,
        reason: reason.into(),
        actor: actor.into(),
    };
    journal.append_with(event, Value::Null, |tx| {
        tx.execute(
            "UPDATE inventory_key SET state = ?2, state_changed_utc = ?3,
                activated_utc = CASE WHEN ?2 = 'active' AND activated_utc IS NULL THEN ?3 ELSE activated_utc END
             WHERE key_id = ?1",
            params![key_id, to.name(), t],
        )
        .map_err(sql(&path))
    })?;
    get(journal.store(), key_id)?.ok_or(InventoryError::UnknownKey {
        key_id: key_id.into(),
    })
}

/// Refuses destruction while live backups are wrapped by the key, the key itself has live
/// backups, or it protects data within its retention period. Names every dependant.
pub fn retention_guard(store: &Store, key_id: &str) -> Result<(), InventoryError> {
    let path = store.path();
    let mut dependants = Vec::new();
    let mut stmt = store
        .conn()
        .prepare("SELECT backup_id, key_id FROM inventory_backup WHERE live = 1 AND wrapped_by = ?1 ORDER BY backup_id")
        .map_err(sql(path))?;
    let wraps: Vec<(String, String)> = stmt
        .query_map([key_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(sql(path))?
        .collect::<Result<_, _>>()
        .map_err(sql(path))?;
    for (b, k) in wraps {
        dependants.push(format!("it wraps live backup {b} (of key {k})"));
    }
    let now_s = now();
    let mut stmt = store
        .conn()
        .prepare("SELECT description, retain_until FROM inventory_protected_data WHERE key_id = ?1 ORDER BY retain_until")
        .map_err(sql(path))?;
    let data: Vec<(String, String)> = stmt
        .query_map([key_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(sql(path))?
        .collect::<Result<_, _>>()
        .map_err(sql(path))?;
    for (d, until) in data {
        if UtcTime::parse(&until).is_none_or(|u| u > now_s) {
            dependants.push(format!("it protects {d}, retained until {until}"));
        }
    }
    if dependants.is_empty() {
        Ok(())
    } else {
        Err(InventoryError::StillNeeded {
            key_id: key_id.into(),
            dependants: dependants.join("; "),
        })
    }
}

/// Records a wrapped backup of `key_id` made under `wrapped_by`.
pub fn add_backup(
    journal: &mut Journal,
    backup_id: &str,
    key_id: &str,
    wrapped_by: &str,
    location: &str,
) -> Result<(), InventoryError> {
    for k in [key_id, wrapped_by] {
        get(journal.store(), k)?.ok_or_else(|| InventoryError::UnknownKey { key_id: k.into() })?;
    }
    let path = journal.store().path().to_path_buf();
    // The same backup already recorded: an attempt killed after recording it but before its
    // action was journaled as done made it again, to the same place. Recording it twice would
    // fail (`backup_id` is unique) and resuming could never finish; one row is the truth.
    let recorded: Option<(String, String, String)> = journal
        .store()
        .conn()
        .query_row(
            "SELECT key_id, wrapped_by, location FROM inventory_backup WHERE backup_id = ?1",
            [backup_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .map_err(sql(&path))?;
    if recorded
        .as_ref()
        .is_some_and(|(k, w, l)| k == key_id && w == wrapped_by && l == location)
    {
        return Ok(());
    }
    let t = now().to_rfc3339();
    journal.append_with(
        Event::InventoryDependencyAdded {
            key_id: wrapped_by.into(),
            dependency: format!("backup {backup_id} of key {key_id} at {location}"),
            until: None,
        },
        Value::Null,
        |tx| {
            tx.execute(
                "INSERT INTO inventory_backup(backup_id, key_id, wrapped_by, location, created_utc, live) VALUES (?1, ?2, ?3, ?4, ?5, 1)",
                params![backup_id, key_id, wrapped_by, location, t],
            )
            .map_err(sql(&path))
        },
    )?;
    Ok(())
}

/// Marks a backup as no longer live (it was destroyed or superseded).
pub fn retire_backup(
    journal: &mut Journal,
    backup_id: &str,
    reason: &str,
) -> Result<(), InventoryError> {
    let path = journal.store().path().to_path_buf();
    let wrapped_by: Option<String> = journal
        .store()
        .conn()
        .query_row(
            "SELECT wrapped_by FROM inventory_backup WHERE backup_id = ?1",
            [backup_id],
            |r| r.get(0),
        )
        .optional()
        .map_err(sql(&path))?;
    let Some(wrapped_by) = wrapped_by else {
        return Err(InventoryError::UnknownBackup {
            backup_id: backup_id.into(),
        });
    };
    journal.append_with(
        Event::Note {
            kind: "backup_retired".into(),
        },
        serde_json::json!({"backup_id": backup_id, "wrapped_by": wrapped_by, "reason": reason}),
        |tx| {
            tx.execute(
                "UPDATE inventory_backup SET live = 0 WHERE backup_id = ?1",
                [backup_id],
            )
            .map_err(sql(&path))
        },
    )?;
    Ok(())
}

/// Records that `key_id` protects data that must stay decryptable until `retain_until`.
pub fn add_protected_data(
    journal: &mut Journal,
    key_id: &str,
    description: &str,
    retain_until: UtcTime,
) -> Result<(), InventoryError> {
    get(journal.store(), key_id)?.ok_or_else(|| InventoryError::UnknownKey {
        key_id: key_id.into(),
    })?;
    let path = journal.store().path().to_path_buf();
    let until = retain_until.to_rfc3339();
    journal.append_with(
        Event::InventoryDependencyAdded {
            key_id: key_id.into(),
            dependency: description.into(),
            until: Some(until.clone()),
        },
        Value::Null,
        |tx| {
            tx.execute(
                "INSERT INTO inventory_protected_data(key_id, description, retain_until) VALUES (?1, ?2, ?3)",
                params![key_id, description, until],
            )
            .map_err(sql(&path))
        },
    )?;
    Ok(())
}

/// Records which share set protects `key_id` (the root KEK).
pub fn set_share_set(
    journal: &mut Journal,
    key_id: &str,
    set_id: &str,
) -> Result<(), InventoryError> {
    get(journal.store(), key_id)?.ok_or_else(|| InventoryError::UnknownKey {
        key_id: key_id.into(),
    })?;
    let path = journal.store().path().to_path_buf();
    journal.append_with(
        Event::InventoryDependencyAdded {
            key_id: key_id.into(),
            dependency: format!("protected by share set {set_id}"),
            until: None,
        },
        Value::Null,
        |tx| {
            tx.execute(
                "UPDATE inventory_key SET share_set_id = ?2 WHERE key_id = ?1",
                [key_id, set_id],
            )
            .map_err(sql(&path))
        },
    )?;
    Ok(())
}

const COLUMNS: &str = "key_id, label, purpose, key_type, algorithm, token_serial, cka_id, fingerprint, state, created_utc, activated_utc, state_changed_utc, cryptoperiod_days, justification, share_set_id";

fn row_to_record(r: &rusqlite::Row<'_>) -> rusqlite::Result<KeyRecord> {
    let state: String = r.get(8)?;
    let created: String = r.get(9)?;
    let activated: Option<String> = r.get(10)?;
    let days: i64 = r.get(12)?;
    let start = activated.as_deref().unwrap_or(&created);
    let rotation_due = UtcTime::parse(start)
        .map(|t| t.plus_days(days).to_rfc3339())
        .unwrap_or_default();
    Ok(KeyRecord {
        key_id: r.get(0)?,
        label: r.get(1)?,
        purpose: r.get(2)?,
        key_type: r.get(3)?,
        algorithm: r.get(4)?,
        token_serial: r.get(5)?,
        cka_id: r.get(6)?,
        fingerprint: r.get(7)?,
        state: KeyState::from_name(&state).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                8,
                rusqlite::types::Type::Text,
                format!("unknown key state {state:?}").into(),
            )
        })?,
        created,
        activated,
        state_changed: r.get(11)?,
        cryptoperiod_days: days,
        justification: r.get(13)?,
        share_set_id: r.get(14)?,
        rotation_due,
        backups: Vec::new(),
    })
}

fn with_backups(store: &Store, mut rec: KeyRecord) -> Result<KeyRecord, InventoryError> {
    let mut stmt = store
        .conn()
        .prepare("SELECT backup_id FROM inventory_backup WHERE key_id = ?1 AND live = 1 ORDER BY backup_id")
        .map_err(sql(store.path()))?;
    rec.backups = stmt
        .query_map([&rec.key_id], |r| r.get(0))
        .map_err(sql(store.path()))?
        .collect::<Result<_, _>>()
        .map_err(sql(store.path()))?;
    Ok(rec)
}

/// A key id no inventory entry has: `label`, or `label~2`, `label~3`… when an earlier key of
/// that label (e.g. on a re-initialised token) is still recorded.
pub fn free_key_id(store: &Store, label: &str) -> Result<String, InventoryError> {
    if get(store, label)?.is_none() {
        return Ok(label.into());
    }
    for n in 2u32.. {
        let id = format!("{label}~{n}");
        if get(store, &id)?.is_none() {
            return Ok(id);
        }
    }
    Ok(format!("{label}~new"))
}

/// One key.
pub fn get(store: &Store, key_id: &str) -> Result<Option<KeyRecord>, InventoryError> {
    let rec = store
        .conn()
        .query_row(
            &format!("SELECT {COLUMNS} FROM inventory_key WHERE key_id = ?1"),
            [key_id],
            row_to_record,
        )
        .optional()
        .map_err(sql(store.path()))?;
    rec.map(|r| with_backups(store, r)).transpose()
}

/// All keys, ordered by key id.
pub fn list(store: &Store) -> Result<Vec<KeyRecord>, InventoryError> {
    let mut stmt = store
        .conn()
        .prepare(&format!(
            "SELECT {COLUMNS} FROM inventory_key ORDER BY key_id"
        ))
        .map_err(sql(store.path()))?;
    let recs: Vec<KeyRecord> = stmt
        .query_map([], row_to_record)
        .map_err(sql(store.path()))?
        .collect::<Result<_, _>>()
        .map_err(sql(store.path()))?;
    recs.into_iter().map(|r| with_backups(store, r)).collect()
}

/// Keys in use (pre-activation, active, suspended) whose rotation is due by `at`.
pub fn due(store: &Store, at: UtcTime) -> Result<Vec<KeyRecord>, InventoryError> {
    Ok(list(store)?
        .into_iter()
        .filter(|k| {
            matches!(
                k.state,
                KeyState::PreActivation | KeyState::Active | KeyState::Suspended
            )
        })
        .filter(|k| UtcTime::parse(&k.rotation_due).is_none_or(|d| d <= at))
        .collect())
}
