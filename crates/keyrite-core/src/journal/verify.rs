//! Verification: recompute every entry hash and link, rebuild the Merkle head, and compare
//! with a signed checkpoint. On the first problem, a second look at the rows around it names
//! what was done (modified, deleted, reordered, inserted, truncated).
//!
//! The journal's own stored checkpoints (`journal_checkpoint`) are checked too: each must be
//! signed by a trusted key and match the journal's root at its size. The report says which
//! entries are covered by the checkpoint given by the caller (the paper one), which only by
//! stored signed checkpoints, and which by nothing, and whether the signer was pinned by the
//! caller or only taken from the journal itself.

use super::checkpoint::{Checkpoint, CheckpointError};
use super::merkle::{entry_hash, Hash, TreeBuilder};
use super::pipeline::{Chunk, End};
use super::time::UtcTime;
use super::TreeHead;
use crate::store::{Store, StoreError};

pub(super) use super::verify_report::tamper;
pub use super::verify_report::*;

/// What verification does besides the chain, the tree and the checkpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyOptions {
    /// Also run SQLite's page-level check of the whole file (`PRAGMA quick_check`): it reads
    /// every page of every table once more (the inventory, the custodian register, free pages),
    /// which the hash chain does not need — a damaged page of the journal's own rows is found
    /// by the scan either way.
    pub sqlite_check: bool,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        Self { sqlite_check: true }
    }
}

/// Verifies the journal in `store`; with a checkpoint, also its signature (the signer must be
/// in `trusted`) and that the journal's first `size` entries have the checkpoint's root. Reads
/// the entries once, in order, and builds the tree once.
pub fn verify(
    store: &Store,
    origin: &str,
    checkpoint: Option<&Checkpoint>,
    trusted: &[[u8; 32]],
    options: VerifyOptions,
) -> Result<VerifyReport, VerifyError> {
    let (stored_rows, table_missing) = stored_rows(store)?;
    // Without keys from the caller, the journal's own key: its latest stored checkpoint's
    // signer (the `checkpoint` entries are the fallback, once the scan has read them).
    let mut trust = if trusted.is_empty() {
        CheckpointTrust::JournalOwn(
            stored_rows
                .iter()
                .rev()
                .find_map(|(_, t)| Checkpoint::parse(t).ok())
                .map(|c| c.signer_fingerprint()),
        )
    } else {
        CheckpointTrust::Pinned(trusted.to_vec())
    };
    let check_paper = |trust: &CheckpointTrust| -> Result<(), VerifyError> {
        let Some(cp) = checkpoint else { return Ok(()) };
        match trust {
            CheckpointTrust::Pinned(k) => cp.check_signature(k)?,
            CheckpointTrust::JournalOwn(Some(k)) => cp.check_signature(&[*k])?,
            CheckpointTrust::JournalOwn(None) => return Err(VerifyError::NoTrustAnchor),
        }
        if cp.origin != origin {
            return Err(VerifyError::OtherJournal {
                checkpoint: cp.origin.clone(),
                journal: origin.to_string(),
            });
        }
        Ok(())
    };
    let paper_checked_early = trust != CheckpointTrust::JournalOwn(None);
    if paper_checked_early {
        check_paper(&trust)?;
    }
    if options.sqlite_check {
        store.quick_check()?;
    }
    // Roots at the sizes something claims, collected during the scan.
    let mut scan = Scan {
        wanted: stored_rows.iter().map(|(s, _)| *s).collect(),
        next_wanted: None,
        roots: std::collections::BTreeMap::new(),
        journaled: Vec::new(),
        tree: TreeBuilder::new(),
        prev: [0; 32],
        prev_time: UtcTime(i64::MIN),
        at_checkpoint: None,
        cp_size: checkpoint.map(|c| c.size),
    };
    scan.next_wanted = scan.wanted.range(1..).next().copied();
    if scan.cp_size == Some(0) {
        scan.at_checkpoint = Some(scan.tree.root());
    }
    super::pipeline::run(store, |chunk| scan.fold(store, chunk))?;
    let Scan {
        wanted,
        mut roots,
        journaled,
        tree,
        prev,
        at_checkpoint,
        ..
    } = scan;
    if wanted.contains(&0) {
        roots.insert(0, TreeBuilder::new().root());
    }
    let head = TreeHead {
        size: tree.size(),
        root: tree.root(),
    };
    if !paper_checked_early {
        // The stored table names no key: fall back to the latest `checkpoint` entry's.
        let key = journaled
            .iter()
            .rev()
            .find_map(|(_, fp)| fp.as_deref().and_then(|h| hex::decode(h).ok()))
            .and_then(|b| <[u8; 32]>::try_from(b).ok());
        trust = CheckpointTrust::JournalOwn(key);
        check_paper(&trust)?;
    }
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
    let keys: Vec<[u8; 32]> = match &trust {
        CheckpointTrust::Pinned(k) => k.clone(),
        CheckpointTrust::JournalOwn(k) => k.iter().copied().collect(),
    };
    let mut stored = StoredCheckpoints {
        table_missing,
        ..Default::default()
    };
    for (size, text) in &stored_rows {
        let bad = |what: String| VerifyError::StoredCheckpoint { size: *size, what };
        let cp = Checkpoint::parse(text).map_err(|e| {
            bad(format!(
                "is unreadable ({e}): the stored-checkpoint table was altered"
            ))
        })?;
        if cp.size != *size {
            return Err(bad(format!(
                "says it covers {} entries: the stored-checkpoint table was altered",
                cp.size
            )));
        }
        match cp.check_signature(&keys) {
            Ok(()) => {}
            Err(CheckpointError::UnknownSigner { .. }) => {
                // Signed (perhaps validly) by a key the caller does not trust: it proves
                // nothing to this caller, so it is listed and not counted.
                cp.check_signature(&[cp.signer_fingerprint()]).map_err(|_| {
                    bad("has a signature that does not verify: the stored-checkpoint table was altered".into())
                })?;
                stored.other_signer.push(*size);
                continue;
            }
            Err(_) => {
                return Err(bad(
                    "has a signature that does not verify: the stored-checkpoint table was altered"
                        .into(),
                ))
            }
        }
        if cp.origin != origin {
            return Err(bad(format!(
                "is for journal {}: the stored-checkpoint table was altered",
                cp.origin
            )));
        }
        match roots.get(size) {
            None => {
                return Err(bad(format!(
                    "covers {size} entries but the journal holds only {}: entries {} to {} are missing (the journal was truncated or rolled back to an older copy)",
                    head.size,
                    head.size,
                    size - 1
                )))
            }
            Some(root) if *root != cp.root => {
                return Err(bad(format!(
                    "does not match the journal's first {size} entries: history before entry {size} was rewritten after that checkpoint was signed"
                )))
            }
            Some(_) => stored.verified.push(*size),
        }
    }
    let held: std::collections::BTreeSet<u64> = stored_rows.iter().map(|(s, _)| *s).collect();
    stored.missing = journaled
        .iter()
        .map(|(s, _)| *s)
        .filter(|s| !held.contains(s))
        .collect();
    stored.missing.dedup();
    let paper = proven.map(|(s, _)| s).unwrap_or(0);
    let best_stored = stored
        .verified
        .iter()
        .copied()
        .max()
        .unwrap_or(0)
        .max(paper);
    let coverage = Coverage {
        paper: SeqRange::of(0, paper),
        stored_only: SeqRange::of(paper, best_stored),
        uncovered: SeqRange::of(best_stored, head.size),
    };
    Ok(VerifyReport {
        head,
        last_entry_hash: prev,
        checkpoint: proven,
        trust,
        stored,
        coverage,
    })
}

/// The in-order part of the scan: links, positions, times, the tree, and what the stored
/// checkpoints are compared with afterwards.
struct Scan {
    /// Sizes something claims a root at, and those roots once reached.
    wanted: std::collections::BTreeSet<u64>,
    roots: std::collections::BTreeMap<u64, Hash>,
    /// The smallest wanted size above the tree's (one comparison per row, not a lookup).
    next_wanted: Option<u64>,
    /// `(size, signer_fingerprint)` of every `checkpoint` entry.
    journaled: Vec<(u64, Option<String>)>,
    tree: TreeBuilder,
    prev: Hash,
    prev_time: UtcTime,
    at_checkpoint: Option<Hash>,
    cp_size: Option<u64>,
}

impl Scan {
    /// Folds one chunk in order; `Ok(false)` after the last row. The checks of a row come in
    /// the order the first bad row's verdict depends on: hash and link, body, time.
    fn fold(&mut self, store: &Store, chunk: &mut Chunk) -> Result<bool, VerifyError> {
        for e in &chunk.rows {
            let pos = self.tree.size();
            let linked = e
                .facts
                .hash
                .filter(|_| e.seq == pos && e.prev == Some(self.prev));
            let Some(h) = linked else {
                // The row as stored, read again for the diagnosis only.
                let row = row_at(store, e.seq)?
                    .ok_or_else(|| store.err(rusqlite::Error::QueryReturnedNoRows))?;
                return Err(diagnose(store, pos, &self.prev, &row)?);
            };
            let Some(time) = e.facts.time else {
                return Err(tamper(
                    pos,
                    TamperKind::Modified,
                    "its body was rewritten (and re-hashed): it has no valid seq and time".into(),
                ));
            };
            if time < self.prev_time {
                return Err(tamper(
                    pos,
                    TamperKind::Reordered,
                    format!(
                        "it is dated {} before entry {} ({}): entries were reordered or forged",
                        time.to_rfc3339(),
                        pos - 1,
                        self.prev_time.to_rfc3339()
                    ),
                ));
            }
            self.prev_time = time;
            self.tree.push_leaf(e.facts.leaf);
            self.prev = h;
            let size = self.tree.size();
            if self.cp_size == Some(size) {
                self.at_checkpoint = Some(self.tree.root());
            }
            if let Some(ev) = &e.facts.checkpoint {
                self.journaled.push((**ev).clone());
            }
            if self.next_wanted == Some(size) {
                self.roots.insert(size, self.tree.root());
                self.next_wanted = self.wanted.range(size + 1..).next().copied();
            }
        }
        match chunk.end.take() {
            None => Ok(true),
            Some(End::Exhausted) => Ok(false),
            Some(End::Odd { seq, what }) => {
                let pos = self.tree.size();
                Err(tamper(
                    pos,
                    TamperKind::Modified,
                    if seq == pos {
                        format!("it was modified: {what}")
                    } else {
                        format!("it was modified: the entry stored as {seq}: {what}")
                    },
                ))
            }
            Some(End::Failed(e)) => Err(e.into()),
        }
    }
}

/// `(size, text)` of every stored checkpoint in size order, and whether the table is gone.
fn stored_rows(store: &Store) -> Result<(Vec<(u64, String)>, bool), VerifyError> {
    let mut stmt = match store
        .conn()
        .prepare("SELECT size, text FROM journal_checkpoint ORDER BY size")
    {
        Ok(s) => s,
        Err(rusqlite::Error::SqliteFailure(_, Some(m))) if m.contains("no such table") => {
            return Ok((Vec::new(), true))
        }
        Err(e) => return Err(store.err(e).into()),
    };
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
        .map_err(|e| store.err(e))?;
    let mut out = Vec::new();
    for r in rows {
        let (size, text) = r.map_err(|e| store.err(e))?;
        let size = u64::try_from(size).map_err(|_| VerifyError::StoredCheckpoint {
            size: 0,
            what: format!("has a negative size ({size}): the stored-checkpoint table was altered"),
        })?;
        out.push((size, text));
    }
    Ok((out, false))
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
pub(super) fn diagnose(
    store: &Store,
    pos: u64,
    prev: &Hash,
    row: &Row,
) -> Result<VerifyError, StoreError> {
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
