//! The ceremonies most recently active, newest first, read backwards from the end of the
//! index so the cost follows the entries of those ceremonies, not the journal's history (the
//! home screen and `keyrite journal ceremonies` ask this on every open).

use super::{index, JournalError};
use std::collections::HashSet;

impl super::Journal {
    /// Up to `limit` ceremony ids, each with the sequence number of its latest entry that
    /// names it (in `event.ceremony_id` or `details.ceremony_id`), most recent first.
    pub fn recent_ceremony_ids(&self, limit: usize) -> Result<Vec<(String, u64)>, JournalError> {
        let size = self.tree.size();
        let split = self.indexed.min(size);
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        let mut take = |id: String, seq: u64, out: &mut Vec<(String, u64)>| {
            if out.len() < limit && seen.insert(id.clone()) {
                out.push((id, seq));
            }
        };
        // Entries after the index's coverage (a journal last written by a Keyrite without the
        // index, opened read-only): read from their bodies, newest first.
        if split < size {
            let mut tail = Vec::new();
            self.for_each_entry(split, size - 1, |e| {
                if let (_, Some(id)) = index::fields_of(&e.body) {
                    tail.push((id, e.seq));
                }
                Ok(())
            })?;
            for (id, seq) in tail.into_iter().rev() {
                take(id, seq, &mut out);
            }
        }
        if out.len() >= limit || split == 0 {
            return Ok(out);
        }
        let conn = self.store.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT ceremony_id, seq FROM journal_index \
                 WHERE ceremony_id IS NOT NULL AND seq < ?1 ORDER BY seq DESC",
            )
            .map_err(|e| self.store.err(e))?;
        let mut rows = stmt.query([split as i64]).map_err(|e| self.store.err(e))?;
        while out.len() < limit {
            let Some(row) = rows.next().map_err(|e| self.store.err(e))? else {
                break;
            };
            let id: String = row.get(0).map_err(|e| self.store.err(e))?;
            let seq: i64 = row.get(1).map_err(|e| self.store.err(e))?;
            take(id, seq as u64, &mut out);
        }
        Ok(out)
    }
}
