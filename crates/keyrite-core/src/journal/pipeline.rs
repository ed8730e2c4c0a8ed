//! Verification's read path on every core. The journal's positions are cut into chunks of
//! `CHUNK_ROWS` consecutive seq values; worker threads, each with a read-only SQLite connection
//! of its own, take chunks in turn and compute, straight from SQLite's row buffer (no copy),
//! what is independent of the other rows: each entry's hash, its Merkle leaf hash and the
//! fields verification checks. The calling thread folds the chunks in order: links, positions,
//! times, the tree. The fold applies the checks in the same order as a one-row-at-a-time scan,
//! so the verdict and the first bad position are the same; the tree is still the one RFC 9162
//! tree of `merkle.rs`, built in order.
//!
//! Why several connections: reading rows out of SQLite (stepping the B-tree, the page reads)
//! is about a third of verification's CPU; on one thread it was the critical path, with the
//! hashing cores waiting for it. Each chunk is read in a read transaction of its own. The
//! journal is append-only, so a chunk read later can only see rows appended since (the last
//! chunk is open-ended and reads them); a row changed while verification runs is a tamper
//! that the next verification names.

use super::merkle::{entry_hash, leaf_hash, Hash};
use super::time::UtcTime;
use super::VerifyError;
use crate::store::{Store, StoreError};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

/// Positions per chunk: large enough that a chunk's query and hand-over cost nothing
/// measurable (~10 MB of bodies), small enough that the workers start hashing at once and
/// stop soon after a verdict. Keyrite's own tests (`testkit`, which a release refuses) use
/// chunks of 4 positions, so that their 10- to 30-entry journals cross chunk boundaries
/// everywhere, end on a full chunk and on a partial one, and every tamper verdict is found
/// through the whole pipeline.
const CHUNK_ROWS: i64 = if cfg!(any(test, feature = "testkit")) {
    4
} else {
    1 << 15
};

/// Chunks a worker may read ahead of the fold: bounds the memory of a fold that lags and the
/// work done after a verdict.
const AHEAD: usize = 4;

/// At most this many chunks (and so queries): a seq far beyond the journal's end (a forged
/// row) makes the last chunk open-ended instead of making millions of empty ones. In a
/// release that is 134 M positions; a longer journal's tail is read by one worker.
const MAX_CHUNKS: i64 = 1 << 12;

/// How much of the file a worker's connection maps (SQLite lowers it to its own cap).
const MMAP_BYTES: i64 = 1 << 31;

/// Worker threads (each with a SQLite connection) at most, whatever the core count.
const MAX_WORKERS: usize = 16;

/// What a worker computes of one row, independently of the rows before it.
pub(super) struct Facts {
    /// The stored entry hash, when it is 32 bytes and equals the hash of the row's seq, stored
    /// previous hash and body (the fold still checks that the stored previous hash links).
    pub(super) hash: Option<Hash>,
    /// The row's RFC 9162 leaf hash (of `hash`; zeros when `hash` is `None`).
    pub(super) leaf: Hash,
    /// The body's time, when its `seq` is the row's seq and its `time` is valid.
    pub(super) time: Option<UtcTime>,
    /// `(size, signer_fingerprint)` when the body is a `checkpoint` event (boxed: one entry
    /// in hundreds is one, and every row's facts cross between threads).
    pub(super) checkpoint: Option<Box<(u64, Option<String>)>>,
}

/// One row as the fold sees it.
pub(super) struct Checked {
    /// The row's seq as stored (a negative one wrapped, as `ORDER BY seq` reads it first).
    pub(super) seq: u64,
    /// The stored previous hash when it is 32 bytes (else `facts.hash` is `None` too).
    pub(super) prev: Option<Hash>,
    pub(super) facts: Facts,
}

/// Why reading stopped after a chunk's rows.
pub(super) enum End {
    /// No more rows.
    Exhausted,
    /// A row one of whose byte columns holds another SQLite type: `seq` and e.g. "its body
    /// is stored as text, not as bytes".
    Odd { seq: u64, what: String },
    /// SQLite failed reading the next row.
    Failed(StoreError),
}

/// A chunk's rows in seq order; `end` is `None` when later chunks follow.
pub(super) struct Chunk {
    pub(super) rows: Vec<Checked>,
    pub(super) end: Option<End>,
}

/// The `(first, last)` seq of chunk `k` of `count` (both inclusive): the first chunk also takes
/// every negative seq, the last every seq after it.
fn bounds(k: i64, count: i64) -> (i64, i64) {
    let lo = if k == 0 { i64::MIN } else { k * CHUNK_ROWS };
    let hi = if k + 1 == count {
        i64::MAX
    } else {
        (k + 1) * CHUNK_ROWS - 1
    };
    (lo, hi)
}

/// How many chunks cover the journal whose largest seq is `last`.
fn chunk_count(last: Option<i64>) -> i64 {
    match last {
        Some(l) if l >= 0 => (l / CHUNK_ROWS + 1).min(MAX_CHUNKS),
        _ => 1,
    }
}

/// Reads chunk `k` of `count` through `stmt` and computes each row's facts.
/// `rows` is an emptied buffer of an earlier chunk, reused.
fn read_chunk(
    src: Source<'_>,
    stmt: &mut rusqlite::Statement<'_>,
    k: i64,
    count: i64,
    mut rows: Vec<Checked>,
) -> Chunk {
    let end = match fill(stmt, bounds(k, count), &mut rows) {
        Ok(None) if k + 1 == count => Some(End::Exhausted),
        Ok(end) => end,
        Err(e) => Some(End::Failed(src.err(e))),
    };
    Chunk { rows, end }
}

/// Appends the facts of every row with a seq in `lo..=hi` to `out`; `Some(End::Odd)` at a
/// row one of whose byte columns holds another type, `None` when every row was read.
fn fill(
    stmt: &mut rusqlite::Statement<'_>,
    (lo, hi): (i64, i64),
    out: &mut Vec<Checked>,
) -> rusqlite::Result<Option<End>> {
    let mut rows = stmt.query([lo, hi])?;
    while let Some(r) = rows.next()? {
        let seq = r.get::<_, i64>(0)? as u64;
        // Borrowed from SQLite's row buffer: hashed and scanned in place.
        let blob = |i| r.get_ref(i).and_then(|v| v.as_blob().map_err(Into::into));
        let (Ok(body), Ok(prev), Ok(hash)) = (blob(1), blob(2), blob(3)) else {
            let what = odd_column(r)?;
            return Ok(Some(End::Odd { seq, what }));
        };
        let prev = <Hash>::try_from(prev).ok();
        out.push(Checked {
            seq,
            prev,
            facts: facts(seq, prev, body, hash),
        });
    }
    Ok(None)
}

/// Which of the row's byte columns holds another type, in words.
fn odd_column(r: &rusqlite::Row<'_>) -> rusqlite::Result<String> {
    use rusqlite::types::Type;
    for (i, name) in [(1, "body"), (2, "previous hash"), (3, "entry hash")] {
        let kind = match r.get_ref(i)?.data_type() {
            Type::Blob => continue,
            Type::Null => "null",
            Type::Integer => "an integer",
            Type::Real => "a real number",
            Type::Text => "text",
        };
        return Ok(format!("its {name} is stored as {kind}, not as bytes"));
    }
    Err(rusqlite::Error::InvalidColumnType(
        1,
        "body".into(),
        Type::Blob,
    ))
}

/// What verification computes of one row before the fold.
fn facts(seq: u64, prev: Option<Hash>, body: &[u8], stored: &[u8]) -> Facts {
    let hash = match (prev, <Hash>::try_from(stored)) {
        (Some(prev), Ok(stored)) if entry_hash(seq, &prev, body) == stored => Some(stored),
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
    // The fold checks that `seq` is the row's position before it reads these fields.
    let fields = super::scan::checked(body).filter(|b| b.seq == seq);
    Facts {
        hash,
        leaf: leaf_hash(&h),
        time: fields.as_ref().and_then(|b| UtcTime::parse(&b.time)),
        checkpoint: fields.and_then(|f| f.checkpoint()).map(Box::new),
    }
}

/// What the workers and the fold share.
struct Shared {
    /// The next chunk a worker takes.
    next: AtomicUsize,
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    /// Chunks read and not yet folded, by index.
    ready: BTreeMap<usize, Chunk>,
    /// Chunks folded so far.
    folded: usize,
    /// The fold reached a verdict (or a worker died): workers stop taking chunks.
    stop: bool,
    /// A worker panicked: its chunk will never come.
    lost: bool,
    /// Emptied row buffers of folded chunks, for the next chunks (fresh 5 MB buffers cost
    /// page faults and zeroing, chunk after chunk).
    spare: Vec<Vec<Checked>>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A worker that panicked holding the lock has set nothing half-way worth keeping out.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Marks the run lost when a worker unwinds, so that the fold does not wait for its chunk.
struct Watch<'a>(&'a Shared);

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let mut st = self.0.lock();
            st.lost = true;
            st.stop = true;
            self.0.changed.notify_all();
        }
    }
}

/// Where the workers read: the store's file, and how its errors are named.
#[derive(Clone, Copy)]
struct Source<'a> {
    path: &'a std::path::Path,
    busy: std::time::Duration,
}

impl Source<'_> {
    fn err(&self, e: rusqlite::Error) -> StoreError {
        StoreError::from_sqlite(self.path, self.busy, e)
    }

    /// A read-only connection of the worker's own (a `Store`'s connection cannot be shared
    /// between threads).
    fn connect(&self) -> Result<rusqlite::Connection, StoreError> {
        let conn = crate::store::connect_read_only(self.path, self.busy)?;
        conn.busy_timeout(self.busy).map_err(|e| self.err(e))?;
        // Pages read straight from the kernel's page cache instead of copied out of it by a
        // read() each: about a tenth of verification's CPU (docs/performance.md). The mapping
        // is read-only and goes with the connection when the run ends. SQLite caps it (2 GiB
        // by default); pages past the cap are read as before. The known cost: a file
        // truncated by another process during the run ends it with SIGBUS, not a message —
        // still a failed verification, never a passed one.
        conn.pragma_update(None, "mmap_size", MMAP_BYTES)
            .map_err(|e| self.err(e))?;
        Ok(conn)
    }
}

/// The SQL of a chunk: every row with `?1 <= seq <= ?2`, in seq order.
const CHUNK_SQL: &str = "SELECT seq, body, prev_hash, entry_hash FROM journal_entry \
                         WHERE seq BETWEEN ?1 AND ?2 ORDER BY seq";

/// One worker: its own connection, chunks in turn until none is left or the fold stops.
fn work(src: Source<'_>, shared: &Shared, count: i64) {
    let _watch = Watch(shared);
    let conn = match src.connect() {
        Ok(conn) => conn,
        Err(e) => return shared.fail_next(count, e),
    };
    let mut stmt = match conn.prepare(CHUNK_SQL) {
        Ok(stmt) => stmt,
        Err(e) => return shared.fail_next(count, src.err(e)),
    };
    while let Some(k) = shared.take(count) {
        let rows = shared.lock().spare.pop().unwrap_or_default();
        let chunk = read_chunk(src, &mut stmt, k as i64, count, rows);
        shared.put(k, chunk);
    }
}

impl Shared {
    /// The next chunk to read, once the fold is near enough; `None` when none is left or the
    /// fold has stopped.
    fn take(&self, count: i64) -> Option<usize> {
        let k = self.next.fetch_add(1, Ordering::Relaxed);
        if k as i64 >= count {
            return None;
        }
        let mut st = self.lock();
        while !st.stop && k >= st.folded + AHEAD {
            st = self.changed.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        (!st.stop).then_some(k)
    }

    fn put(&self, k: usize, chunk: Chunk) {
        self.lock().ready.insert(k, chunk);
        self.changed.notify_all();
    }

    /// A worker that cannot read: the chunk it takes names why (the others read the rest).
    fn fail_next(&self, count: i64, e: StoreError) {
        if let Some(k) = self.take(count) {
            self.put(
                k,
                Chunk {
                    rows: Vec::new(),
                    end: Some(End::Failed(e)),
                },
            );
        }
    }
}

/// Reads every row of the journal in `store` on the workers and gives `fold` each chunk in
/// order; `fold` returns `Ok(false)` when verification is over (the last chunk, or a verdict);
/// its error ends the run.
pub(super) fn run(
    store: &Store,
    mut fold: impl FnMut(&mut Chunk) -> Result<bool, VerifyError>,
) -> Result<(), VerifyError> {
    let last: Option<i64> = store
        .conn()
        .query_row("SELECT MAX(seq) FROM journal_entry", [], |r| r.get(0))
        .map_err(|e| store.err(e))?;
    let count = chunk_count(last);
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_WORKERS)
        .min(count as usize);
    let shared = Shared {
        next: AtomicUsize::new(0),
        state: Mutex::new(State::default()),
        changed: Condvar::new(),
    };
    let src = Source {
        path: store.path(),
        busy: store.busy_timeout(),
    };
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| work(src, &shared, count));
        }
        let verdict = fold_in_order(&shared, count, &mut fold);
        let mut st = shared.lock();
        st.stop = true;
        shared.changed.notify_all();
        drop(st);
        verdict
    })
}

/// The calling thread's part: each chunk, in order, as soon as a worker has read it.
fn fold_in_order(
    shared: &Shared,
    count: i64,
    fold: &mut impl FnMut(&mut Chunk) -> Result<bool, VerifyError>,
) -> Result<(), VerifyError> {
    for k in 0..count as usize {
        let mut chunk = {
            let mut st = shared.lock();
            loop {
                if let Some(c) = st.ready.remove(&k) {
                    break c;
                }
                if st.lost {
                    // Only a bug gets here (a worker panicked); say so rather than hang.
                    panic!("a journal verification worker stopped before reading its chunk");
                }
                st = shared.changed.wait(st).unwrap_or_else(|p| p.into_inner());
            }
        };
        if !fold(&mut chunk)? {
            return Ok(());
        }
        chunk.rows.clear();
        let mut st = shared.lock();
        st.folded = k + 1;
        st.spare.push(chunk.rows);
        drop(st);
        shared.changed.notify_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_every_seq_once_in_order() {
        for last in [
            None,
            Some(-7),
            Some(0),
            Some(3),
            Some(4),
            Some(9),
            Some(i64::MAX),
        ] {
            let count = chunk_count(last);
            assert!((1..=MAX_CHUNKS).contains(&count));
            let mut expect = i64::MIN;
            for k in 0..count {
                let (lo, hi) = bounds(k, count);
                assert_eq!(lo, expect, "chunk {k} of {count} for {last:?}");
                assert!(lo <= hi);
                expect = hi.wrapping_add(1);
            }
            assert_eq!(bounds(count - 1, count).1, i64::MAX);
        }
        assert_eq!(chunk_count(Some(9)), 3);
        assert_eq!(bounds(1, 3), (4, 7));
    }
}
