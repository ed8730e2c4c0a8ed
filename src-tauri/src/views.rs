//! Display projections of journal data: plain functions, unit-tested without a window.
//!
//! They decide nothing; they only reshape what the core returns into what a screen lists.

use keyrite_core::journal::{Entry, Event};
use serde::Serialize;
use serde_json::Value;

/// One journal entry as the journal view lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
