//! The SQLite store under the journal and the inventory.
//!
//! One file (`journal.sqlite` in the data directory), bundled SQLite, WAL with
//! `synchronous=FULL` so a committed transaction survives power loss, versioned migrations,
//! and one writer per data directory (see [`lock`]). A database written by a newer Keyrite
//! is refused before anything is changed.

pub mod lock;
mod migrate;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use lock::{LockHolder, WriterLock};
pub use migrate::SCHEMA_VERSION;

/// `PRAGMA application_id` of a Keyrite journal ("KRYT").
pub const APPLICATION_ID: i32 = 0x4B52_5954;

/// Errors opening or using the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file is not an SQLite database, or its pages are damaged.
    #[error("{path} is not a readable Keyrite journal database ({reason}); nothing was changed: restore it from a backup or point --data-dir at the right directory")]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// SQLite's words.
        reason: String,
    },
    /// An SQLite database, but another application's.
    #[error("{path} is an SQLite database of another application (application_id {found:#010x}); nothing was changed")]
    ForeignDatabase {
        /// The database file.
        path: PathBuf,
        /// The application id found.
        found: i32,
    },
    /// Written by a newer Keyrite.
    #[error("{path} has schema version {found}, newer than this Keyrite understands (version {supported}); nothing was changed: use a newer Keyrite")]
    NewerSchema {
        /// The database file.
        path: PathBuf,
        /// Version found in the file.
        found: i64,
        /// Newest version this build knows.
        supported: i64,
    },
    /// Another connection holds SQLite's write lock past the busy timeout.
    #[error("{path} is locked by another program (SQLite stayed busy for {waited_ms} ms); nothing was written: close the other program and try again")]
    Locked {
        /// The database file.
        path: PathBuf,
        /// How long we waited.
        waited_ms: u128,
    },
    /// Another Keyrite process is the writer of this data directory.
    #[error("the journal in {dir} is in use by another Keyrite process ({holder}); close that process and try again")]
    SecondWriter {
        /// The data directory.
        dir: PathBuf,
        /// Who holds the writer lock.
        holder: LockHolder,
    },
    /// The lock file could not be created or read.
    #[error("cannot use the writer lock file {path}: {source}")]
    LockFile {
        /// The lock file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Any other SQLite failure.
    #[error("journal database {path}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },
}

/// How to open the store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// How long to wait for SQLite's write lock before failing with [`StoreError::Locked`].
    pub busy_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            busy_timeout: Duration::from_secs(5),
        }
    }
}

/// An open journal database.
#[derive(Debug)]
pub struct Store {
    conn: rusqlite::Connection,
    path: PathBuf,
    busy_timeout: Duration,
    // Held for the life of the store; released by the OS if the process dies.
    _lock: Option<WriterLock>,
}

impl Store {
    /// Opens (creating and migrating as needed) the writable store at `path`, taking the data
    /// directory's writer lock first so a second Keyrite process is refused.
    pub fn open(path: &Path, options: &StoreOptions) -> Result<Self, StoreError> {
        let lock = WriterLock::acquire(path)?;
        let conn = rusqlite::Connection::open(path).map_err(|e| classify(path, e, options))?;
        let store = Self::prepare(conn, path, options, Some(lock))?;
        store.check_identity()?;
        store
            .conn
            .execute_batch(
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;",
            )
            .map_err(|e| store.err(e))?;
        migrate::migrate(&store)?;
        Ok(store)
    }

    /// Opens the store read-only, without the writer lock: for verification and export of a
    /// journal that may belong to a running ceremony or be an auditor's copy.
    pub fn open_read_only(path: &Path, options: &StoreOptions) -> Result<Self, StoreError> {
        if !path.is_file() {
            return Err(StoreError::Corrupt {
                path: path.to_path_buf(),
                reason: "no such file".into(),
            });
        }
        let conn = connect_read_only(path, options.busy_timeout)?;
        let store = Self::prepare(conn, path, options, None)?;
        store.check_identity()?;
        if store.user_version()? == 0 {
            return Err(StoreError::Corrupt {
                path: path.to_path_buf(),
                reason: "the file has no Keyrite schema".into(),
            });
        }
        Ok(store)
    }

    fn prepare(
        conn: rusqlite::Connection,
        path: &Path,
        options: &StoreOptions,
        lock: Option<WriterLock>,
    ) -> Result<Self, StoreError> {
        conn.busy_timeout(options.busy_timeout)
            .map_err(|e| classify(path, e, options))?;
        Ok(Self {
            conn,
            path: path.to_path_buf(),
            busy_timeout: options.busy_timeout,
            _lock: lock,
        })
    }

    /// Refuses foreign and newer databases before any pragma could rewrite the file.
    fn check_identity(&self) -> Result<(), StoreError> {
        let app: i32 = self
            .conn
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        let version = self.user_version()?;
        let tables: i64 = self
            .conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        if app != APPLICATION_ID && (app != 0 || version != 0 || tables != 0) {
            return Err(StoreError::ForeignDatabase {
                path: self.path.clone(),
                found: app,
            });
        }
        if version > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                path: self.path.clone(),
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        Ok(())
    }

    /// The schema version stored in the file (`PRAGMA user_version`).
    pub fn user_version(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The SQLite connection (for the journal and inventory modules).
    pub fn conn(&self) -> &rusqlite::Connection {
        &self.conn
    }

    /// Mutable connection, for transactions.
    pub fn conn_mut(&mut self) -> &mut rusqlite::Connection {
        &mut self.conn
    }

    /// Maps an SQLite error to a precise [`StoreError`].
    pub fn err(&self, e: rusqlite::Error) -> StoreError {
        StoreError::from_sqlite(&self.path, self.busy_timeout, e)
    }

    /// The busy timeout this store was opened with.
    pub fn busy_timeout(&self) -> Duration {
        self.busy_timeout
    }

    /// Runs SQLite's own page-level check (`PRAGMA quick_check`).
    pub fn quick_check(&self) -> Result<(), StoreError> {
        let res: String = self
            .conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        if res == "ok" {
            Ok(())
        } else {
            Err(StoreError::Corrupt {
                path: self.path.clone(),
                reason: res,
            })
        }
    }
}

/// A read-only SQLite connection to `path`, without the writer lock or any check of its
/// contents: [`Store::open_read_only`]'s, and each journal-verification worker's own.
pub(crate) fn connect_read_only(
    path: &Path,
    busy_timeout: Duration,
) -> Result<rusqlite::Connection, StoreError> {
    let flags =
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    rusqlite::Connection::open_with_flags(path, flags)
        .map_err(|e| StoreError::from_sqlite(path, busy_timeout, e))
}

fn classify(path: &Path, e: rusqlite::Error, options: &StoreOptions) -> StoreError {
    StoreError::from_sqlite(path, options.busy_timeout, e)
}

impl StoreError {
    /// Maps an SQLite error on `path` to a precise error (busy, corrupt, …).
    pub fn from_sqlite(path: &Path, busy_timeout: Duration, e: rusqlite::Error) -> StoreError {
        use rusqlite::ErrorCode;
        if let rusqlite::Error::SqliteFailure(f, msg) = &e {
            match f.code {
                ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                    return StoreError::Locked {
                        path: path.to_path_buf(),
                        waited_ms: busy_timeout.as_millis(),
                    }
                }
                ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt => {
                    return StoreError::Corrupt {
                        path: path.to_path_buf(),
                        reason: msg.clone().unwrap_or_else(|| f.to_string()),
                    }
                }
                _ => {}
            }
        }
        StoreError::Sqlite {
            path: path.to_path_buf(),
            source: e,
        }
    }
}
