//! The journal, inventory and export screens' view: display projections of journal data.
//!
//! They decide nothing; they only reshape what the core returns into what a screen lists.

use crate::inventory::KeyRecord;
use crate::journal::export::Manifest;
use crate::journal::verify::CheckpointTrust;
use crate::journal::{Checkpoint, Entry, Event, Journal};
use serde::Serialize;
use serde_json::Value;
use ts_rs::TS;

/// The journal's head and the outcome of a full verification (hash chain and Merkle head).
#[derive(Debug, Clone, Serialize, TS)]
pub struct JournalVerdict {
    /// The journal database file.
    pub db: String,
    /// False when the data directory has no journal yet.
    pub exists: bool,
    /// The journal's origin (`keyrite/<install id>`).
    pub origin: Option<String>,
    /// Entries in the journal (as stored; see `ok`).
    pub size: u64,
    /// Merkle root over the stored entry hashes, hex.
    pub root_hex: String,
    /// The same root in words (one word per byte).
    pub root_words: String,
    /// True when every entry hash and link was recomputed and matched.
    pub ok: bool,
    /// Why verification failed.
    pub error: Option<String>,
    /// The first bad sequence number, where one can be named.
    pub first_bad_seq: Option<u64>,
    /// When this verification ran.
    pub checked_at: String,
    /// The checkpoint given (typed or scanned) that the journal was proven to extend:
    /// its size and root (hex).
    pub checkpoint: Option<(u64, String)>,
    /// Whose key the checkpoints were checked against, in one sentence.
    pub trust: Option<String>,
    /// True when the caller pinned the record-signing key (`--trust`).
    pub pinned: bool,
    /// Which entries are covered by what, one line each.
    pub coverage: Vec<String>,
    /// Sizes of stored checkpoints signed by a key not trusted here (not counted).
    pub other_signer: Vec<u64>,
    /// Something wrong with the stored checkpoints that does not fail the chain.
    pub warning: Option<String>,
}

/// The journal's tree head (`keyrite journal head`).
#[derive(Debug, Clone, Serialize, TS)]
pub struct JournalHead {
    /// The journal's origin.
    pub origin: String,
    /// Entries.
    pub size: u64,
    /// Merkle root, hex.
    pub root_hex: String,
    /// The root in words.
    pub root_words: String,
}

impl JournalHead {
    /// The head of `j`.
    pub fn of(j: &Journal) -> Self {
        let h = j.head();
        JournalHead {
            origin: j.origin().to_string(),
            size: h.size,
            root_hex: h.root_hex(),
            root_words: h.root_words(),
        }
    }
}

impl JournalVerdict {
    /// Verifies `journal` (none: the data directory has no journal yet) stored at `db`, as
    /// both faces do: without a checkpoint or pinned key, the desktop's question.
    pub fn of(db: &std::path::Path, journal: Option<&Journal>) -> Self {
        Self::verify(db, journal, None, &[])
    }

    /// Verifies `journal`: hash chain, Merkle head and, when given, that it extends
    /// `checkpoint`; checkpoints are checked against `trusted` keys (SPKI SHA-256), or the
    /// journal's own key when none is given (`keyrite journal verify`).
    pub fn verify(
        db: &std::path::Path,
        journal: Option<&Journal>,
        checkpoint: Option<&Checkpoint>,
        trusted: &[[u8; 32]],
    ) -> Self {
        Self::verify_with(db, journal, checkpoint, trusted, Default::default())
    }

    /// [`JournalVerdict::verify`] with verification options (e.g. SQLite's whole-file page
    /// check, which `keyrite journal verify --sqlite-check` asks for).
    pub fn verify_with(
        db: &std::path::Path,
        journal: Option<&Journal>,
        checkpoint: Option<&Checkpoint>,
        trusted: &[[u8; 32]],
        options: crate::journal::VerifyOptions,
    ) -> Self {
        let mut v = JournalVerdict {
            db: db.display().to_string(),
            exists: false,
            origin: None,
            size: 0,
            root_hex: String::new(),
            root_words: String::new(),
            ok: true,
            error: None,
            first_bad_seq: None,
            checked_at: crate::journal::time::now().to_rfc3339(),
            checkpoint: None,
            trust: None,
            pinned: false,
            coverage: Vec::new(),
            other_signer: Vec::new(),
            warning: None,
        };
        let Some(j) = journal else {
            return v;
        };
        let head = j.head();
        v.exists = true;
        v.origin = Some(j.origin().to_string());
        v.size = head.size;
        v.root_hex = head.root_hex();
        v.root_words = head.root_words();
        match j.verify_with(checkpoint, trusted, options) {
            Ok(r) => {
                // The verified head, which the stored one matched.
                v.size = r.head.size;
                v.root_hex = r.head.root_hex();
                v.root_words = r.head.root_words();
                v.checkpoint = r.checkpoint.map(|(size, root)| (size, hex::encode(root)));
                v.pinned = matches!(r.trust, CheckpointTrust::Pinned(_));
                v.trust = Some(r.trust.describe());
                v.coverage = r.coverage.lines();
                v.other_signer = r.stored.other_signer.clone();
                v.warning = r.stored.warning();
            }
            Err(e) => {
                v.ok = false;
                v.first_bad_seq = e.first_bad_seq();
                v.error = Some(e.to_string());
            }
        }
        v
    }
}

/// One page of journal entries, newest first.
#[derive(Debug, Clone, Serialize, TS)]
pub struct EntryPage {
    /// Entries in the journal.
    pub size: u64,
    /// The entries, newest first.
    pub entries: Vec<EntryView>,
}

/// The inventory with rotation due dates.
#[derive(Debug, Clone, Serialize, TS)]
pub struct InventoryView {
    /// False when the data directory has no journal (and so no inventory) yet.
    pub exists: bool,
    /// Every key, by key id.
    pub keys: Vec<KeyRecord>,
    /// Keys in use whose rotation is due now.
    pub due_now: Vec<String>,
    /// Keys in use whose rotation falls due within `soon_days` days (including `due_now`).
    pub due_soon: Vec<String>,
    /// The window of `due_soon`, in days.
    pub soon_days: i64,
    /// When the due dates were evaluated.
    pub as_of: String,
}

/// What an export wrote.
#[derive(Debug, Clone, Serialize, TS)]
pub struct ExportDone {
    /// The export file (`-`: standard output).
    pub out: String,
    /// The manifest file, if one was written.
    pub manifest_path: Option<String>,
    /// The manifest (range, hashes, head).
    pub manifest: Manifest,
    /// Something the user should know (e.g. the default syslog enterprise number was used).
    pub notice: Option<String>,
}

/// One journal entry as the journal view lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct EntryView {
    /// Sequence number.
    pub seq: u64,
    /// When it was appended (RFC 3339).
    pub time: String,
    /// Event type (`key_generated` …), or `unreadable` if the body does not parse.
    pub kind: String,
    /// The event's fields as (name, text), in the canonical (sorted) order.
    pub fields: Vec<(String, String)>,
    /// Free-form details as (name, text).
    pub details: Vec<(String, String)>,
    /// Entry hash, hex.
    pub entry_hash: String,
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "—".into(),
        other => other.to_string(),
    }
}

fn pairs(v: Option<&Value>, skip: &str) -> Vec<(String, String)> {
    match v {
        Some(Value::Object(m)) => m
            .iter()
            .filter(|(k, _)| k.as_str() != skip)
            .map(|(k, v)| (k.clone(), text(v)))
            .collect(),
        _ => Vec::new(),
    }
}

/// Reshapes an entry for display.
pub fn entry_view(e: &Entry) -> EntryView {
    let body = e.body_json().ok();
    let event = body.as_ref().and_then(|b| b.get("event"));
    let kind = event
        .and_then(|ev| ev.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("unreadable")
        .to_string();
    EntryView {
        seq: e.seq,
        time: e.time.to_rfc3339(),
        kind,
        fields: pairs(event, "type"),
        details: pairs(body.as_ref().and_then(|b| b.get("details")), ""),
        entry_hash: hex::encode(e.entry_hash),
    }
}

/// One ceremony as the home screen lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct CeremonySummary {
    /// Ceremony id.
    pub ceremony_id: String,
    /// Script name (empty if the start was not journaled).
    pub script_name: String,
    /// Rehearsal or production.
    pub mode: String,
    /// When it started (RFC 3339) and at which sequence number.
    pub started: Option<(String, u64)>,
    /// Outcome and time, once closed.
    pub closed: Option<(String, String)>,
    /// Steps completed.
    pub steps_completed: u32,
    /// Exceptions raised.
    pub exceptions: u32,
    /// SHA-256 (hex) of each record produced.
    pub records: Vec<String>,
    /// Sequence number of its latest event (for ordering).
    pub last_seq: u64,
}

fn ceremony_id(ev: &Event) -> Option<&str> {
    match ev {
        Event::CeremonyStarted { ceremony_id, .. }
        | Event::CeremonyClosed { ceremony_id, .. }
        | Event::StepCompleted { ceremony_id, .. }
        | Event::ExceptionOpened { ceremony_id, .. }
        | Event::RecordProduced { ceremony_id, .. } => Some(ceremony_id),
        _ => None,
    }
}

/// Groups ceremony events by ceremony, most recently active first.
pub fn ceremonies(events: &[(u64, String, Event)]) -> Vec<CeremonySummary> {
    let mut out: Vec<CeremonySummary> = Vec::new();
    for (seq, time, ev) in events {
        let Some(id) = ceremony_id(ev) else { continue };
        let idx = match out.iter().position(|c| c.ceremony_id == id) {
            Some(i) => i,
            None => {
                out.push(CeremonySummary {
                    ceremony_id: id.to_string(),
                    script_name: String::new(),
                    mode: String::new(),
                    started: None,
                    closed: None,
                    steps_completed: 0,
                    exceptions: 0,
                    records: Vec::new(),
                    last_seq: *seq,
                });
                out.len() - 1
            }
        };
        let c = &mut out[idx];
        c.last_seq = *seq;
        match ev {
            Event::CeremonyStarted {
                script_name, mode, ..
            } => {
                c.script_name = script_name.clone();
                c.mode = mode.to_string();
                c.started = Some((time.clone(), *seq));
            }
            Event::CeremonyClosed { outcome, .. } => {
                c.closed = Some((outcome.to_string(), time.clone()))
            }
            Event::StepCompleted { .. } => c.steps_completed += 1,
            Event::ExceptionOpened { .. } => c.exceptions += 1,
            Event::RecordProduced { record_sha256, .. } => c.records.push(record_sha256.clone()),
            _ => {}
        }
    }
    out.sort_by_key(|c| std::cmp::Reverse(c.last_seq));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started(id: &str) -> Event {
        Event::CeremonyStarted {
            ceremony_id: id.into(),
            script_name: "root-key".into(),
            script_sha256: "ab".into(),
            mode: "rehearsal".into(),
        }
    }

    #[test]
    fn ceremonies_are_grouped_and_ordered_by_latest_activity() {
        let t = |s: &str| s.to_string();
        let events = vec![
            (0, t("2026-01-01T00:00:00.000Z"), started("a")),
            (1, t("2026-01-01T00:01:00.000Z"), started("b")),
            (
                2,
                t("2026-01-01T00:02:00.000Z"),
                Event::StepCompleted {
                    ceremony_id: "a".into(),
                    step: "s1".into(),
                },
            ),
            (
                3,
                t("2026-01-01T00:03:00.000Z"),
                Event::Note { kind: "x".into() },
            ),
            (
                4,
                t("2026-01-01T00:04:00.000Z"),
                Event::RecordProduced {
                    ceremony_id: "a".into(),
                    record_sha256: "ff".into(),
                    pages: 3,
                },
            ),
            (
                5,
                t("2026-01-01T00:05:00.000Z"),
                Event::CeremonyClosed {
                    ceremony_id: "a".into(),
                    outcome: "completed".into(),
                },
            ),
        ];
        let list = ceremonies(&events);
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].ceremony_id, "a");
        assert_eq!(list[0].steps_completed, 1);
        assert_eq!(list[0].records, vec!["ff".to_string()]);
        assert_eq!(
            list[0].closed,
            Some(("completed".into(), "2026-01-01T00:05:00.000Z".into()))
        );
        assert_eq!(list[1].ceremony_id, "b");
        assert_eq!(
            list[1].started,
            Some(("2026-01-01T00:01:00.000Z".into(), 1))
        );
        assert_eq!(list[1].closed, None);
    }
}
