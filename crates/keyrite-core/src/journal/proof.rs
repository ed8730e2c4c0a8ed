//! Proving that a range of entries is what a signed checkpoint covers, without reading the
//! whole journal: the entries of the range are re-hashed from their bodies and linked, and
//! the RFC 9162 root at the checkpoint's size is recomputed from them and from siblings
//! outside the range (stored subtree nodes, [`super::index`], or stored entry hashes). The
//! root equals the signed one only if the range's bodies are exactly those signed, at those
//! positions (SHA-256 collision resistance): a forged sibling makes the proof fail, never
//! pass. Entries outside the range are not checked; `keyrite journal verify` does that.

use super::checkpoint::Checkpoint;
use super::index::NODE_LEVEL;
use super::merkle::{entry_hash, leaf_hash, node_hash, Hash};
use super::time::UtcTime;
use super::verify::{diagnose, tamper, Row, TamperKind, VerifyError};
use super::Journal;
use crate::store::Store;
use std::collections::BTreeMap;

/// What [`Journal::prove_range`] proved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeProof {
    /// First entry of the range.
    pub first: u64,
    /// Last entry of the range.
    pub last: u64,
    /// The checkpoint's size (its root was recomputed and matched).
    pub size: u64,
    /// Entries in the journal now.
    pub journal_size: u64,
}

impl Journal {
    /// Proves that entries `first..=last` are the ones checkpoint `cp` covers: `cp` must be
    /// signed by a key in `trusted`, belong to this journal, and cover `last`; each entry's
    /// hash is recomputed from its body and linked to the one before, and the root at
    /// `cp.size` recomputed over them must be `cp.root`. Reads `O(range + log n)` rows.
    pub fn prove_range(
        &self,
        cp: &Checkpoint,
        trusted: &[[u8; 32]],
        first: u64,
        last: u64,
    ) -> Result<RangeProof, VerifyError> {
        cp.check_signature(trusted)?;
        if cp.origin != self.origin() {
            return Err(VerifyError::OtherJournal {
                checkpoint: cp.origin.clone(),
                journal: self.origin().to_string(),
            });
        }
        let have = self.head().size;
        if cp.size > have {
            return Err(VerifyError::CheckpointBeyondJournal {
                size: cp.size,
                have,
                last: cp.size - 1,
            });
        }
        let last = last.min(cp.size.saturating_sub(1));
        let range = range_hashes(self.store(), first, last)?;
        let root = root_over(self.store(), 0, cp.size, &range)?;
        if root != cp.root {
            return Err(VerifyError::CheckpointMismatch {
                size: cp.size,
                root: hex::encode(cp.root),
                found: hex::encode(root),
            });
        }
        Ok(RangeProof {
            first,
            last,
            size: cp.size,
            journal_size: have,
        })
    }
}

/// The recomputed entry hashes of `first..=last`, each checked against its stored hash, its
/// predecessor and its body's seq and time (as full verification does).
fn range_hashes(store: &Store, first: u64, last: u64) -> Result<BTreeMap<u64, Hash>, VerifyError> {
    let mut out = BTreeMap::new();
    if first > last {
        return Ok(out);
    }
    let mut stmt = store
        .conn()
        .prepare("SELECT seq, body, prev_hash, entry_hash FROM journal_entry WHERE seq >= ?1 AND seq <= ?2 ORDER BY seq")
        .map_err(|e| store.err(e))?;
    let mut rows = stmt
        .query([first as i64, last as i64])
        .map_err(|e| store.err(e))?;
    let mut prev: Option<Hash> = None;
    let mut prev_time = UtcTime(i64::MIN);
    let mut pos = first;
    while let Some(r) = rows.next().map_err(|e| store.err(e))? {
        let row = Row {
            seq: r.get::<_, i64>(0).map_err(|e| store.err(e))? as u64,
            body: r.get(1).map_err(|e| store.err(e))?,
            prev: r.get(2).map_err(|e| store.err(e))?,
            hash: r.get(3).map_err(|e| store.err(e))?,
        };
        // The first entry's predecessor is taken as stored: its hash covers it.
        let link: Hash = match prev {
            Some(p) => p,
            None => row.prev.as_slice().try_into().unwrap_or([0; 32]),
        };
        let ok = <Hash>::try_from(row.hash.as_slice()).ok().filter(|h| {
            row.seq == pos && row.prev == link && *h == entry_hash(pos, &link, &row.body)
        });
        let Some(h) = ok else {
            return Err(diagnose(store, pos, &link, &row)?);
        };
        let time = super::scan::checked(&row.body)
            .filter(|b| b.seq == pos)
            .and_then(|b| UtcTime::parse(&b.time));
        let Some(time) = time.filter(|t| *t >= prev_time) else {
            return Err(tamper(
                pos,
                TamperKind::Modified,
                "its body was rewritten (and re-hashed): it has no valid seq and time, or is dated before the entry before it".into(),
            ));
        };
        prev_time = time;
        out.insert(pos, h);
        prev = Some(h);
        pos += 1;
    }
    if pos <= last {
        return Err(tamper(
            pos,
            TamperKind::Deleted,
            format!("entries {pos} to {last} are missing (deleted)"),
        ));
    }
    Ok(out)
}

/// RFC 9162 `MTH` of entries `lo..hi`: recomputed hashes inside the range, stored ones (and
/// stored subtree nodes) outside it.
fn root_over(
    store: &Store,
    lo: u64,
    hi: u64,
    range: &BTreeMap<u64, Hash>,
) -> Result<Hash, VerifyError> {
    let n = hi - lo;
    if n == 0 {
        return Ok(super::merkle::empty_root());
    }
    let touches = range.range(lo..hi).next().is_some();
    if n == 1 {
        return match range.get(&lo) {
            Some(h) => Ok(leaf_hash(h)),
            None => Ok(leaf_hash(&stored_hash(store, lo)?)),
        };
    }
    if !touches && n.is_power_of_two() && lo.is_multiple_of(n) {
        if n >= 1 << NODE_LEVEL {
            if let Some(h) = stored_node(store, n.trailing_zeros(), lo / n)? {
                return Ok(h);
            }
        }
        return subtree_from_stored(store, lo, hi);
    }
    let mut k = 1u64;
    while k * 2 < n {
        k *= 2;
    }
    Ok(node_hash(
        &root_over(store, lo, lo + k, range)?,
        &root_over(store, lo + k, hi, range)?,
    ))
}

/// The root of the perfect subtree over `lo..hi` from stored entry hashes.
fn subtree_from_stored(store: &Store, lo: u64, hi: u64) -> Result<Hash, VerifyError> {
    let mut stmt = store
        .conn()
        .prepare_cached(
            "SELECT entry_hash FROM journal_entry WHERE seq >= ?1 AND seq < ?2 ORDER BY seq",
        )
        .map_err(|e| store.err(e))?;
    let mut rows = stmt
        .query([lo as i64, hi as i64])
        .map_err(|e| store.err(e))?;
    let mut tree = super::merkle::TreeBuilder::new();
    while let Some(r) = rows.next().map_err(|e| store.err(e))? {
        let h: Vec<u8> = r.get(0).map_err(|e| store.err(e))?;
        tree.push(&h.try_into().unwrap_or([0; 32]));
    }
    if tree.size() != hi - lo {
        return Err(tamper(
            lo,
            TamperKind::Deleted,
            format!("entries between {lo} and {} are missing (deleted)", hi - 1),
        ));
    }
    Ok(tree.root())
}

fn stored_hash(store: &Store, seq: u64) -> Result<Hash, VerifyError> {
    match store.conn().query_row(
        "SELECT entry_hash FROM journal_entry WHERE seq = ?1",
        [seq as i64],
        |r| r.get::<_, Vec<u8>>(0),
    ) {
        Ok(h) => Ok(h.try_into().unwrap_or([0; 32])),
        Err(rusqlite::Error::QueryReturnedNoRows) => Err(tamper(
            seq,
            TamperKind::Deleted,
            "it is missing (deleted)".into(),
        )),
        Err(e) => Err(store.err(e).into()),
    }
}

fn stored_node(store: &Store, level: u32, idx: u64) -> Result<Option<Hash>, VerifyError> {
    let r = store.conn().query_row(
        "SELECT hash FROM journal_node WHERE level = ?1 AND idx = ?2",
        rusqlite::params![level, idx as i64],
        |r| r.get::<_, Vec<u8>>(0),
    );
    match r {
        Ok(h) => Ok(h.try_into().ok()),
        Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
        Err(rusqlite::Error::SqliteFailure(_, Some(m))) if m.contains("no such table") => Ok(None),
        Err(e) => Err(store.err(e).into()),
    }
}
