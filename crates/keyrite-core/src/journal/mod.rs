//! The tamper-evident journal: append-only events in SQLite, a hash chain, an RFC 9162 Merkle
//! tree head, signed checkpoints, verification and SIEM export.
//!
//! Fail closed: [`Journal::append`] returns only after the entry is durably committed
//! (`synchronous=FULL`); if it returns an error the caller must not perform the operation.
//! [`Journal::append_with`] runs a database operation (an inventory change) in the same
//! transaction as its event, so either both are committed or neither is.

pub mod canonical;
pub mod checkpoint;
mod commit;
#[cfg(feature = "testkit")]
pub mod crash_point;
pub mod event;
pub mod export;
pub mod index;
pub mod merkle;
mod pipeline;
pub mod proof;
mod recent;
mod scan;
pub mod time;
pub mod verify;
mod verify_report;

pub use checkpoint::{
    CeremonyClosing, Checkpoint, CheckpointError, StoredCheckpoint, CLOSING_UNAVAILABLE_NOTE,
};
pub use commit::GROUPED_KINDS;
pub use event::Event;
pub use index::Select;
pub use merkle::Hash;
pub use proof::RangeProof;
pub use time::UtcTime;
pub use verify::{
    CheckpointTrust, Coverage, SeqRange, StoredCheckpoints, TamperKind, VerifyError, VerifyOptions,
    VerifyReport,
};

use crate::signer::{Signer, SignerError};
use crate::store::{Store, StoreError, StoreOptions};
use merkle::TreeBuilder;
use serde_json::{json, Value};
use std::path::Path;

/// Largest canonical body accepted (bytes). Events are small; evidence goes into files whose
/// SHA-256 the event names.
pub const MAX_BODY: usize = 64 * 1024;

/// Errors from the journal.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The store failed (locked, corrupt, second writer …).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The event names a field that holds a secret.
    #[error("event {kind} was refused: field {path} would put a secret into the journal; events carry identifiers and fingerprints only")]
    Secret {
        /// Event type.
        kind: String,
        /// JSON path of the field.
        path: String,
    },
    /// The event has no canonical encoding.
    #[error("event {kind} was refused: {source}")]
    Canonical {
        /// Event type.
        kind: String,
        /// Why.
        source: canonical::CanonicalError,
    },
    /// The event is too large.
    #[error("event {kind} was refused: its body is {size} bytes, more than {MAX_BODY}; put evidence in a file and journal its SHA-256")]
    TooLarge {
        /// Event type.
        kind: String,
        /// Body size.
        size: usize,
    },
    /// `details` must be a JSON object (or null).
    #[error("event {kind} was refused: details must be a JSON object")]
    DetailsNotObject {
        /// Event type.
        kind: String,
    },
    /// Signing a checkpoint failed.
    #[error("signing the checkpoint failed: {0}")]
    Signer(#[from] SignerError),
    /// A stored entry cannot be read back (run `keyrite journal verify`).
    #[error("journal entry {seq} cannot be read: {what}; run `keyrite journal verify`")]
    BadEntry {
        /// Sequence number.
        seq: u64,
        /// What is wrong.
        what: String,
    },
}

/// One committed entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Sequence number: 0, 1, 2 … without gaps; the Merkle leaf index.
    pub seq: u64,
    /// When it was appended.
    pub time: UtcTime,
    /// The canonical body bytes as stored and hashed.
    pub body: Vec<u8>,
    /// Entry hash of `seq - 1` (zeros for entry 0).
    pub prev_hash: Hash,
    /// `SHA-256("keyrite-journal/v1\n" || be64(seq) || prev_hash || body)`.
    pub entry_hash: Hash,
}

impl Entry {
    /// The body parsed as JSON.
    pub fn body_json(&self) -> Result<Value, JournalError> {
        serde_json::from_slice(&self.body).map_err(|e| JournalError::BadEntry {
            seq: self.seq,
            what: e.to_string(),
        })
    }

    /// The event.
    pub fn event(&self) -> Result<Event, JournalError> {
        let v = self.body_json()?;
        serde_json::from_value(v.get("event").cloned().unwrap_or(Value::Null)).map_err(|e| {
            JournalError::BadEntry {
                seq: self.seq,
                what: e.to_string(),
            }
        })
    }
}

/// The Merkle tree head: size and root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeHead {
    /// Number of entries covered.
    pub size: u64,
    /// RFC 9162 root over the entry hashes.
    pub root: Hash,
}

impl TreeHead {
    /// The root as lowercase hex.
    pub fn root_hex(&self) -> String {
        hex::encode(self.root)
    }
    /// The root as words (one word per byte, [`crate::words`]).
    pub fn root_words(&self) -> String {
        crate::words::to_words(&self.root)
    }
}

/// The journal over an open [`Store`].
#[derive(Debug)]
pub struct Journal {
    store: Store,
    tree: TreeBuilder,
    last: Option<(Hash, UtcTime)>,
    origin: String,
    /// How many leading entries `journal_index` covers (the rest is read from the entries).
    pub(super) indexed: u64,
    /// The connection is at `synchronous=NORMAL` (a [`GROUPED_KINDS`] entry was last).
    grouped: bool,
}

const META_ORIGIN: &str = "origin";

impl Journal {
    /// Opens the writable journal at `db` (creating it), taking the data directory's writer lock.
    pub fn open(db: &Path, options: &StoreOptions) -> Result<Self, JournalError> {
        crate::timing::phase("journal", || Self::open_untimed(db, options))
    }

    fn open_untimed(db: &Path, options: &StoreOptions) -> Result<Self, JournalError> {
        let store = Store::open(db, options)?;
        let origin: Option<String> = store
            .conn()
            .query_row(
                "SELECT value FROM meta WHERE key = ?1",
                [META_ORIGIN],
                |r| r.get(0),
            )
            .ok();
        let origin = match origin {
            Some(o) => o,
            None => {
                let o = format!("keyrite/{}", hex::encode(rand::random::<[u8; 8]>()));
                store
                    .conn()
                    .execute(
                        "INSERT INTO meta(key, value) VALUES (?1, ?2)",
                        [META_ORIGIN, &o],
                    )
                    .map_err(|e| store.err(e))?;
                o
            }
        };
        Self::load(store, origin, true)
    }

    /// Opens the journal in a data directory.
    pub fn open_data_dir(dir: &crate::paths::DataDir) -> Result<Self, JournalError> {
        Self::open(&dir.journal_db(), &StoreOptions::default())
    }

    /// Opens a journal read-only (no writer lock), for verification and export.
    pub fn open_read_only(db: &Path, options: &StoreOptions) -> Result<Self, JournalError> {
        let store = Store::open_read_only(db, options)?;
        let origin: String = store
            .conn()
            .query_row(
                "SELECT value FROM meta WHERE key = ?1",
                [META_ORIGIN],
                |r| r.get(0),
            )
            .unwrap_or_else(|_| "unknown".into());
        Self::load(store, origin, false)
    }

    fn load(store: Store, origin: String, writable: bool) -> Result<Self, JournalError> {
        let tail: Option<(i64, Vec<u8>)> = match store.conn().query_row(
            "SELECT seq, entry_hash FROM journal_entry ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        ) {
            Ok(t) => Some(t),
            Err(rusqlite::Error::QueryReturnedNoRows) => None,
            Err(e) => return Err(store.err(e).into()),
        };
        let size = tail.as_ref().map_or(0, |t| t.0 as u64 + 1);
        let mut indexed = index::indexed(&store)?.min(size);
        if writable {
            index::ensure_tables(&store)?;
            // Rows past the last entry (entries removed behind Keyrite's back, e.g. a copy
            // rolled back) would describe entries that no longer exist.
            indexed = index::prune(&store, size)?;
            if indexed < size {
                indexed = index::catch_up(&store, indexed)?;
            }
        }
        // The head from stored subtree nodes (O(log n) rows); from every entry hash when a
        // node is missing (a journal written before the nodes existed, or damaged).
        let tree = match index::tree_from_nodes(&store, size)? {
            Some(t) => t,
            None => index::rebuild_tree(&store, writable)?,
        };
        let last = match tail {
            None => None,
            Some((seq, h)) => {
                let h: Hash = h.try_into().map_err(|_| JournalError::BadEntry {
                    seq: seq as u64,
                    what: "stored hash is not 32 bytes".into(),
                })?;
                let e = read_entry(&store, seq as u64)?;
                Some((h, e.time))
            }
        };
        Ok(Self {
            store,
            tree,
            last,
            origin,
            indexed,
            grouped: false,
        })
    }

    /// This journal's origin (`keyrite/<install id>`), named in checkpoints.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The underlying store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The current tree head.
    pub fn head(&self) -> TreeHead {
        TreeHead {
            size: self.tree.size(),
            root: self.tree.root(),
        }
    }

    /// Appends an event and commits it before returning: durably (fsync), unless its type is
    /// one of [`GROUPED_KINDS`], which become durable with the next entry that is synced.
    pub fn append(&mut self, event: Event) -> Result<Entry, JournalError> {
        self.append_with_details(event, Value::Null)
    }

    /// Appends an event with free-form `details` (a JSON object, checked for secrets).
    pub fn append_with_details(
        &mut self,
        event: Event,
        details: Value,
    ) -> Result<Entry, JournalError> {
        self.append_with(event, details, |_| Ok::<(), JournalError>(()))
            .map(|(e, ())| e)
    }

    /// Runs `op` and appends `event` in one SQLite transaction: both commit or neither does.
    /// If `op` fails nothing is journaled; if the event cannot be written `op` is rolled back.
    pub fn append_with<T, E: From<JournalError>>(
        &mut self,
        event: Event,
        details: Value,
        op: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, E>,
    ) -> Result<(Entry, T), E> {
        crate::timing::phase("journal", || self.append_untimed(event, details, op))
    }

    fn append_untimed<T, E: From<JournalError>>(
        &mut self,
        event: Event,
        details: Value,
        op: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, E>,
    ) -> Result<(Entry, T), E> {
        let prepared = prepare_event(&event, details)?;
        let path = self.store.path().to_path_buf();
        let busy = self.store_busy();
        let grouped = GROUPED_KINDS.contains(&event.kind().as_str());
        self.set_synchronous(grouped)?;
        let conn = self.store.conn_mut();
        let err = |e| StoreError::from_sqlite(&path, busy, e);
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| JournalError::from(err(e)))?;
        let out = op(&tx)?;
        let mut tree = self.tree.clone();
        let entry =
            insert(&tx, &mut tree, self.last, &prepared).map_err(|e| JournalError::from(err(e)))?;
        tx.commit().map_err(|e| JournalError::from(err(e)))?;
        self.note_appended(tree, &entry);
        Ok((entry, out))
    }

    /// Appends many events in one transaction (imports, benchmarks). All or nothing.
    pub fn append_batch(
        &mut self,
        events: impl IntoIterator<Item = (Event, Value)>,
    ) -> Result<u64, JournalError> {
        let prepared: Vec<Value> = events
            .into_iter()
            .map(|(e, d)| prepare_event(&e, d))
            .collect::<Result<_, _>>()?;
        let path = self.store.path().to_path_buf();
        let busy = self.store_busy();
        self.set_synchronous(false)?;
        let conn = self.store.conn_mut();
        let err = |e| JournalError::from(StoreError::from_sqlite(&path, busy, e));
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        let mut tree = self.tree.clone();
        let mut last = self.last;
        let mut entry = None;
        for p in &prepared {
            let e = insert(&tx, &mut tree, last, p).map_err(err)?;
            last = Some((e.entry_hash, e.time));
            entry = Some(e);
        }
        tx.commit().map_err(err)?;
        if let Some(e) = entry {
            self.note_appended(tree, &e);
        }
        Ok(prepared.len() as u64)
    }

    /// After a commit: the new head, tail and index coverage.
    fn note_appended(&mut self, tree: TreeBuilder, last: &Entry) {
        if self.indexed == self.tree.size() {
            self.indexed = tree.size();
        }
        self.tree = tree;
        self.last = Some((last.entry_hash, last.time));
        #[cfg(feature = "testkit")]
        crash_point::after_commit(self.tree.size());
    }

    fn store_busy(&self) -> std::time::Duration {
        self.store.busy_timeout()
    }

    /// Reads entry `seq`.
    pub fn entry(&self, seq: u64) -> Result<Entry, JournalError> {
        read_entry(&self.store, seq)
    }

    /// Calls `f` for each entry with `from <= seq <= to`, in order.
    pub fn for_each_entry(
        &self,
        from: u64,
        to: u64,
        mut f: impl FnMut(&Entry) -> Result<(), JournalError>,
    ) -> Result<(), JournalError> {
        let s = &self.store;
        let mut stmt = s
            .conn()
            .prepare("SELECT seq, body, prev_hash, entry_hash FROM journal_entry WHERE seq BETWEEN ?1 AND ?2 ORDER BY seq")
            .map_err(|e| s.err(e))?;
        let mut rows = stmt.query([from as i64, to as i64]).map_err(|e| s.err(e))?;
        while let Some(row) = rows.next().map_err(|e| s.err(e))? {
            f(&row_to_entry(row).map_err(|e| s.err(e))??)?;
        }
        Ok(())
    }

    /// Signs the current head with `signer`, stores the checkpoint, journals a `checkpoint`
    /// event (which itself is covered by the next checkpoint) and returns it. See
    /// [`Journal::checkpoint_with`] to say what the checkpoint is for.
    pub fn checkpoint(&mut self, signer: &dyn Signer) -> Result<Checkpoint, JournalError> {
        self.checkpoint_with(signer, Value::Null)
    }

    /// The latest stored checkpoint, if any.
    pub fn latest_checkpoint(&self) -> Result<Option<Checkpoint>, JournalError> {
        let text: Option<String> = self
            .store
            .conn()
            .query_row(
                "SELECT text FROM journal_checkpoint ORDER BY size DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .ok();
        match text {
            None => Ok(None),
            Some(t) => Checkpoint::parse(&t)
                .map(Some)
                .map_err(|e| JournalError::BadEntry {
                    seq: 0,
                    what: format!("stored checkpoint: {e}"),
                }),
        }
    }

    /// Verifies the whole journal, and a checkpoint against it if given (see [`verify`]).
    pub fn verify(
        &self,
        checkpoint: Option<&Checkpoint>,
        trusted_spki_sha256: &[[u8; 32]],
    ) -> Result<VerifyReport, VerifyError> {
        self.verify_with(checkpoint, trusted_spki_sha256, VerifyOptions::default())
    }

    /// [`Journal::verify`] with options (e.g. without SQLite's whole-file page check).
    pub fn verify_with(
        &self,
        checkpoint: Option<&Checkpoint>,
        trusted_spki_sha256: &[[u8; 32]],
        options: VerifyOptions,
    ) -> Result<VerifyReport, VerifyError> {
        verify::verify(
            &self.store,
            &self.origin,
            checkpoint,
            trusted_spki_sha256,
            options,
        )
    }
}

/// Builds the event part of a body and checks it: typed, canonical, no secrets.
fn prepare_event(event: &Event, details: Value) -> Result<Value, JournalError> {
    let kind = event.kind();
    let ev = serde_json::to_value(event).map_err(|e| JournalError::BadEntry {
        seq: 0,
        what: e.to_string(),
    })?;
    let details = match details {
        Value::Null => Value::Object(Default::default()),
        Value::Object(m) => Value::Object(m),
        _ => return Err(JournalError::DetailsNotObject { kind }),
    };
    let both = json!({ "event": ev, "details": details });
    if let Some(path) = event::find_secret_field(&both, "$") {
        return Err(JournalError::Secret { kind, path });
    }
    canonical::encode(&both).map_err(|source| JournalError::Canonical {
        kind: kind.clone(),
        source,
    })?;
    Ok(both)
}

fn insert(
    tx: &rusqlite::Transaction<'_>,
    tree: &mut TreeBuilder,
    last: Option<(Hash, UtcTime)>,
    prepared: &Value,
) -> Result<Entry, rusqlite::Error> {
    // Trust the database, not memory, for the chain's tail.
    let tail: Option<(i64, Vec<u8>)> = tx
        .query_row(
            "SELECT seq, entry_hash FROM journal_entry ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })?;
    let (seq, prev) = match tail {
        None => (0u64, [0u8; 32]),
        Some((s, h)) => (s as u64 + 1, h.try_into().unwrap_or([0u8; 32])),
    };
    debug_assert_eq!(seq, tree.size());
    // Timestamps never go backwards, so verification can insist on order.
    let now = time::now();
    let t = match last {
        Some((_, prev_t)) if prev_t > now => prev_t,
        _ => now,
    };
    let mut body = prepared.clone();
    if let Value::Object(m) = &mut body {
        m.insert("v".into(), json!(1));
        m.insert("seq".into(), json!(seq));
        m.insert("time".into(), json!(t.to_rfc3339()));
    }
    let bytes = canonical::encode(&body).unwrap_or_default();
    if bytes.len() > MAX_BODY {
        return Err(rusqlite::Error::ToSqlConversionFailure(
            format!("event body is {} bytes, more than {MAX_BODY}", bytes.len()).into(),
        ));
    }
    let h = merkle::entry_hash(seq, &prev, &bytes);
    tx.prepare_cached(
        "INSERT INTO journal_entry(seq, body, prev_hash, entry_hash) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(rusqlite::params![
        seq as i64,
        bytes,
        prev.to_vec(),
        h.to_vec()
    ])?;
    index::record(tx, seq, &h, &index::fields(prepared), tree)?;
    Ok(Entry {
        seq,
        time: t,
        body: bytes,
        prev_hash: prev,
        entry_hash: h,
    })
}

fn row_to_entry(row: &rusqlite::Row<'_>) -> Result<Result<Entry, JournalError>, rusqlite::Error> {
    let seq: i64 = row.get(0)?;
    let body: Vec<u8> = row.get(1)?;
    let prev: Vec<u8> = row.get(2)?;
    let hash: Vec<u8> = row.get(3)?;
    let seq = seq as u64;
    let bad = |what: &str| JournalError::BadEntry {
        seq,
        what: what.to_string(),
    };
    let Ok(prev_hash) = <Hash>::try_from(prev) else {
        return Ok(Err(bad("prev_hash is not 32 bytes")));
    };
    let Ok(entry_hash) = <Hash>::try_from(hash) else {
        return Ok(Err(bad("entry_hash is not 32 bytes")));
    };
    let time = serde_json::from_slice::<verify::BodyHead>(&body)
        .ok()
        .and_then(|h| UtcTime::parse(&h.time));
    let Some(time) = time else {
        return Ok(Err(bad("the body has no valid seq/time")));
    };
    Ok(Ok(Entry {
        seq,
        time,
        body,
        prev_hash,
        entry_hash,
    }))
}

fn read_entry(store: &Store, seq: u64) -> Result<Entry, JournalError> {
    store
        .conn()
        .query_row(
            "SELECT seq, body, prev_hash, entry_hash FROM journal_entry WHERE seq = ?1",
            [seq as i64],
            row_to_entry,
        )
        .map_err(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => JournalError::BadEntry {
                seq,
                what: "no such entry".into(),
            },
            e => store.err(e).into(),
        })?
}
