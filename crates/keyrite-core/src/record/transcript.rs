//! The record transcript: everything a ceremony record says, built only from the journal
//! entries of one ceremony (never from UI state), with one canonical JSON encoding
//! (`docs/formats/record-transcript.md`).
//!
//! Which entries belong to ceremony C: those from C's `ceremony_started` entry up to its
//! `ceremony_closed` entry (or the closing checkpoint), that either name `ceremony_id` = C (in
//! the event or in `details`) or name no ceremony at all (key, share, backup, approval and
//! inventory events). Only entries the closing checkpoint covers (`seq < size`) are included,
//! so the transcript rebuilt later from the same journal is byte-for-byte the same.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::model::*;
use super::RecordError;
use crate::journal::{Checkpoint, Event, Journal, Select};

/// The `format` value of this version.
pub const TRANSCRIPT_FORMAT: &str = "keyrite-record-transcript/v1";

/// Everything the record shows, in the order it shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordTranscript {
    /// Always [`TRANSCRIPT_FORMAT`].
    pub format: String,
    /// Ceremony, script and software.
    pub header: Header,
    /// Who took part, in check-in order.
    pub participants: Vec<Participant>,
    /// Check-ins corrected before the first HSM action (absent when none were).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub corrections: Vec<super::corrections::Correction>,
    /// Preflight results, clock check included.
    pub preflight: Vec<PreflightRow>,
    /// HSM tokens the ceremony used.
    pub hsm: Vec<HsmIdentity>,
    /// One row per script step, in start order.
    pub steps: Vec<StepRow>,
    /// Exceptions, opened and decided.
    pub exceptions: Vec<ExceptionRow>,
    /// Keys generated or imported, with their checked attribute tables.
    pub keys: Vec<KeyOutput>,
    /// Shamir share sets (fingerprints only).
    pub share_sets: Vec<ShareSetOutput>,
    /// Backups made or restored.
    pub backups: Vec<BackupRow>,
    /// Quorum approvals.
    pub approvals: Vec<ApprovalRow>,
    /// Inventory changes.
    pub inventory: Vec<InventoryChange>,
    /// Keys destroyed, with the re-enumeration proof.
    #[serde(default)]
    pub destructions: Vec<Destruction>,
    /// Notes and event types this version does not know, shown generically.
    pub other_events: Vec<OtherEvent>,
    /// The checkpoint the record closes with (the record checkpoint, signed in `sign-record`
    /// after the outcome; for a record made after the close, the closing checkpoint).
    pub checkpoint: CheckpointRef,
    /// The previous ceremony's closing checkpoint (`None`: the first ceremony of this journal).
    #[serde(default)]
    pub previous_closing: Option<PreviousClosing>,
    /// The root KEK in force on the ceremony's token (absent for ceremonies started before
    /// Keyrite journaled the token's serial at the start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_kek: Option<RootKekInForce>,
}

impl RecordTranscript {
    /// The one canonical encoding: JSON, keys sorted, no whitespace, integers only (the
    /// journal's encoding, [`crate::journal::canonical`]).
    pub fn canonical_json(&self) -> Vec<u8> {
        let v = serde_json::to_value(self).unwrap_or(Value::Null);
        crate::journal::canonical::encode(&v).unwrap_or_default()
    }

    /// Parses `bytes` and insists they are the canonical encoding of what they hold.
    pub fn from_canonical_json(bytes: &[u8]) -> Result<Self, RecordError> {
        let t: Self = serde_json::from_slice(bytes)
            .map_err(|e| RecordError::Transcript(format!("it does not parse: {e}")))?;
        if t.format != TRANSCRIPT_FORMAT {
            return Err(RecordError::Transcript(format!(
                "format is \"{}\", expected \"{TRANSCRIPT_FORMAT}\"",
                t.format
            )));
        }
        if t.canonical_json() != bytes {
            return Err(RecordError::Transcript(
                "it is not in the canonical encoding (sorted keys, no whitespace)".into(),
            ));
        }
        Ok(t)
    }

    /// The signed checkpoint the transcript closes with.
    pub fn parsed_checkpoint(&self) -> Result<Checkpoint, RecordError> {
        Checkpoint::parse(&self.checkpoint.text).map_err(|e| RecordError::CheckpointText {
            size: self.checkpoint.size,
            problem: e.to_string(),
        })
    }

    /// Builds the transcript of `ceremony_id`, closing with the latest checkpoint signed after
    /// the ceremony started (for a closed ceremony: the first one after it closed, its closing
    /// checkpoint).
    pub fn from_journal(journal: &Journal, ceremony_id: &str) -> Result<Self, RecordError> {
        let scan = scan(journal, ceremony_id)?;
        let cp = scan
            .record_checkpoint()
            .ok_or_else(|| RecordError::NoCheckpoint {
                ceremony: ceremony_id.to_string(),
                last_seq: scan.last_seq(),
            })?;
        build(journal, ceremony_id, &scan, cp)
    }

    /// Builds the transcript of `ceremony_id` closed by the checkpoint of `size` entries: what
    /// a verifier does to compare a record with the journal.
    pub fn from_journal_at(
        journal: &Journal,
        ceremony_id: &str,
        size: u64,
    ) -> Result<Self, RecordError> {
        let scan = scan(journal, ceremony_id)?;
        build(journal, ceremony_id, &scan, size)
    }

    /// Like [`Self::from_journal_at`], closed by the given signed checkpoint text (the
    /// record's own) instead of the journal's stored copy: a journal whose stored-checkpoint
    /// table was emptied still rebuilds the transcript its entries hold.
    pub fn from_journal_with_checkpoint(
        journal: &Journal,
        ceremony_id: &str,
        size: u64,
        checkpoint_text: &str,
    ) -> Result<Self, RecordError> {
        let scan = scan(journal, ceremony_id)?;
        build_with(
            journal,
            ceremony_id,
            &scan,
            size,
            checkpoint_text.to_string(),
        )
    }
}

/// Where the ceremony lies in the journal.
struct Scan {
    start: u64,
    close: Option<u64>,
    /// Sizes of checkpoints journaled at or after the start.
    checkpoints: Vec<u64>,
    size: u64,
}

impl Scan {
    fn record_checkpoint(&self) -> Option<u64> {
        match self.close {
            Some(c) => self.checkpoints.iter().copied().find(|s| *s > c),
            None => self.checkpoints.last().copied(),
        }
    }
    fn last_seq(&self) -> u64 {
        self.close.unwrap_or(self.size.saturating_sub(1))
    }
}

fn scan(journal: &Journal, ceremony_id: &str) -> Result<Scan, RecordError> {
    let size = journal.head().size;
    let mut start = None;
    let mut close = None;
    let mut checkpoints = Vec::new();
    // Nothing before the ceremony's start counts, and only three kinds: use the index.
    if let Some(from) = journal.ceremony_start(ceremony_id)? {
        let kinds = ["ceremony_started", "ceremony_closed", "checkpoint"];
        journal.for_each_selected(&Select::kinds(&kinds), from, |e| {
            let body = e.body_json()?;
            let ev = body.get("event").cloned().unwrap_or(Value::Null);
            let kind = ev.get("type").and_then(Value::as_str).unwrap_or("");
            let ours = ev.get("ceremony_id").and_then(Value::as_str) == Some(ceremony_id);
            match kind {
                "ceremony_started" if ours && start.is_none() => start = Some(e.seq),
                "ceremony_closed" if ours && start.is_some() && close.is_none() => {
                    close = Some(e.seq)
                }
                "checkpoint" if start.is_some() => {
                    if let Some(s) = ev.get("size").and_then(Value::as_u64) {
                        checkpoints.push(s);
                    }
                }
                _ => {}
            }
            Ok(())
        })?;
    }
    let start = start.ok_or_else(|| RecordError::CeremonyNotFound(ceremony_id.to_string()))?;
    Ok(Scan {
        start,
        close,
        checkpoints,
        size,
    })
}

/// One entry of the ceremony, parsed.
pub(super) struct Item {
    pub seq: u64,
    pub at: String,
    pub event: Option<Event>,
    pub raw: Value,
    pub details: Value,
}

impl Item {
    pub fn detail(&self, key: &str) -> Option<String> {
        self.details
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_string)
    }
    pub fn kind(&self) -> String {
        self.raw
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_string()
    }
}

fn build(
    journal: &Journal,
    ceremony_id: &str,
    scan: &Scan,
    size: u64,
) -> Result<RecordTranscript, RecordError> {
    build_with(
        journal,
        ceremony_id,
        scan,
        size,
        checkpoint_text(journal, size)?,
    )
}

fn build_with(
    journal: &Journal,
    ceremony_id: &str,
    scan: &Scan,
    size: u64,
    text: String,
) -> Result<RecordTranscript, RecordError> {
    let cp = Checkpoint::parse(&text).map_err(|e| RecordError::CheckpointText {
        size,
        problem: e.to_string(),
    })?;
    if size <= scan.start {
        return Err(RecordError::NoCheckpoint {
            ceremony: ceremony_id.to_string(),
            last_seq: scan.last_seq(),
        });
    }
    let last = match scan.close {
        Some(c) => c.min(size - 1),
        None => size - 1,
    };
    let mut items = Vec::new();
    journal.for_each_entry(scan.start, last, |e| {
        let body = e.body_json()?;
        let raw = body.get("event").cloned().unwrap_or(Value::Null);
        let details = body.get("details").cloned().unwrap_or(Value::Null);
        let named = raw
            .get("ceremony_id")
            .or_else(|| details.get("ceremony_id"))
            .and_then(Value::as_str);
        if named.is_some_and(|c| c != ceremony_id) {
            return Ok(());
        }
        let event = serde_json::from_value::<Event>(raw.clone()).ok();
        items.push(Item {
            seq: e.seq,
            at: e.time.to_rfc3339(),
            event,
            raw,
            details,
        });
        Ok(())
    })?;
    let mut t = super::assemble::assemble(ceremony_id, &items, journal.origin())?;
    t.checkpoint = checkpoint_ref(&cp, text);
    t.previous_closing = previous_closing(journal, scan.start)?;
    t.root_kek = super::kek::root_kek_in_force(journal, &items)?;
    Ok(t)
}

fn checkpoint_ref(cp: &Checkpoint, text: String) -> CheckpointRef {
    CheckpointRef {
        size: cp.size,
        root: hex::encode(cp.root),
        root_words: crate::words::to_words(&cp.root),
        time: cp.time.to_rfc3339(),
        signer_fingerprint: hex::encode(cp.signer_fingerprint()),
        text,
    }
}

/// The last ceremony closed before entry `start`, with its closing checkpoint if one was
/// signed before `start` (`docs/formats/checkpoint.md`, "Closing a ceremony").
fn previous_closing(journal: &Journal, start: u64) -> Result<Option<PreviousClosing>, RecordError> {
    let Some(c) = journal.closing_before(start)? else {
        return Ok(None);
    };
    let mut p = PreviousClosing {
        ceremony_id: c.ceremony_id,
        outcome: c.outcome,
        closed_seq: c.closed_seq,
        checkpoint: None,
        missing: None,
    };
    match (c.checkpoint_size.filter(|s| *s <= start), c.unavailable) {
        (Some(size), _) => match journal.stored_checkpoint(size)?.map(|s| (s.parsed, s.text)) {
            Some((Ok(cp), text)) => p.checkpoint = Some(checkpoint_ref(&cp, text)),
            Some((Err(e), _)) => {
                p.missing = Some(format!(
                    "the stored closing checkpoint of size {size} is unreadable: {e}"
                ))
            }
            None => {
                p.missing = Some(format!(
                    "the journal's checkpoint table holds no checkpoint of size {size}, although \
                     the journal records that it was signed"
                ))
            }
        },
        (None, Some(reason)) => {
            p.missing = Some(format!("no closing checkpoint could be signed: {reason}"))
        }
        (None, None) => {
            p.missing = Some(
                "no closing checkpoint was signed before this ceremony started; this record's \
                 checkpoint covers that ceremony's last entries"
                    .into(),
            )
        }
    }
    Ok(Some(p))
}

/// The stored text of the checkpoint over `size` entries.
fn checkpoint_text(journal: &Journal, size: u64) -> Result<String, RecordError> {
    journal
        .store()
        .conn()
        .query_row(
            "SELECT text FROM journal_checkpoint WHERE size = ?1",
            [size as i64],
            |r| r.get::<_, String>(0),
        )
        .map_err(|_| RecordError::CheckpointText {
            size,
            problem: "the journal holds no signed checkpoint of that size".into(),
        })
}
