//! Verification's read path on every core. SQLite's rows are read on the calling thread, in
//! batches; while one batch is read, the one before it is hashed and scanned on rayon's pool
//! (each entry's hash, its Merkle leaf hash and the fields verification checks are independent
//! of the other entries), and the one before that is folded, in order, on the calling thread:
//! links, positions, times, the tree. The fold applies the checks in the same order as a
//! one-row-at-a-time scan, so the verdict and the first bad position are the same; the tree is
//! still the one RFC 9162 tree of `merkle.rs`, built in order.

use super::merkle::{entry_hash, leaf_hash, Hash};
use super::time::UtcTime;
use super::verify_report::Row;
use super::VerifyError;
use crate::store::{Store, StoreError};
use rayon::prelude::*;
use std::ops::Range;

/// Rows per batch: large enough that handing a batch to the pool costs nothing measurable,
/// small enough (~1.3 MB of 321-byte bodies) to stay in cache between the stages. Keyrite's
/// own tests (`testkit`, which a release refuses) use batches of 4 rows, so that their 10- to
/// 30-entry journals cross batch boundaries everywhere, end on a full batch and on a partial
/// one, and every tamper verdict is found through the whole pipeline.
const BATCH_ROWS: usize = if cfg!(any(test, feature = "testkit")) {
    4
} else {
    4096
};

/// One row as read, its columns as ranges of the batch's buffer.
struct RawRow {
    seq: u64,
    body: Range<usize>,
    prev: Range<usize>,
    hash: Range<usize>,
}

/// What the pool computes of one row, independently of the rows before it.
pub(super) struct Facts {
    /// The stored entry hash, when it is 32 bytes and equals the hash of the row's seq, stored
    /// previous hash and body (the fold still checks that the stored previous hash links).
    pub(super) hash: Option<Hash>,
    /// The row's RFC 9162 leaf hash (of `hash`; zeros when `hash` is `None`).
    pub(super) leaf: Hash,
    /// The body's time, when its `seq` is the row's position and its `time` is valid.
    pub(super) time: Option<UtcTime>,
    /// `(size, signer_fingerprint)` when the body is a `checkpoint` event.
    pub(super) checkpoint: Option<(u64, Option<String>)>,
}

/// Why reading stopped after a batch's rows.
pub(super) enum End {
    /// No more rows.
    Exhausted,
    /// A row whose columns are not all blobs, as a `Row` for the diagnosis.
    Odd(Row),
    /// SQLite failed reading the next row.
    Failed(StoreError),
}

/// A batch of rows: `start` is the position of its first row when every row before verified.
#[derive(Default)]
pub(super) struct Batch {
    pub(super) start: u64,
    buf: Vec<u8>,
    rows: Vec<RawRow>,
    facts: Vec<Facts>,
    /// `None` when the batch is full and more rows may follow.
    pub(super) end: Option<End>,
}

/// One row of a batch with what the pool computed of it.
pub(super) struct Entry<'a> {
    pub(super) seq: u64,
    pub(super) body: &'a [u8],
    pub(super) prev: &'a [u8],
    pub(super) hash_col: &'a [u8],
    pub(super) facts: &'a Facts,
}

impl Entry<'_> {
    /// The row as the diagnosis reads it (a copy: only on the way to a verdict).
    pub(super) fn row(&self) -> Row {
        Row {
            seq: self.seq,
            body: self.body.to_vec(),
            prev: self.prev.to_vec(),
            hash: self.hash_col.to_vec(),
        }
    }
}

impl Batch {
    /// The batch's rows in order, each with its facts.
    pub(super) fn entries(&self) -> impl Iterator<Item = Entry<'_>> {
        self.rows.iter().zip(&self.facts).map(|(r, facts)| Entry {
            seq: r.seq,
            body: &self.buf[r.body.clone()],
            prev: &self.buf[r.prev.clone()],
            hash_col: &self.buf[r.hash.clone()],
            facts,
        })
    }
}

/// Reads up to `BATCH_ROWS` rows into `b` (its buffers reused); `start` is the first's position.
fn read(rows: &mut rusqlite::Rows<'_>, store: &Store, b: &mut Batch, start: u64) {
    b.start = start;
    b.buf.clear();
    b.rows.clear();
    b.facts.clear();
    b.end = fill(rows, store, &mut b.buf, &mut b.rows);
}

/// Appends rows until the batch is full (`None`) or reading ends (why).
fn fill(
    rows: &mut rusqlite::Rows<'_>,
    store: &Store,
    buf: &mut Vec<u8>,
    out: &mut Vec<RawRow>,
) -> Option<End> {
    while out.len() < BATCH_ROWS {
        let r = match rows.next() {
            Ok(Some(r)) => r,
            Ok(None) => return Some(End::Exhausted),
            Err(e) => return Some(End::Failed(store.err(e))),
        };
        let seq = match r.get::<_, i64>(0) {
            Ok(s) => s as u64,
            Err(e) => return Some(End::Failed(store.err(e))),
        };
        // Borrowed from SQLite's row buffer and copied once into the batch.
        let blob = |i| r.get_ref(i).and_then(|v| v.as_blob().map_err(Into::into));
        let (body, prev, hash) = match (blob(1), blob(2), blob(3)) {
            (Ok(body), Ok(prev), Ok(hash)) => (body, prev, hash),
            _ => {
                let row = || -> rusqlite::Result<Row> {
                    Ok(Row {
                        seq,
                        body: r.get(1)?,
                        prev: r.get(2)?,
                        hash: r.get(3)?,
                    })
                };
                return Some(match row() {
                    Ok(row) => End::Odd(row),
                    Err(e) => End::Failed(store.err(e)),
                });
            }
        };
        let mut put = |bytes: &[u8]| {
            let at = buf.len();
            buf.extend_from_slice(bytes);
            at..buf.len()
        };
        let (body, prev, hash) = (put(body), put(prev), put(hash));
        out.push(RawRow {
            seq,
            body,
            prev,
            hash,
        });
    }
    None
}

/// Hashes and scans a batch's rows on the pool, in order into `facts`.
fn compute(rows: &[RawRow], buf: &[u8], start: u64, facts: &mut Vec<Facts>) {
    rows.par_iter()
        .with_min_len(256)
        .enumerate()
        .map(|(i, r)| {
            let body = &buf[r.body.clone()];
            let hash = match (
                <Hash>::try_from(&buf[r.prev.clone()]),
                <Hash>::try_from(&buf[r.hash.clone()]),
            ) {
                (Ok(prev), Ok(stored)) if entry_hash(r.seq, &prev, body) == stored => Some(stored),
                _ => None,
            };
            let Some(h) = hash else {
                // The fold stops at this row with the diagnosis; nothing else of it is read.
                return Facts {
                    hash,
                    leaf: [0; 32],
                    time: None,
                    checkpoint: None,
                };
            };
            let fields = super::scan::checked(body).filter(|b| b.seq == start + i as u64);
            Facts {
                hash,
                leaf: leaf_hash(&h),
                time: fields.as_ref().and_then(|b| UtcTime::parse(&b.time)),
                checkpoint: fields.and_then(|f| f.checkpoint()),
            }
        })
        .collect_into_vec(facts);
}

/// Runs the three stages over every row of `rows`. `fold` gets each batch in order once its
/// facts are computed and returns `Ok(false)` when verification is over (the last batch, or a
/// verdict); its error ends the run.
pub(super) fn run(
    rows: &mut rusqlite::Rows<'_>,
    store: &Store,
    mut fold: impl FnMut(&mut Batch) -> Result<bool, VerifyError>,
) -> Result<(), VerifyError> {
    // `folded`: facts ready, folded on this thread; `hashed`: on the pool; `read`: being read.
    let (mut folded, mut hashed, mut next) = (Batch::default(), Batch::default(), Batch::default());
    read(rows, store, &mut hashed, 0);
    let mut first = true;
    loop {
        let more = hashed.end.is_none();
        let next_start = hashed.start + hashed.rows.len() as u64;
        let mut go_on = Ok(true);
        rayon::in_place_scope(|s| {
            let h = &mut hashed;
            s.spawn(|_| compute(&h.rows, &h.buf, h.start, &mut h.facts));
            if !first {
                go_on = fold(&mut folded);
            }
            if more && matches!(go_on, Ok(true)) {
                read(rows, store, &mut next, next_start);
            }
        });
        if !go_on? {
            return Ok(());
        }
        if !more {
            return fold(&mut hashed).map(|_| ());
        }
        std::mem::swap(&mut folded, &mut hashed);
        std::mem::swap(&mut hashed, &mut next);
        first = false;
    }
}
