//! One writer per data directory.
//!
//! SQLite would serialise two writers, but two Keyrite processes interleaving ceremony steps
//! in one journal is never intended, so the second is refused up front. The lock is an
//! advisory `flock` on `<db>.lock`, released by the kernel when the holder exits or is
//! killed, so a crash never leaves a stale lock. The file names the holder for the message.

use super::StoreError;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Who holds the writer lock, as written in the lock file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockHolder {
    /// Process id.
    pub pid: String,
    /// Host name.
    pub host: String,
    /// When it took the lock (RFC 3339 UTC).
    pub since: String,
}

impl std::fmt::Display for LockHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pid {} on host {}, since {}",
            self.pid, self.host, self.since
        )
    }
}

impl LockHolder {
    fn parse(text: &str) -> Self {
        let field = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(k).map(str::trim).map(str::to_string))
                .unwrap_or_else(|| "unknown".into())
        };
        Self {
            pid: field("pid="),
            host: field("host="),
            since: field("since="),
        }
    }

    fn this_process() -> Self {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "unknown".into());
        Self {
            pid: std::process::id().to_string(),
            host,
            since: crate::journal::time::now().to_rfc3339(),
        }
    }
}

/// The held writer lock; dropping it releases the lock.
#[derive(Debug)]
pub struct WriterLock {
    _file: File,
}

impl WriterLock {
    /// The lock file beside a database.
    pub fn path_for(db: &Path) -> PathBuf {
        let mut p = db.as_os_str().to_owned();
        p.push(".lock");
        PathBuf::from(p)
    }

    /// Takes the lock for the database at `db`, or names who holds it.
    pub fn acquire(db: &Path) -> Result<Self, StoreError> {
        let path = Self::path_for(db);
        let io = |source| StoreError::LockFile {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                let dir = db.parent().unwrap_or(Path::new(".")).to_path_buf();
                return Err(StoreError::SecondWriter {
                    dir,
                    holder: LockHolder::parse(&text),
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        let me = LockHolder::this_process();
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        write!(
            file,
            "pid={}\nhost={}\nsince={}\n",
            me.pid, me.host, me.since
        )
        .map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(Self { _file: file })
    }
}
