//! The recent-ceremonies list both faces show (the home screen's table and
//! `keyrite journal ceremonies`), read through the journal's index: the cost follows the
//! listed ceremonies' entries, not the journal's size.

use super::journal::{ceremonies, CeremonySummary};
use crate::journal::index::Select;
use crate::journal::{Journal, JournalError};

/// The `limit` ceremonies most recently active, most recent first, each summarised from its
/// own entries ([`ceremonies`]); "active" means any entry that names the ceremony.
pub fn recent_ceremonies(
    journal: &Journal,
    limit: usize,
) -> Result<Vec<CeremonySummary>, JournalError> {
    let mut out = Vec::new();
    for (id, latest) in journal.recent_ceremony_ids(limit)? {
        let from = journal.ceremony_start(&id)?.unwrap_or(0);
        let mut events = Vec::new();
        journal.for_each_selected(&Select::ceremony(&id), from, |e| {
            events.push((e.seq, e.time.to_rfc3339(), e.event()?));
            Ok(())
        })?;
        // Activity is any entry naming the ceremony (a step started, an action intended), not
        // only the kinds the summary counts: the order is by the index's latest entry.
        out.extend(
            ceremonies(&events)
                .into_iter()
                .filter(|c| c.ceremony_id == id)
                .map(|c| CeremonySummary {
                    last_seq: c.last_seq.max(latest),
                    ..c
                }),
        );
    }
    out.sort_by_key(|c| std::cmp::Reverse(c.last_seq));
    Ok(out)
}

/// One ceremony as `keyrite journal ceremonies` prints it: id, script, mode, start (UTC, to
/// the minute, as the home screen shows it), outcome, counts.
pub fn ceremony_line(c: &CeremonySummary) -> String {
    let or_dash = |s: &str| {
        if s.is_empty() {
            "-".to_string()
        } else {
            s.to_string()
        }
    };
    let started = c.started.as_ref().map_or_else(
        || "-".to_string(),
        |(t, _)| t.replacen('T', " ", 1).chars().take(16).collect(),
    );
    let outcome = c.closed.as_ref().map_or("in progress", |(o, _)| o.as_str());
    let plural = |n: usize, one: &str| format!("{n} {one}{}", if n == 1 { "" } else { "s" });
    format!(
        "{}  {}  {}  started {}  {}  {}, {}, {}",
        c.ceremony_id,
        or_dash(&c.script_name),
        or_dash(&c.mode),
        started,
        outcome,
        plural(c.steps_completed as usize, "step"),
        plural(c.exceptions as usize, "exception"),
        plural(c.records.len(), "record"),
    )
}
