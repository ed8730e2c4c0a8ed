//! The SHA-256 of the running executable, computed once per binary rather than at every
//! ceremony start (reading and hashing the whole `keyrite` file cost 18.5 % of a rehearsal
//! ceremony, issue 21).
//!
//! The hash is kept in `DATA/executable-sha256.json`, keyed by the file's device, inode, size,
//! modification and status-change times (nanoseconds). Any difference, a cache that does not
//! parse exactly, or a hash that is not 64 hex digits means the file is hashed again. The entry
//! is written only when the file did not change while it was hashed and when both its times
//! are at least [`SETTLE`] old: file times have the kernel's coarse clock granularity, so an
//! in-place rewrite of the same size within the same tick could otherwise keep the old key
//! (git's "racily clean" index entries are the same problem).
//!
//! Trust is unchanged: the record's executable hash is the running program's own statement,
//! which a modified program could falsify with or without this cache; it detects accidental
//! mismatches (a wrong build on the ceremony machine), not a hostile binary.

use sha2::{Digest, Sha256};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

/// Name of the cache file in the data directory.
pub const CACHE_FILE: &str = "executable-sha256.json";
/// How old a file's times must be before its hash is cached.
pub const SETTLE: Duration = Duration::from_secs(2);

/// What identifies one version of a file without reading it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FileKey {
    path: PathBuf,
    dev: u64,
    ino: u64,
    size: u64,
    mtime_s: i64,
    mtime_ns: i64,
    ctime_s: i64,
    ctime_ns: i64,
}

impl FileKey {
    fn of(path: &Path) -> std::io::Result<Self> {
        let m = std::fs::metadata(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime_s: m.mtime(),
            mtime_ns: m.mtime_nsec(),
            ctime_s: m.ctime(),
            ctime_ns: m.ctime_nsec(),
        })
    }

    /// Both times at least `settle` before `now`.
    fn settled(&self, now: SystemTime, settle: Duration) -> bool {
        let Ok(now) = now.duration_since(SystemTime::UNIX_EPOCH) else {
            return false;
        };
        let latest = self.mtime_s.max(self.ctime_s);
        // Whole seconds, rounded up: a time in second `latest` is at most `latest + 1`.
        u64::try_from(latest)
            .ok()
            .and_then(|l| l.checked_add(1 + settle.as_secs()))
            .is_some_and(|limit| now.as_secs() >= limit)
    }
}

/// One cache entry.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    key: FileKey,
    sha256: String,
}

/// Whether a hash came from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The cache entry matched the file.
    Cache,
    /// The file was read and hashed.
    Computed,
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn hash_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// SHA-256 (lower-case hex) of `file`, from `cache` when its entry matches the file's current
/// key, else computed and (when the file is settled at `now`) stored in `cache`. A cache that
/// cannot be read, parsed or written is ignored: it only ever saves time.
pub fn cached_sha256(
    file: &Path,
    cache: &Path,
    now: SystemTime,
    settle: Duration,
) -> std::io::Result<(String, Source)> {
    let key = FileKey::of(file)?;
    if let Some(e) = std::fs::read(cache)
        .ok()
        .and_then(|b| serde_json::from_slice::<Entry>(&b).ok())
    {
        if e.key == key && is_sha256_hex(&e.sha256) {
            return Ok((e.sha256, Source::Cache));
        }
    }
    let sha256 = hash_file(file)?;
    // Store only what certainly belongs to this key: the file did not change while it was
    // read, and its times are old enough to change visibly if it is rewritten.
    if FileKey::of(file).ok().as_ref() == Some(&key) && key.settled(now, settle) {
        let entry = Entry {
            key,
            sha256: sha256.clone(),
        };
        if let Ok(json) = serde_json::to_vec_pretty(&entry) {
            // Best effort (a read-only data directory is fine); rename for atomicity.
            let tmp = cache.with_extension("json.tmp");
            if std::fs::write(&tmp, json).is_ok() && std::fs::rename(&tmp, cache).is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
        }
    }
    Ok((sha256, Source::Computed))
}

/// The data directory whose cache [`executable_sha256`] uses: the first one an
/// [`super::Environment`] opened in this process.
static CACHE_DIR: OnceLock<PathBuf> = OnceLock::new();
/// The executable's hash, once computed in this process (the desktop app runs many ceremonies).
static MEMO: OnceLock<String> = OnceLock::new();

/// Remembers `data` as where the executable's hash is cached (first call wins).
pub(super) fn use_cache_in(data: &Path) {
    let _ = CACHE_DIR.set(data.to_path_buf());
}

/// SHA-256 (hex) of the running executable, or a sentence saying why it is unknown.
pub fn executable_sha256() -> String {
    MEMO.get_or_init(|| crate::timing::phase("executable-hash", executable_sha256_untimed))
        .clone()
}

fn executable_sha256_untimed() -> String {
    let Ok(exe) = std::env::current_exe() else {
        return "unknown (the executable could not be found)".into();
    };
    let r = match CACHE_DIR.get() {
        Some(dir) => {
            cached_sha256(&exe, &dir.join(CACHE_FILE), crate::clock::now(), SETTLE).map(|(h, _)| h)
        }
        None => hash_file(&exe),
    };
    r.unwrap_or_else(|_| "unknown (the executable could not be read)".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("keyrite");
        std::fs::write(&file, b"version one").unwrap();
        let cache = d.path().join(CACHE_FILE);
        (d, file, cache)
    }

    fn sha(b: &[u8]) -> String {
        hex::encode(Sha256::digest(b))
    }

    #[test]
    fn the_cache_is_used_while_the_file_is_unchanged_and_redone_when_it_changes() {
        let (_d, file, cache) = setup();
        // File times are whole-second-settled only after the current second has passed.
        let now = SystemTime::now() + Duration::from_secs(2);
        let first = cached_sha256(&file, &cache, now, Duration::ZERO).unwrap();
        assert_eq!(first, (sha(b"version one"), Source::Computed));
        assert!(cache.exists());
        let second = cached_sha256(&file, &cache, now, Duration::ZERO).unwrap();
        assert_eq!(second, (sha(b"version one"), Source::Cache));

        std::fs::write(&file, b"version two, longer").unwrap();
        let third = cached_sha256(&file, &cache, now, Duration::ZERO).unwrap();
        assert_eq!(third, (sha(b"version two, longer"), Source::Computed));
        let fourth = cached_sha256(&file, &cache, now, Duration::ZERO).unwrap();
        assert_eq!(fourth, (sha(b"version two, longer"), Source::Cache));
    }

    #[test]
    fn a_matching_entry_is_what_is_returned() {
        // Proves the hash really comes from the cache: a well-formed entry for the file's key
        // is taken as it is (which is why the key must be exact).
        let (_d, file, cache) = setup();
        let entry = Entry {
            key: FileKey::of(&file).unwrap(),
            sha256: "ab".repeat(32),
        };
        std::fs::write(&cache, serde_json::to_vec(&entry).unwrap()).unwrap();
        let got = cached_sha256(&file, &cache, SystemTime::now(), Duration::ZERO).unwrap();
        assert_eq!(got, ("ab".repeat(32), Source::Cache));
    }

    #[test]
    fn a_damaged_or_foreign_entry_is_never_trusted() {
        let (_d, file, cache) = setup();
        let key = FileKey::of(&file).unwrap();
        let mut other_inode = key.clone();
        other_inode.ino += 1;
        let mut other_ctime = key.clone();
        other_ctime.ctime_ns = (other_ctime.ctime_ns + 1) % 1_000_000_000;
        let bad = [
            serde_json::to_vec(&Entry {
                key: key.clone(),
                sha256: "AB".repeat(32),
            })
            .unwrap(),
            serde_json::to_vec(&Entry {
                key: key.clone(),
                sha256: "ab".repeat(31),
            })
            .unwrap(),
            serde_json::to_vec(&Entry {
                key: other_inode,
                sha256: "ab".repeat(32),
            })
            .unwrap(),
            serde_json::to_vec(&Entry {
                key: other_ctime,
                sha256: "ab".repeat(32),
            })
            .unwrap(),
            format!(
                "{{\"key\":{},\"sha256\":\"{}\",\"extra\":1}}",
                serde_json::to_string(&key).unwrap(),
                "ab".repeat(32)
            )
            .into_bytes(),
            b"{\"key\":".to_vec(),
            Vec::new(),
        ];
        for b in bad {
            std::fs::write(&cache, &b).unwrap();
            let got =
                cached_sha256(&file, &cache, SystemTime::now(), Duration::from_secs(3600)).unwrap();
            assert_eq!(
                got,
                (sha(b"version one"), Source::Computed),
                "{}",
                String::from_utf8_lossy(&b)
            );
        }
    }

    #[test]
    fn a_file_changed_moments_ago_is_hashed_but_not_cached() {
        let (_d, file, cache) = setup();
        let now = SystemTime::now();
        let got = cached_sha256(&file, &cache, now, SETTLE).unwrap();
        assert_eq!(got.1, Source::Computed);
        assert!(!cache.exists());
        // Later, the same file is settled and cached.
        let later = now + SETTLE + Duration::from_secs(2);
        assert_eq!(
            cached_sha256(&file, &cache, later, SETTLE).unwrap().1,
            Source::Computed
        );
        assert_eq!(
            cached_sha256(&file, &cache, later, SETTLE).unwrap().1,
            Source::Cache
        );
    }
}
