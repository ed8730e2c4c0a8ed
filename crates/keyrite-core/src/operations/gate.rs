//! The quorum gate: request binding, `QuorumPolicy::verify` at the current journal head, and
//! journaling of approvals, refusals and failures.

use serde_json::json;
use sha2::{Digest, Sha256};

use super::{now_unix, OperationError};
use crate::inventory::KeyRecord;
use crate::journal::{Event, Journal};
use crate::quorum::{
    Approval, ApprovalRequest, KeyRef, Operation, QuorumError, QuorumPolicy, RequestError,
    VerifiedQuorum,
};

/// What the custodians approved: the policy, the request and their approvals.
#[derive(Debug, Clone, Copy)]
pub struct Quorum<'a> {
    /// K of N enrolled custodians.
    pub policy: &'a QuorumPolicy,
    /// The request they signed.
    pub request: &'a ApprovalRequest,
    /// Their approvals.
    pub approvals: &'a [Approval],
}

/// The fingerprint a root KEK is recorded under: SHA-256 of
/// `"keyrite-kek-fingerprint-v1\n" ‖ KCV hex`. The KEK's value never leaves the token, so its
/// check value stands for it.
pub fn kek_fingerprint(kcv_hex: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"keyrite-kek-fingerprint-v1\n");
    h.update(kcv_hex.as_bytes());
    hex::encode(h.finalize())
}

/// The [`KeyRef`] custodians approve for an inventory key (label, `CKA_ID`, fingerprint).
pub fn key_ref(rec: &KeyRecord) -> Result<KeyRef, RequestError> {
    let bad = |field, problem| RequestError::BadField { field, problem };
    let cka_id = hex::decode(&rec.cka_id).map_err(|_| bad("key-id", "is not hex"))?;
    let fingerprint = rec
        .fingerprint
        .as_deref()
        .and_then(|f| hex::decode(f).ok())
        .ok_or(bad(
            "key-fingerprint",
            "the inventory records no hex fingerprint for this key",
        ))?;
    Ok(KeyRef {
        label: rec.label.clone(),
        cka_id,
        fingerprint,
    })
}

/// A request for `operation` on inventory key `rec`, made at the journal's current head.
pub fn new_request(
    journal: &Journal,
    operation: Operation,
    rec: &KeyRecord,
    ceremony_id: &str,
    step: u32,
    expires_at: u64,
) -> Result<ApprovalRequest, RequestError> {
    ApprovalRequest::new(
        operation,
        key_ref(rec)?,
        &rec.token_serial,
        ceremony_id,
        step,
        journal.head().root,
        expires_at,
    )
}

fn request_id(r: &ApprovalRequest) -> String {
    hex::encode(&r.sha256()[..8])
}

/// Journals a refusal and returns it as an error. If even the refusal cannot be journaled
/// the error says so (the operation did not happen either way).
pub(crate) fn refuse(
    journal: &mut Journal,
    operation: &'static str,
    key_id: &str,
    request: Option<&ApprovalRequest>,
    custodian: Option<&str>,
    reason: String,
) -> OperationError {
    let written = match (request, custodian) {
        (Some(r), Some(c)) => journal.append(Event::ApprovalRefused {
            request_id: request_id(r),
            custodian_id: c.into(),
            reason: reason.clone(),
        }),
        _ => journal.append_with_details(
            Event::Note {
                kind: "operation_refused".into(),
            },
            json!({
                "operation": operation,
                "key_id": key_id,
                "request_sha256": request.map(|r| hex::encode(r.sha256())),
                "reason": reason,
            }),
        ),
    };
    match written {
        Ok(_) => OperationError::Refused {
            operation,
            key_id: key_id.into(),
            reason,
        },
        Err(source) => OperationError::JournalBefore {
            operation,
            key_id: key_id.into(),
            source: Box::new(source),
        },
    }
}

/// Journals that the HSM call failed (nothing stays changed) and returns `err`.
pub(crate) fn failed(
    journal: &mut Journal,
    operation: &'static str,
    key_id: &str,
    err: OperationError,
) -> OperationError {
    let _ = journal.append_with_details(
        Event::Note {
            kind: "operation_failed".into(),
        },
        json!({"operation": operation, "key_id": key_id, "reason": err.to_string()}),
    );
    err
}

fn custodian_named(e: &QuorumError) -> Option<&str> {
    match e {
        QuorumError::DuplicateCustodian { custodian }
        | QuorumError::UnenrolledCustodian { custodian }
        | QuorumError::OtherRequest { custodian, .. }
        | QuorumError::BadSignature { custodian, .. } => Some(custodian),
        _ => None,
    }
}

/// Checks that `quorum.request` names exactly `operation` on `expected` on `token_serial`,
/// verifies the approvals at the journal's current head and time, and journals the request
/// and approvals in one transaction. Call immediately before the PKCS#11 call.
pub(crate) fn gate(
    journal: &mut Journal,
    quorum: &Quorum<'_>,
    operation: Operation,
    name: &'static str,
    key_id: &str,
    expected: &KeyRef,
    token_serial: &str,
) -> Result<VerifiedQuorum, OperationError> {
    let r = quorum.request;
    if r.operation != operation || &r.key != expected || r.token_serial != token_serial {
        let reason = format!(
            "the approval request is for {} of key \"{}\" (id {}) on token {}, not for {} of key \"{}\" (id {}) on token {}; make a new request",
            r.operation.as_str(),
            r.key.label,
            hex::encode(&r.key.cka_id),
            r.token_serial,
            operation.as_str(),
            expected.label,
            hex::encode(&expected.cka_id),
            token_serial
        );
        return Err(refuse(journal, name, key_id, Some(r), None, reason));
    }
    let head = journal.head().root;
    let verified = match quorum.policy.verify(r, quorum.approvals, &head, now_unix()) {
        Ok(v) => v,
        Err(e) => {
            let who = custodian_named(&e).unwrap_or("quorum").to_string();
            return Err(refuse(
                journal,
                name,
                key_id,
                Some(r),
                Some(&who),
                e.to_string(),
            ));
        }
    };
    let id = request_id(r);
    let mut events = vec![(
        Event::ApprovalRequested {
            request_id: id.clone(),
            request_sha256: hex::encode(r.sha256()),
            operation: r.operation.as_str().into(),
            key_id: Some(key_id.into()),
            required: u8::try_from(quorum.policy.threshold()).unwrap_or(u8::MAX),
        },
        json!({"journal_head": hex::encode(head), "expires_at": r.expires_at, "ceremony": r.ceremony_id, "step": r.step,
               "request": String::from_utf8_lossy(&r.canonical_bytes())}),
    )];
    for a in quorum.approvals {
        if verified.approvers.contains(&a.custodian_id) {
            events.push((
                Event::ApprovalGranted {
                    request_id: id.clone(),
                    custodian_id: a.custodian_id.clone(),
                    signature_sha256: hex::encode(Sha256::digest(&a.signature)),
                },
                json!({
                    "signature": hex::encode(&a.signature),
                    "signature_spki": quorum
                        .policy
                        .custodians()
                        .iter()
                        .find(|c| c.custodian_id == a.custodian_id)
                        .map(|c| hex::encode(&c.signature_spki)),
                }),
            ));
        }
    }
    journal
        .append_batch(events)
        .map_err(|source| OperationError::JournalBefore {
            operation: name,
            key_id: key_id.into(),
            source: Box::new(source),
        })?;
    Ok(verified)
}
