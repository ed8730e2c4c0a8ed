//! Derived tables that let a ceremony, a resume and a record check read only the entries they
//! need, so their cost does not grow with the journal's history:
//!
//! - `journal_index(seq, kind, ceremony_id)`: each entry's event type and the ceremony it names
//!   (`event.ceremony_id`, else `details.ceremony_id`), indexed by both;
//! - `journal_node(level, idx, hash)`: the RFC 9162 hash of every complete perfect subtree of
//!   `2^level` leaves (`level >= NODE_LEVEL`) over entries `idx·2^level ..`, so the tree head at
//!   open, and the root at any size, need `O(log n)` rows plus fewer than `2^NODE_LEVEL` entry
//!   hashes instead of every entry hash.
//!
//! Both are caches of `journal_entry`, written in the same transaction as the entry they
//! describe. They are not evidence: verification never reads them (it recomputes everything
//! from the entries), and a range proof ([`super::Journal::prove_range`]) only uses nodes as
//! siblings, so a forged node makes the proof fail, never pass. They live outside the
//! versioned schema (created with `IF NOT EXISTS`), so a journal written by a Keyrite without
//! them is brought up to date when opened for writing, and one opened read-only reads what is
//! missing from the entries.

use super::merkle::{Hash, TreeBuilder};
use super::{Entry, JournalError};
use crate::store::{Store, StoreError};
use serde_json::Value;

/// The smallest stored subtree has `2^NODE_LEVEL` leaves: opening reads at most that many
/// entry hashes, and the node table has about one row per `2^(NODE_LEVEL-1)` entries.
pub(super) const NODE_LEVEL: u32 = 8;

const TABLES: &str = "
CREATE TABLE IF NOT EXISTS journal_index(
    seq         INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,
    ceremony_id TEXT
);
CREATE INDEX IF NOT EXISTS journal_index_kind ON journal_index(kind, seq);
CREATE INDEX IF NOT EXISTS journal_index_ceremony ON journal_index(ceremony_id, seq)
    WHERE ceremony_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS journal_node(
    level INTEGER NOT NULL,
    idx   INTEGER NOT NULL,
    hash  BLOB NOT NULL,
    PRIMARY KEY(level, idx)
) WITHOUT ROWID;
";

impl super::Journal {
    /// Calls `f` for each entry with `seq >= from` that `select` names, in order. Uses the
    /// index (this module), so the cost follows the number of entries selected.
    pub fn for_each_selected(
        &self,
        select: &Select<'_>,
        from: u64,
        f: impl FnMut(&Entry) -> Result<(), JournalError>,
    ) -> Result<(), JournalError> {
        for_each_selected(&self.store, self.indexed, self.tree.size(), select, from, f)
    }

    /// Calls `f` for each entry that `select` names, newest first, until `f` returns `true`;
    /// returns whether it did. Reads entries only until then, so "the newest entry such that
    /// …" costs what lies after it, not the journal's history.
    pub fn find_newest_selected(
        &self,
        select: &Select<'_>,
        f: impl FnMut(&Entry) -> Result<bool, JournalError>,
    ) -> Result<bool, JournalError> {
        find_newest_selected(&self.store, self.indexed, self.tree.size(), select, f)
    }

    /// The last entry of event type `kind` before entry `before`, if any.
    pub fn last_of_kind_before(
        &self,
        kind: &str,
        before: u64,
    ) -> Result<Option<u64>, JournalError> {
        last_of_kind_before(&self.store, self.indexed, self.tree.size(), kind, before)
    }

    /// The sequence number of ceremony `ceremony_id`'s `ceremony_started` entry, if any.
    pub fn ceremony_start(&self, ceremony_id: &str) -> Result<Option<u64>, JournalError> {
        ceremony_start(&self.store, self.indexed, self.tree.size(), ceremony_id)
    }
}

/// Which entries to read: those whose event type is one of `kinds`, and those naming
/// `ceremony_id` (in `event` or `details`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Select<'a> {
    /// Event types (`ceremony_started`, `checkpoint` …).
    pub kinds: &'a [&'a str],
    /// A ceremony id.
    pub ceremony_id: Option<&'a str>,
}

impl<'a> Select<'a> {
    /// Entries of these event types.
    pub fn kinds(kinds: &'a [&'a str]) -> Self {
        Self {
            kinds,
            ceremony_id: None,
        }
    }

    /// Entries naming this ceremony.
    pub fn ceremony(ceremony_id: &'a str) -> Self {
        Self {
            kinds: &[],
            ceremony_id: Some(ceremony_id),
        }
    }

    fn matches(&self, kind: &str, ceremony: Option<&str>) -> bool {
        self.kinds.contains(&kind) || (self.ceremony_id.is_some() && self.ceremony_id == ceremony)
    }
}

/// The index fields of a body: event type and the ceremony it names.
pub(super) fn fields(body: &Value) -> (String, Option<String>) {
    let text = |v: Option<&Value>, k: &str| {
        v.and_then(|v| v.get(k))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let kind = text(body.get("event"), "type").unwrap_or_default();
    let ceremony =
        text(body.get("event"), "ceremony_id").or_else(|| text(body.get("details"), "ceremony_id"));
    (kind, ceremony)
}

/// [`fields`] of stored body bytes (entries not yet indexed).
pub(super) fn fields_of(body: &[u8]) -> (String, Option<String>) {
    serde_json::from_slice::<Value>(body)
        .map(|v| fields(&v))
        .unwrap_or_default()
}

/// Creates the tables if missing (writable stores only).
pub(super) fn ensure_tables(store: &Store) -> Result<(), StoreError> {
    store.conn().execute_batch(TABLES).map_err(|e| store.err(e))
}

/// Pushes a new entry's hash onto `tree` and writes its index row and the stored subtrees
/// the push completed, inside the entry's transaction.
pub(super) fn record(
    tx: &rusqlite::Transaction<'_>,
    seq: u64,
    entry_hash: &Hash,
    fields: &(String, Option<String>),
    tree: &mut TreeBuilder,
) -> Result<(), rusqlite::Error> {
    tx.prepare_cached(
        "INSERT OR REPLACE INTO journal_index(seq, kind, ceremony_id) VALUES (?1, ?2, ?3)",
    )?
    .execute(rusqlite::params![seq as i64, fields.0, fields.1])?;
    push_storing(tx, tree, entry_hash)
}

/// Pushes `entry_hash` and stores every completed subtree of at least `2^NODE_LEVEL` leaves.
fn push_storing(
    conn: &rusqlite::Connection,
    tree: &mut TreeBuilder,
    entry_hash: &Hash,
) -> Result<(), rusqlite::Error> {
    let mut nodes = Vec::new();
    tree.push_with(entry_hash, |leaves, hash| {
        if leaves >= 1 << NODE_LEVEL {
            nodes.push((leaves, *hash));
        }
    });
    for (leaves, hash) in nodes {
        conn.prepare_cached(
            "INSERT OR REPLACE INTO journal_node(level, idx, hash) VALUES (?1, ?2, ?3)",
        )?
        .execute(rusqlite::params![
            leaves.trailing_zeros(),
            (tree.size() / leaves - 1) as i64,
            hash.to_vec()
        ])?;
    }
    Ok(())
}

fn hash_of(seq: u64, h: Vec<u8>) -> Result<Hash, JournalError> {
    h.try_into().map_err(|_| JournalError::BadEntry {
        seq,
        what: "stored hash is not 32 bytes".into(),
    })
}

/// The tree over the `size` entries from stored nodes and the trailing entry hashes, or
/// `None` when a node or an entry is missing (then the caller rebuilds from every entry).
pub(super) fn tree_from_nodes(
    store: &Store,
    size: u64,
) -> Result<Option<TreeBuilder>, JournalError> {
    let mut subtrees = Vec::new();
    let mut start = 0u64;
    for level in (NODE_LEVEL..64).rev() {
        if size & (1 << level) == 0 {
            continue;
        }
        let Some(h) = node(store, level, start >> level)? else {
            return Ok(None);
        };
        subtrees.push((1u64 << level, h));
        start += 1 << level;
    }
    let Some(mut tree) = TreeBuilder::from_subtrees(subtrees, start) else {
        return Ok(None);
    };
    let mut complete = true;
    for_each_hash(store, start, size, |seq, h| {
        complete &= seq == tree.size();
        tree.push(&h);
        Ok(())
    })?;
    Ok((complete && tree.size() == size).then_some(tree))
}

/// A stored node, if the table holds it (and exists).
fn node(store: &Store, level: u32, idx: u64) -> Result<Option<Hash>, JournalError> {
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

/// Calls `f(seq, entry_hash)` for the entries with `from <= seq < to`, in order.
fn for_each_hash(
    store: &Store,
    from: u64,
    to: u64,
    mut f: impl FnMut(u64, Hash) -> Result<(), JournalError>,
) -> Result<(), JournalError> {
    let mut stmt = store
        .conn()
        .prepare_cached(
            "SELECT seq, entry_hash FROM journal_entry WHERE seq >= ?1 AND seq < ?2 ORDER BY seq",
        )
        .map_err(|e| store.err(e))?;
    let mut rows = stmt
        .query([from as i64, to as i64])
        .map_err(|e| store.err(e))?;
    while let Some(row) = rows.next().map_err(|e| store.err(e))? {
        let seq = row.get::<_, i64>(0).map_err(|e| store.err(e))? as u64;
        f(seq, hash_of(seq, row.get(1).map_err(|e| store.err(e))?)?)?;
    }
    Ok(())
}

/// The tree over every entry, read from the entry hashes (no node trusted). With `write`, the
/// node table is rewritten from it in one transaction.
pub(super) fn rebuild_tree(store: &Store, write: bool) -> Result<TreeBuilder, JournalError> {
    let mut hashes = Vec::new();
    for_each_hash(store, 0, i64::MAX as u64, |_, h| {
        hashes.push(h);
        Ok(())
    })?;
    let mut tree = TreeBuilder::new();
    if !write {
        hashes.iter().for_each(|h| tree.push(h));
        return Ok(tree);
    }
    let conn = store.conn();
    let mut run = || -> Result<(), rusqlite::Error> {
        conn.execute_batch("BEGIN IMMEDIATE; DELETE FROM journal_node;")?;
        for h in &hashes {
            push_storing(conn, &mut tree, h)?;
        }
        conn.execute_batch("COMMIT")
    };
    if let Err(e) = run() {
        let _ = conn.execute_batch("ROLLBACK");
        return Err(store.err(e).into());
    }
    Ok(tree)
}

/// Deletes index rows and nodes that reach past the journal's `size` entries, if there are
/// any (nothing is written otherwise). Returns the index coverage after that.
pub(super) fn prune(store: &Store, size: u64) -> Result<u64, JournalError> {
    let conn = store.conn();
    let indexed = indexed(store)?;
    let stale_nodes: bool = conn
        .query_row(
            "SELECT EXISTS(SELECT 1 FROM journal_node WHERE (idx + 1) * (1 << level) > ?1)",
            [size as i64],
            |r| r.get(0),
        )
        .map_err(|e| store.err(e))?;
    if indexed > size || stale_nodes {
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE; DELETE FROM journal_index WHERE seq >= {size}; \
             DELETE FROM journal_node WHERE (idx + 1) * (1 << level) > {size}; COMMIT;"
        ))
        .map_err(|e| {
            let _ = conn.execute_batch("ROLLBACK");
            store.err(e)
        })?;
    }
    Ok(indexed.min(size))
}

/// How many leading entries the index covers (`max(seq) + 1`; 0 without the table).
pub(super) fn indexed(store: &Store) -> Result<u64, JournalError> {
    let r = store.conn().query_row(
        "SELECT coalesce(max(seq) + 1, 0) FROM journal_index",
        [],
        |r| r.get::<_, i64>(0),
    );
    match r {
        Ok(n) => Ok(n.max(0) as u64),
        Err(rusqlite::Error::SqliteFailure(_, Some(m))) if m.contains("no such table") => Ok(0),
        Err(e) => Err(store.err(e).into()),
    }
}

/// Indexes the entries from `from` on (a journal last written by a Keyrite without the
/// index), in one transaction. Returns the new number of indexed entries.
pub(super) fn catch_up(store: &Store, from: u64) -> Result<u64, JournalError> {
    let conn = store.conn();
    let run = || -> Result<u64, rusqlite::Error> {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let mut read =
            conn.prepare("SELECT seq, body FROM journal_entry WHERE seq >= ?1 ORDER BY seq")?;
        let mut write = conn.prepare(
            "INSERT OR REPLACE INTO journal_index(seq, kind, ceremony_id) VALUES (?1, ?2, ?3)",
        )?;
        let mut rows = read.query([from as i64])?;
        let mut next = from;
        while let Some(row) = rows.next()? {
            let seq: i64 = row.get(0)?;
            let body: Vec<u8> = row.get(1)?;
            let (kind, ceremony) = fields_of(&body);
            write.execute(rusqlite::params![seq, kind, ceremony])?;
            next = seq as u64 + 1;
        }
        drop(rows);
        conn.execute_batch("COMMIT")?;
        Ok(next)
    };
    run().map_err(|e| {
        let _ = conn.execute_batch("ROLLBACK");
        JournalError::from(store.err(e))
    })
}

/// Calls `f` for every selected entry with `from <= seq < size`, in order: from the index for
/// the first `indexed` entries, from the entries themselves after that.
pub(super) fn for_each_selected(
    store: &Store,
    indexed: u64,
    size: u64,
    select: &Select<'_>,
    from: u64,
    mut f: impl FnMut(&Entry) -> Result<(), JournalError>,
) -> Result<(), JournalError> {
    let split = indexed.min(size);
    if from < split && (!select.kinds.is_empty() || select.ceremony_id.is_some()) {
        let (sql, params) = selected_sql(select, from, split, "");
        let mut stmt = store.conn().prepare(&sql).map_err(|e| store.err(e))?;
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params))
            .map_err(|e| store.err(e))?;
        while let Some(row) = rows.next().map_err(|e| store.err(e))? {
            f(&super::row_to_entry(row).map_err(|e| store.err(e))??)?;
        }
    }
    let tail = from.max(split);
    if tail < size {
        let mut stmt = store
            .conn()
            .prepare("SELECT seq, body, prev_hash, entry_hash FROM journal_entry WHERE seq >= ?1 AND seq < ?2 ORDER BY seq")
            .map_err(|e| store.err(e))?;
        let mut rows = stmt
            .query([tail as i64, size as i64])
            .map_err(|e| store.err(e))?;
        while let Some(row) = rows.next().map_err(|e| store.err(e))? {
            let e = super::row_to_entry(row).map_err(|e| store.err(e))??;
            let (kind, ceremony) = fields_of(&e.body);
            if select.matches(&kind, ceremony.as_deref()) {
                f(&e)?;
            }
        }
    }
    Ok(())
}

/// The query of the entries `select` names with `from <= seq < to`, from the index, ordered by
/// `seq` (`order` is "" or " DESC"), and its parameters. One index range per kind (and per
/// ceremony), merged: each is a b-tree seek, so the cost follows the number of matching
/// entries, not the journal's size.
fn selected_sql(
    select: &Select<'_>,
    from: u64,
    to: u64,
    order: &str,
) -> (String, Vec<rusqlite::types::Value>) {
    use rusqlite::types::Value as Sql;
    let mut parts = Vec::new();
    let mut params: Vec<Sql> = vec![Sql::Integer(from as i64), Sql::Integer(to as i64)];
    let mut range = |column: &str, value: &str, params: &mut Vec<Sql>| {
        params.push(Sql::Text(value.to_string()));
        parts.push(format!(
            "SELECT seq FROM journal_index WHERE {column} = ?{} AND seq >= ?1 AND seq < ?2",
            params.len()
        ));
    };
    for k in select.kinds {
        range("kind", k, &mut params);
    }
    if let Some(c) = select.ceremony_id {
        range("ceremony_id", c, &mut params);
    }
    let sql = format!(
        "SELECT seq, body, prev_hash, entry_hash FROM journal_entry WHERE seq IN ({}) ORDER BY seq{order}",
        parts.join(" UNION ")
    );
    (sql, params)
}

/// [`super::Journal::find_newest_selected`]: the entries after the index first (newest
/// first, filtered here), then the index's, newest first.
pub(super) fn find_newest_selected(
    store: &Store,
    indexed: u64,
    size: u64,
    select: &Select<'_>,
    mut f: impl FnMut(&Entry) -> Result<bool, JournalError>,
) -> Result<bool, JournalError> {
    let split = indexed.min(size);
    if split < size {
        let mut stmt = store
            .conn()
            .prepare("SELECT seq, body, prev_hash, entry_hash FROM journal_entry WHERE seq >= ?1 AND seq < ?2 ORDER BY seq DESC")
            .map_err(|e| store.err(e))?;
        let mut rows = stmt
            .query([split as i64, size as i64])
            .map_err(|e| store.err(e))?;
        while let Some(row) = rows.next().map_err(|e| store.err(e))? {
            let e = super::row_to_entry(row).map_err(|e| store.err(e))??;
            let (kind, ceremony) = fields_of(&e.body);
            if select.matches(&kind, ceremony.as_deref()) && f(&e)? {
                return Ok(true);
            }
        }
    }
    if split == 0 || (select.kinds.is_empty() && select.ceremony_id.is_none()) {
        return Ok(false);
    }
    // SQLite steps through the rows as they are asked for: stopping early reads no more bodies.
    let (sql, params) = selected_sql(select, 0, split, " DESC");
    let mut stmt = store.conn().prepare(&sql).map_err(|e| store.err(e))?;
    let mut rows = stmt
        .query(rusqlite::params_from_iter(params))
        .map_err(|e| store.err(e))?;
    while let Some(row) = rows.next().map_err(|e| store.err(e))? {
        if f(&super::row_to_entry(row).map_err(|e| store.err(e))??)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The first `ceremony_started` entry naming `ceremony_id`, if any.
pub(super) fn ceremony_start(
    store: &Store,
    indexed: u64,
    size: u64,
    ceremony_id: &str,
) -> Result<Option<u64>, JournalError> {
    let split = indexed.min(size);
    let found: Option<i64> = store
        .conn()
        .query_row(
            "SELECT min(seq) FROM journal_index WHERE ceremony_id = ?1 AND kind = 'ceremony_started' AND seq < ?2",
            rusqlite::params![ceremony_id, split as i64],
            |r| r.get(0),
        )
        .or_else(|e| match e {
            rusqlite::Error::SqliteFailure(_, Some(m)) if m.contains("no such table") => Ok(None),
            e => Err(store.err(e)),
        })?;
    if let Some(seq) = found {
        return Ok(Some(seq as u64));
    }
    let mut first = None;
    let select = Select {
        kinds: &["ceremony_started"],
        ceremony_id: None,
    };
    for_each_selected(store, split, size, &select, split, |e| {
        if first.is_none() && fields_of(&e.body).1.as_deref() == Some(ceremony_id) {
            first = Some(e.seq);
        }
        Ok(())
    })?;
    Ok(first)
}

/// The last entry of event type `kind` before entry `before`, if any.
pub(super) fn last_of_kind_before(
    store: &Store,
    indexed: u64,
    size: u64,
    kind: &str,
    before: u64,
) -> Result<Option<u64>, JournalError> {
    let end = before.min(size);
    let split = indexed.min(end);
    let mut last = None;
    for_each_selected(store, split, end, &Select::kinds(&[kind]), split, |e| {
        last = Some(e.seq);
        Ok(())
    })?;
    if last.is_some() || split == 0 {
        return Ok(last);
    }
    let found: Option<i64> = store
        .conn()
        .query_row(
            "SELECT max(seq) FROM journal_index WHERE kind = ?1 AND seq < ?2",
            rusqlite::params![kind, split as i64],
            |r| r.get(0),
        )
        .map_err(|e| store.err(e))?;
    Ok(found.map(|s| s as u64))
}

/// The smallest `ceremony_started` seq below `size` among ceremonies with no
/// `ceremony_closed` before `closed_before`; `None` when there is none.
pub(super) fn first_start_not_closed_before(
    store: &Store,
    size: u64,
    closed_before: u64,
) -> Result<Option<u64>, JournalError> {
    let found: Option<i64> = store
        .conn()
        .query_row(
            "SELECT min(s.seq) FROM journal_index s WHERE s.kind = 'ceremony_started' AND s.seq < ?2
                AND NOT EXISTS (SELECT 1 FROM journal_index c WHERE c.ceremony_id = s.ceremony_id
                    AND c.kind = 'ceremony_closed' AND c.seq < ?1)",
            [closed_before as i64, size as i64],
            |r| r.get(0),
        )
        .map_err(|e| store.err(e))?;
    Ok(found.map(|s| s as u64))
}
