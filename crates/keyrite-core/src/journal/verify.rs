//! Verification: recompute every entry hash and link, rebuild the Merkle head, and compare
//! with a signed checkpoint. On the first problem, a second look at the rows around it names
//! what was done (modified, deleted, reordered, inserted, truncated).

use super::checkpoint::{Checkpoint, CheckpointError};
use super::merkle::{entry_hash, Hash, TreeBuilder};
use super::time::UtcTime;
use super::TreeHead;
use crate::store::{Store, StoreError};

/// What kind of tampering was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TamperKind {
    /// An entry's contents or hash were changed.
    Modified,
    /// Entries are missing.
    Deleted,
    /// Entries are out of order.
    Reordered,
    /// Entries were added that were never written by Keyrite in that place.
    Inserted,
    /// The tail is missing compared with a checkpoint (truncation or rollback).
    Truncated,
    /// The history covered by a checkpoint no longer matches its root.
    Rewritten,
}

/// A successful verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// The head over all entries.
    pub head: TreeHead,
    /// Hash of the last entry (zeros when empty).
    pub last_entry_hash: Hash,
    /// The checkpoint that was proven consistent with the journal, if one was given.
    pub checkpoint: Option<(u64, Hash)>,
}

/// Why verification failed.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Tampering found at entry `seq` (the first bad sequence number).
    #[error("journal entry {seq}: {what}")]
    Tamper {
        /// First bad sequence number.
        seq: u64,
        /// What was done.
        kind: TamperKind,
        /// Description.
        what: String,
    },
    /// The checkpoint's root does not match the journal's first `size` entries.
    #[error("the journal's first {size} entries do not match the checkpoint root {root}: history before entry {size} was rewritten after the checkpoint was signed (the journal's root there is {found})")]
    CheckpointMismatch {
        /// Checkpoint size.
        size: u64,
        /// Checkpoint root (hex).
        root: String,
        /// The journal's root at that size (hex).
        found: String,
    },
    /// The checkpoint covers more entries than the journal holds.
    #[error("the checkpoint covers {size} entries but the journal holds only {have}: entries {have} to {last} are missing (the journal was truncated or rolled back to an older copy)")]
    CheckpointBeyondJournal {
        /// Checkpoint size.
        size: u64,
        /// Entries in the journal.
        have: u64,
        /// Last missing sequence number.
        last: u64,
    },
    /// The checkpoint belongs to another journal.
    #[error("the checkpoint is for journal {checkpoint} but this journal is {journal}")]
    OtherJournal {
        /// Origin in the checkpoint.
        checkpoint: String,
        /// This journal's origin.
        journal: String,
    },
    /// The checkpoint itself is bad.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The database could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl VerifyError {
    /// The first bad sequence number, where one can be named.
    pub fn first_bad_seq(&self) -> Option<u64> {
        match self {
            VerifyError::Tamper { seq, .. } => Some(*seq),
            VerifyError::CheckpointBeyondJournal { have, .. } => Some(*have),
            _ => None,
        }
    }
}

/// The fields of a body verification reads.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct BodyHead {
    pub(crate) seq: u64,
    pub(crate) time: String,
}

struct Row {
    seq: u64,
    body: Vec<u8>,
    prev: Vec<u8>,
    hash: Vec<u8>,
}

fn tamper(seq: u64, kind: TamperKind, what: String) -> VerifyError {
    VerifyError::Tamper { seq, kind, what }
}

/// Verifies the journal in `store`; with a checkpoint, also its signature (the signer must be
/// in `trusted`) and that the journal's first `size` entries have the checkpoint's root.
pub fn verify(
    store: &Store,
    origin: &str,
    checkpoint: Option<&Checkpoint>,
    trusted: &[[u8; 32]],
) -> Result<VerifyReport, VerifyError> {
    if let Some(cp) = checkpoint {
        cp.check_signature(trusted)?;
        if cp.origin != origin {
            return Err(VerifyError::OtherJournal {
                checkpoint: cp.origin.clone(),
                journal: origin.to_string(),
            });
        }
    }
    store.quick_check()?;
    let mut stmt = store
        .conn()
        .prepare("SELECT seq, body, prev_hash, entry_hash FROM journal_entry ORDER BY seq")
        .map_err(|e| store.err(e))?;
    let mut rows = stmt.query([]).map_err(|e| store.err(e))?;
    let mut tree = TreeBuilder::new();
    let mut prev: Hash = [0; 32];
    let mut prev_time = UtcTime(i64::MIN);
    let mut at_checkpoint: Option<Hash> = None;
    let cp_size = checkpoint.map(|c| c.size);
    if cp_size == Some(0) {
        at_checkpoint = Some(tree.root());
    }
    while let Some(r) = rows.next().map_err(|e| store.err(e))? {
        let row = Row {
            seq: r.get::<_, i64>(0).map_err(|e| store.err(e))? as u64,
            body: r.get(1).map_err(|e| store.err(e))?,
            prev: r.get(2).map_err(|e| store.err(e))?,
            hash: r.get(3).map_err(|e| store.err(e))?,
        };
        let pos = tree.size();
        let hash_ok = <Hash>::try_from(row.hash.as_slice()).ok().filter(|h| {
            *h == entry_hash(row.seq, &prev, &row.body) && row.prev == prev && row.seq == pos
        });
        let Some(h) = hash_ok else {
            return Err(diagnose(store, pos, &prev, &row)?);
        };
        let time = serde_json::from_slice::<BodyHead>(&row.body)
            .ok()
            .filter(|b| b.seq == pos)
            .and_then(|b| UtcTime::parse(&b.time));
        let Some(time) = time else {
            return Err(tamper(
                pos,
                TamperKind::Modified,
                "its body was rewritten (and re-hashed): it has no valid seq and time".into(),
            ));
        };
        if time < prev_time {
            return Err(tamper(
                pos,
                TamperKind::Reordered,
                format!(
                    "it is dated {} before entry {} ({}): entries were reordered or forged",
                    time.to_rfc3339(),
                    pos - 1,
                    prev_time.to_rfc3339()
                ),
            ));
        }
        prev_time = time;
        tree.push(&h);
        prev = h;
        if cp_size == Some(tree.size()) {
            at_checkpoint = Some(tree.root());
        }
    }
    let head = TreeHead {
        size: tree.size(),
        root: tree.root(),
    };
    let mut proven = None;
    if let Some(cp) = checkpoint {
        match at_checkpoint {
            None => {
                return Err(VerifyError::CheckpointBeyondJournal {
                    size: cp.size,
                    have: head.size,
                    last: cp.size - 1,
                })
            }
            Some(root) if root != cp.root => {
                return Err(VerifyError::CheckpointMismatch {
                    size: cp.size,
                    root: hex::encode(cp.root),
                    found: hex::encode(root),
                })
            }
            Some(root) => proven = Some((cp.size, root)),
        }
    }
    Ok(VerifyReport {
        head,
        last_entry_hash: prev,
        checkpoint: proven,
    })
}

/// The seq a body says it was written as, if its own hash is consistent with that seq.
fn written_as(row: &Row) -> Option<u64> {
    let b: BodyHead = serde_json::from_slice(&row.body).ok()?;
    let prev: Hash = row.prev.as_slice().try_into().ok()?;
    (row.hash.as_slice() == entry_hash(b.seq, &prev, &row.body)).then_some(b.seq)
}

fn row_at(store: &Store, seq: u64) -> Result<Option<Row>, StoreError> {
    let r = store.conn().query_row(
        "SELECT seq, body, prev_hash, entry_hash FROM journal_entry WHERE seq = ?1",
        [seq as i64],
        |r| {
            Ok(Row {
                seq: r.get::<_, i64>(0)? as u64,
                body: r.get(1)?,
                prev: r.get(2)?,
                hash: r.get(3)?,
            })
        },
    );
    match r {
        Ok(row) => Ok(Some(row)),
        Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
        Err(e) => Err(store.err(e)),
    }
}

/// Names what happened at the first bad position `pos` (entries before it verified).
fn diagnose(store: &Store, pos: u64, prev: &Hash, row: &Row) -> Result<VerifyError, StoreError> {
    use TamperKind::*;
    let written = written_as(row);
    if row.seq > pos && written == Some(row.seq) {
        let what = if row.seq == pos + 1 {
            format!(
                "it is missing (deleted): the journal jumps from entry {} to entry {}",
                pos.wrapping_sub(1) as i64,
                row.seq
            )
        } else {
            format!("entries {pos} to {} are missing (deleted)", row.seq - 1)
        };
        return Ok(tamper(pos, Deleted, what));
    }
    match written {
        None => Ok(tamper(
            pos,
            Modified,
            "it was modified: its contents do not match its stored hash".into(),
        )),
        Some(q) if q == row.seq && row.seq == pos => {
            // Self-consistent but not linked to the entry before it.
            let last = store
                .conn()
                .query_row("SELECT MAX(seq) FROM journal_entry", [], |r| {
                    r.get::<_, i64>(0)
                })
                .map_err(|e| store.err(e))? as u64;
            if pos == last && pos > 0 {
                Ok(tamper(
                    pos,
                    Inserted,
                    format!("it was inserted: it does not link to entry {}", pos - 1),
                ))
            } else if pos == 0 {
                Ok(tamper(
                    pos,
                    Modified,
                    "it was modified: the first entry must link to 32 zero bytes".into(),
                ))
            } else {
                Ok(tamper(
                    pos - 1,
                    Modified,
                    format!("it was modified and re-hashed: entry {pos} no longer links to it"),
                ))
            }
        }
        Some(q) if q > row.seq => {
            // The row holds a later entry. A swap puts entry `row.seq` at position q.
            let swapped = row_at(store, q)?.and_then(|r| written_as(&r)) == Some(row.seq);
            if swapped {
                Ok(tamper(pos, Reordered, format!("it is out of order (reordered): the entry stored as {} was written as entry {q}", row.seq)))
            } else {
                Ok(tamper(pos, Deleted, format!("it was deleted and later entries renumbered: the entry stored as {} was written as entry {q}", row.seq)))
            }
        }
        Some(q) => {
            // q < row.seq: the row was written earlier and pushed back.
            let other = row_at(store, q)?.and_then(|r| written_as(&r));
            if other == Some(q) {
                Ok(tamper(
                    q,
                    Inserted,
                    format!(
                        "an entry was inserted here: the original entry {q} now sits at {}",
                        row.seq
                    ),
                ))
            } else if other == Some(row.seq) {
                Ok(tamper(q, Reordered, format!("it is out of order (reordered): the entry stored as {q} was written as entry {}", row.seq)))
            } else {
                let _ = prev;
                Ok(tamper(
                    pos,
                    Modified,
                    format!("it was modified: it was written as entry {q}"),
                ))
            }
        }
    }
}
