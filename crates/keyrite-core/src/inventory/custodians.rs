//! The custodian register: whose YubiKeys count for quorums. Every change is a journal event
//! committed in the same transaction as the row, like the key inventory.

use rusqlite::{params, OptionalExtension};
use serde_json::{json, Value};

use super::InventoryError;
use crate::custodian::enrol::{AttestationStatus, EnrolmentRecord};
use crate::journal::time::now;
use crate::journal::{Event, Journal};
use crate::store::Store;

/// An enrolled custodian as the register holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrolledCustodian {
    /// The enrolment record (public keys only).
    pub record: EnrolmentRecord,
    /// The ceremony that enrolled them, if any.
    pub ceremony_id: Option<String>,
    /// When (RFC 3339, UTC).
    pub enrolled_utc: String,
    /// Why they no longer count, if retired.
    pub retired: Option<String>,
}

/// Evidence journaled with an enrolment: the custodian's signed acknowledgement.
#[derive(Debug, Clone, Default)]
pub struct Acknowledgement {
    /// SHA-256 (hex) of the acknowledgement text the custodian signed.
    pub text_sha256: String,
    /// DER ECDSA P-256 signature by their 9c key over that text, hex.
    pub signature_hex: String,
    /// Factory defaults found on the card and replaced ("PIN", "PUK", "management key").
    pub defaults_replaced: Vec<&'static str>,
}

fn store_err(store: &Store) -> impl Fn(rusqlite::Error) -> InventoryError + '_ {
    super::sql(store.path())
}

/// Enrols `record`, refusing an id or a YubiKey serial that is already enrolled and active.
pub fn enrol_custodian(
    journal: &mut Journal,
    record: &EnrolmentRecord,
    ceremony_id: Option<&str>,
    ack: &Acknowledgement,
) -> Result<(), InventoryError> {
    if let Some(c) = get(journal.store(), &record.custodian_id)? {
        return Err(InventoryError::CustodianExists {
            custodian_id: record.custodian_id.clone(),
            detail: format!(
                "enrolled with YubiKey {} (ceremony {})",
                c.record.yubikey_serial,
                c.ceremony_id.as_deref().unwrap_or("none")
            ),
        });
    }
    if let Some(c) = active(journal.store())?
        .into_iter()
        .find(|c| c.record.yubikey_serial == record.yubikey_serial || c.record.name == record.name)
    {
        return Err(InventoryError::CustodianExists {
            custodian_id: c.record.custodian_id.clone(),
            detail: format!(
                "{} is already enrolled with YubiKey {}; a custodian's key is replaced by the replace-custodian ceremony",
                c.record.name, c.record.yubikey_serial
            ),
        });
    }
    let attested = !matches!(record.attestation, AttestationStatus::NotAttested { .. });
    let record_json = serde_json::to_value(record).unwrap_or(Value::Null);
    let path = journal.store().path().to_path_buf();
    let t = now().to_rfc3339();
    let text = record_json.to_string();
    journal.append_with(
        Event::CustodianEnrolled {
            ceremony_id: ceremony_id.map(str::to_string),
            custodian_id: record.custodian_id.clone(),
            name: record.name.clone(),
            yubikey_serial: record.yubikey_serial,
            signature_fingerprint: record.signature_fingerprint.clone(),
            key_management_fingerprint: record.key_management_fingerprint.clone(),
            attested,
        },
        json!({
            "record": record_json,
            "acknowledgement_sha256": ack.text_sha256,
            "acknowledgement_signature": ack.signature_hex,
            "defaults_replaced": ack.defaults_replaced,
        }),
        |tx| {
            tx.execute(
                "INSERT INTO custodian(custodian_id, name, yubikey_serial, record, ceremony_id, enrolled_utc) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![record.custodian_id, record.name, record.yubikey_serial, text, ceremony_id, t],
            )
            .map_err(super::sql(&path))
        },
    )?;
    Ok(())
}

/// Retires custodian `id`: their key no longer counts for quorums.
pub fn retire_custodian(
    journal: &mut Journal,
    id: &str,
    reason: &str,
) -> Result<(), InventoryError> {
    match get(journal.store(), id)? {
        None => {
            return Err(InventoryError::UnknownCustodian {
                custodian_id: id.into(),
            })
        }
        Some(c) if c.retired.is_some() => {
            return Err(InventoryError::UnknownCustodian {
                custodian_id: id.into(),
            })
        }
        Some(_) => {}
    }
    let path = journal.store().path().to_path_buf();
    let t = now().to_rfc3339();
    journal.append_with(
        Event::CustodianRetired {
            custodian_id: id.into(),
            reason: reason.into(),
        },
        Value::Null,
        |tx| {
            tx.execute(
                "UPDATE custodian SET retired_utc = ?2, retired_reason = ?3 WHERE custodian_id = ?1",
                params![id, t, reason],
            )
            .map_err(super::sql(&path))
        },
    )?;
    Ok(())
}

fn row(store: &Store, r: &rusqlite::Row<'_>) -> Result<EnrolledCustodian, InventoryError> {
    let text: String = r.get(0).map_err(store_err(store))?;
    let record: EnrolmentRecord =
        serde_json::from_str(&text).map_err(|e| InventoryError::CorruptCustodian {
            detail: e.to_string(),
        })?;
    Ok(EnrolledCustodian {
        record,
        ceremony_id: r.get(1).map_err(store_err(store))?,
        enrolled_utc: r.get(2).map_err(store_err(store))?,
        retired: r.get(3).map_err(store_err(store))?,
    })
}

const COLUMNS: &str = "record, ceremony_id, enrolled_utc, retired_reason";

/// Custodian `id`, active or retired.
pub fn get(store: &Store, id: &str) -> Result<Option<EnrolledCustodian>, InventoryError> {
    let sql = format!("SELECT {COLUMNS} FROM custodian WHERE custodian_id = ?1");
    let mut stmt = store.conn().prepare(&sql).map_err(store_err(store))?;
    let found = stmt
        .query_row([id], |r| Ok(row(store, r)))
        .optional()
        .map_err(store_err(store))?;
    found.transpose()
}

/// Every custodian whose key counts for quorums, in enrolment order.
pub fn active(store: &Store) -> Result<Vec<EnrolledCustodian>, InventoryError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM custodian WHERE retired_utc IS NULL ORDER BY enrolled_utc, custodian_id"
    );
    let mut stmt = store.conn().prepare(&sql).map_err(store_err(store))?;
    let rows = stmt
        .query_map([], |r| Ok(row(store, r)))
        .map_err(store_err(store))?;
    let mut out = Vec::new();
    for r in rows {
        out.push(r.map_err(store_err(store))??);
    }
    Ok(out)
}
