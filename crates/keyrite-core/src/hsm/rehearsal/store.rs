//! Crash safety for the rehearsal token's file store.
//!
//! SoftHSM2 keeps each token's label, serial, PIN flags and PIN blobs in `token.object` and
//! rewrites that file in place — `ftruncate` to zero, then one buffered write at `fclose` — on
//! every `C_Login`, `C_InitToken`, `C_InitPIN` and `C_SetPIN` (2.6.1, `ObjectFile::store`).
//! A process killed between the two leaves the file empty, and SoftHSM2 then no longer lists
//! the token at all. Its transactional SQLite store would avoid this, but Debian 12's softhsm2
//! is built without it (`objectstore.backend = db` fails with "Could not select token
//! backend"), and production HSMs never go through this path.
//!
//! So Keyrite keeps a known-good copy of each rehearsal `token.object`, refreshed every time a
//! Keyrite process opens the rehearsal HSM, and puts it back when it finds the file damaged
//! (empty, cut inside a record, or missing the token's label, serial, flags or SO PIN). The
//! damaged file is kept beside it as evidence, and the repair is reported
//! ([`StoreRepair`]). What the copy cannot bring back is whatever the interrupted process
//! changed in `token.object` after it was taken: PIN changes and failed-PIN counts of that run.
//! Key objects live in files of their own and are untouched.
//!
//! Key objects live in files of their own (`<uuid>.object`), written the same way, and
//! SoftHSM2 creates a new one in two writes: the file with no attributes when the object is
//! made, then every attribute when its template is committed. A process killed between the
//! two (seen with SIGKILL during the root KEK's import) leaves an object with no class, label
//! or id, which SoftHSM2 still lists and which the journal cannot name. Such a file, or one
//! cut inside a record, is never a usable key. SoftHSM2 itself, when it next loads the token,
//! completes such a file with default attributes (an empty label and id), after which it can
//! no longer be told from a key; so the check runs before SoftHSM2 is loaded. The file is
//! moved out of the token into `damaged/`
//! and reported ([`HalfMadeObject`]), so that the next ceremony's reconciliation sees the
//! token exactly as the journal left it.
//!
//! A cut that falls exactly between two records and keeps every required attribute cannot be
//! told from a whole file; SoftHSM2 writes `token.object` (a few hundred bytes) with one
//! `write`, so the cuts met in practice leave it empty.

use crate::hsm::HsmError;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

const TOKEN_OBJECT: &str = "token.object";
/// Known-good copies, one per token directory, outside SoftHSM2's `tokens/` directory.
const KNOWN_GOOD: &str = "known-good";
/// Damaged files, kept as evidence.
const DAMAGED: &str = "damaged";

// SoftHSM2's object file: a big-endian u64 generation number, then records of
// (u64 attribute type, u64 kind, value). Kinds from ObjectFile.cpp.
const KIND_BOOL: u64 = 1;
const KIND_ULONG: u64 = 2;
const KIND_BYTES: u64 = 3;
/// An attribute template (`CKA_UNWRAP_TEMPLATE`…): a length, then records like the file's.
const KIND_ATTRMAP: u64 = 4;
const KIND_MECHSET: u64 = 5;
// CKA_VENDOR_DEFINED + 'SH' + n (OSAttributes.h): what a usable token.object must hold.
// The user PIN is not required: C_InitToken clears it until C_InitPIN runs.
const REQUIRED: &[(u64, &str)] = &[
    (0x8000_5349, "label"),
    (0x8000_534a, "serial"),
    (0x8000_534b, "flags"),
    (0x8000_534c, "SO PIN"),
];

/// A rehearsal `token.object` Keyrite found damaged and put back from its known-good copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreRepair {
    /// The token's `token.object`.
    pub file: PathBuf,
    /// What was wrong with it.
    pub problem: String,
    /// Where the damaged file was kept.
    pub damaged_copy: PathBuf,
    /// The known-good copy it was restored from.
    pub restored_from: PathBuf,
}

impl std::fmt::Display for StoreRepair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the rehearsal token's store file {} was damaged ({}; SoftHSM2 was interrupted while \
             rewriting it) and was restored from {}, the copy taken when Keyrite last opened the \
             rehearsal HSM; the damaged file is kept as {}; a PIN change made after that copy \
             is lost (run hsm-initialisation again if one was)",
            self.file.display(),
            self.problem,
            self.restored_from.display(),
            self.damaged_copy.display()
        )
    }
}

/// A half-made key object file Keyrite found in a rehearsal token and moved out of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HalfMadeObject {
    /// The object's file in the token directory.
    pub file: PathBuf,
    /// What was wrong with it.
    pub problem: String,
    /// Where it was moved, kept as evidence.
    pub moved_to: PathBuf,
}

impl std::fmt::Display for HalfMadeObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the rehearsal token held a half-made key object {} ({}; SoftHSM2 was interrupted \
             while creating it); it was never a usable key and was moved out of the token to {}",
            self.file.display(),
            self.problem,
            self.moved_to.display()
        )
    }
}

/// What Keyrite found and mended in the rehearsal store when it opened it.
#[derive(Debug, Default)]
pub(super) struct GuardReport {
    pub(super) repairs: Vec<StoreRepair>,
    pub(super) set_aside: Vec<HalfMadeObject>,
}

/// What a `token.object` looks like.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Every record whole, the token's attributes present.
    Complete,
    /// Cut short or missing what every token has.
    Damaged(String),
    /// A record kind this code does not know (a newer SoftHSM2?): left alone.
    Unknown(String),
}

/// Reads SoftHSM2's big-endian fields off the front of a byte slice.
struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn bytes(&mut self, n: u64) -> Option<&'a [u8]> {
        let n = usize::try_from(n).ok().filter(|n| *n <= self.rest.len())?;
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Some(head)
    }

    fn u64(&mut self) -> Option<u64> {
        self.bytes(8)
            .map(|s| s.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    }
}

fn check(bytes: &[u8]) -> Verdict {
    match attributes(bytes) {
        Err(v) => v,
        Ok(seen) => match REQUIRED.iter().find(|(ty, _)| !seen.contains_key(ty)) {
            Some((_, name)) => Verdict::Damaged(format!("it lacks the token's {name}")),
            None => Verdict::Complete,
        },
    }
}

// PKCS#11 attribute types and object classes the key-object check reads.
const CKA_CLASS: u64 = 0x0;
const CKA_LABEL: u64 = 0x3;
const CKA_ID: u64 = 0x102;
const CKA_DESTROYABLE: u64 = 0x172;
const CKA_ALLOWED_MECHANISMS: u64 = 0x4000_0600;
const KEY_CLASSES: [u64; 3] = [2, 3, 4];

/// A key or certificate object file. SoftHSM2 writes a whole object once, at the commit of
/// its template, with every attribute its object class defines (defaults included), in
/// ascending type order. `C_CopyObject` is different: it writes the new file once per
/// attribute, in the same order, so a kill leaves a prefix. Every storage object has
/// `CKA_DESTROYABLE` and every key has `CKA_ALLOWED_MECHANISMS`, the highest types of each, so
/// their absence marks any cut.
fn check_object(bytes: &[u8]) -> Verdict {
    let seen = match attributes(bytes) {
        Err(v) => return v,
        Ok(seen) => seen,
    };
    let Some(class) = seen.get(&CKA_CLASS) else {
        return Verdict::Damaged("it has no object class (CKA_CLASS)".into());
    };
    let class = class.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    // In type order, so the message names the first attribute the cut lost.
    let required: &[(u64, &str)] = if KEY_CLASSES.contains(&class) {
        &[
            (CKA_LABEL, "CKA_LABEL"),
            (CKA_ID, "CKA_ID"),
            (CKA_DESTROYABLE, "CKA_DESTROYABLE"),
            (CKA_ALLOWED_MECHANISMS, "CKA_ALLOWED_MECHANISMS"),
        ]
    } else {
        &[(CKA_DESTROYABLE, "CKA_DESTROYABLE")]
    };
    match required.iter().find(|(ty, _)| !seen.contains_key(ty)) {
        Some((_, name)) => Verdict::Damaged(format!(
            "an object of class {class} without {name}, which SoftHSM2 writes for every such object"
        )),
        None => Verdict::Complete,
    }
}

/// Every attribute record of a SoftHSM2 object file (type to raw value), or the verdict that
/// stops reading it.
fn attributes(bytes: &[u8]) -> Result<std::collections::BTreeMap<u64, &[u8]>, Verdict> {
    let len = bytes.len();
    if len == 0 {
        return Err(Verdict::Damaged("it is empty".into()));
    }
    let mut c = Cursor { rest: bytes };
    if c.u64().is_none() {
        return Err(Verdict::Damaged(format!(
            "it ends inside the generation number ({len} bytes)"
        )));
    }
    let mut seen = std::collections::BTreeMap::new();
    while !c.rest.is_empty() {
        let at = len - c.rest.len();
        let (Some(ty), Some(kind)) = (c.u64(), c.u64()) else {
            return Err(Verdict::Damaged(format!(
                "it ends inside an attribute header at byte {at} ({len} bytes)"
            )));
        };
        let value = match kind {
            KIND_BOOL => c.bytes(1),
            KIND_ULONG => c.bytes(8),
            KIND_BYTES | KIND_ATTRMAP => c.u64().and_then(|n| c.bytes(n)),
            KIND_MECHSET => c
                .u64()
                .and_then(|n| n.checked_mul(8))
                .and_then(|n| c.bytes(n)),
            other => {
                return Err(Verdict::Unknown(format!(
                    "attribute 0x{ty:x} at byte {at} has kind {other}"
                )))
            }
        };
        let Some(value) = value else {
            return Err(Verdict::Damaged(format!(
                "it ends inside attribute 0x{ty:x} at byte {at} ({len} bytes)"
            )));
        };
        seen.insert(ty, value);
    }
    Ok(seen)
}

fn unusable(file: &Path, problem: String) -> HsmError {
    HsmError::RehearsalStore {
        file: file.to_path_buf(),
        problem,
    }
}

/// Checks the `token.object` of every token under `softhsm_dir/tokens`: a complete one
/// refreshes its known-good copy, a damaged one is put back from it (and reported).
/// Half-made key object files are moved out of the token (and reported).
pub(super) fn guard(softhsm_dir: &Path) -> Result<GuardReport, HsmError> {
    let tokens = softhsm_dir.join("tokens");
    let entries = std::fs::read_dir(&tokens)
        .map_err(|e| unusable(&tokens, format!("cannot list the token directory: {e}")))?;
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join(TOKEN_OBJECT).is_file())
        .collect();
    dirs.sort();
    let mut report = GuardReport::default();
    for dir in dirs {
        if let Some(r) = guard_token(softhsm_dir, &dir)? {
            report.repairs.push(r);
        }
        report.set_aside.extend(guard_objects(softhsm_dir, &dir)?);
    }
    Ok(report)
}

/// Moves every half-made key object file of one token into `damaged/`.
fn guard_objects(softhsm_dir: &Path, token_dir: &Path) -> Result<Vec<HalfMadeObject>, HsmError> {
    let entries = std::fs::read_dir(token_dir)
        .map_err(|e| unusable(token_dir, format!("cannot list the token directory: {e}")))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "object")
                && p.file_name().is_some_and(|n| n != TOKEN_OBJECT)
        })
        .collect();
    files.sort();
    let token = token_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut set_aside = Vec::new();
    for file in files {
        let io = |what: &str, e: std::io::Error| unusable(&file, format!("cannot {what}: {e}"));
        // A symlink is never SoftHSM2's own file: leave it for SoftHSM2 to refuse.
        let meta = std::fs::symlink_metadata(&file).map_err(|e| io("inspect it", e))?;
        if !meta.is_file() {
            continue;
        }
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&file)
            .map_err(|e| io("open it", e))?;
        // SoftHSM2 holds this lock while it rewrites the file.
        lock(&f).map_err(|e| io("lock it", e))?;
        let mut verdict = check_object(&read_all(&mut f).map_err(|e| io("read it", e))?);
        if matches!(verdict, Verdict::Damaged(_)) {
            // A live writer between its two writes finishes within moments; a killed one never.
            std::thread::sleep(Duration::from_millis(100));
            verdict = check_object(&read_all(&mut f).map_err(|e| io("read it", e))?);
        }
        let Verdict::Damaged(problem) = verdict else {
            continue;
        };
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let damaged_dir = softhsm_dir.join(DAMAGED);
        std::fs::create_dir_all(&damaged_dir)
            .map_err(|e| io(&format!("create {}", damaged_dir.display()), e))?;
        let moved_to = damaged_dir.join(format!("{token}.{name}.{}", stamp()));
        // Same file system (both under the rehearsal directory): one atomic rename.
        std::fs::rename(&file, &moved_to)
            .map_err(|e| io(&format!("move it to {}", moved_to.display()), e))?;
        if let Ok(d) = File::open(token_dir) {
            let _ = d.sync_all();
        }
        let found = HalfMadeObject {
            file,
            problem,
            moved_to,
        };
        tracing::warn!(%found, "rehearsal token: half-made key object moved aside");
        set_aside.push(found);
    }
    Ok(set_aside)
}

/// Nanoseconds since the epoch: a name suffix that does not repeat.
fn stamp() -> u128 {
    crate::clock::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}

fn guard_token(softhsm_dir: &Path, token_dir: &Path) -> Result<Option<StoreRepair>, HsmError> {
    let file = token_dir.join(TOKEN_OBJECT);
    let name = token_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let good = softhsm_dir
        .join(KNOWN_GOOD)
        .join(format!("{name}.{TOKEN_OBJECT}"));
    let io = |what: &str, e: std::io::Error| unusable(&file, format!("cannot {what}: {e}"));
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&file)
        .map_err(|e| io("open it", e))?;
    // SoftHSM2 holds this lock (fcntl, whole file) while it truncates and refills the file.
    lock(&f).map_err(|e| io("lock it", e))?;
    let mut bytes = read_all(&mut f).map_err(|e| io("read it", e))?;
    let mut verdict = check(&bytes);
    if matches!(verdict, Verdict::Damaged(_)) {
        // SoftHSM2 unlocks before `fclose` writes the buffered content: a live writer needs a
        // moment more; a killed one never finishes.
        std::thread::sleep(Duration::from_millis(100));
        bytes = read_all(&mut f).map_err(|e| io("read it", e))?;
        verdict = check(&bytes);
    }
    match verdict {
        Verdict::Unknown(what) => {
            tracing::warn!(file = %file.display(), %what, "rehearsal token store not recognised; no known-good copy taken");
            Ok(None)
        }
        Verdict::Complete => {
            if std::fs::read(&good).ok().as_deref() != Some(&bytes[..]) {
                write_atomic(&good, &bytes).map_err(|e| {
                    unusable(
                        &file,
                        format!("cannot keep a copy in {}: {e}", good.display()),
                    )
                })?;
            }
            Ok(None)
        }
        Verdict::Damaged(problem) => {
            let copy = std::fs::read(&good)
                .ok()
                .filter(|c| check(c) == Verdict::Complete);
            let Some(copy) = copy else {
                return Err(unusable(
                    &file,
                    format!(
                        "{problem}; SoftHSM2 was interrupted while rewriting it and there is no \
                         known-good copy at {}; move {} aside and run again to create a fresh \
                         rehearsal token",
                        good.display(),
                        softhsm_dir.display()
                    ),
                ));
            };
            let stamp = stamp();
            let damaged_copy = softhsm_dir
                .join(DAMAGED)
                .join(format!("{name}.{TOKEN_OBJECT}.{stamp}"));
            write_atomic(&damaged_copy, &bytes).map_err(|e| {
                unusable(
                    &file,
                    format!(
                        "{problem}; cannot keep it as {}: {e}",
                        damaged_copy.display()
                    ),
                )
            })?;
            // Renamed over the damaged file; the lock held on the old file goes with it.
            write_atomic(&file, &copy)
                .map_err(|e| unusable(&file, format!("{problem}; cannot restore it: {e}")))?;
            let repair = StoreRepair {
                file,
                problem,
                damaged_copy,
                restored_from: good,
            };
            tracing::warn!(%repair, "rehearsal token store repaired");
            Ok(Some(repair))
        }
    }
}

/// Takes SoftHSM2's write lock on the whole file. `fcntl` locks belong to the process and
/// closing any descriptor of the file drops them all, so this runs before the process loads
/// SoftHSM2 (as [`super::RehearsalHsm::ensure`] is meant to be called), not beside it.
#[expect(
    unsafe_code,
    reason = "takes SoftHSM2's own fcntl lock on its store file"
)]
fn lock(f: &File) -> std::io::Result<()> {
    use std::os::unix::io::AsRawFd;
    // SAFETY: an all-zero `flock` is a valid value of this plain C struct.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = libc::F_WRLCK as _;
    fl.l_whence = libc::SEEK_SET as _;
    loop {
        // SAFETY: fcntl(F_SETLKW) on a descriptor we own, with a valid `flock`.
        if unsafe { libc::fcntl(f.as_raw_fd(), libc::F_SETLKW, &fl) } == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

fn read_all(f: &mut File) -> std::io::Result<Vec<u8>> {
    f.seek(SeekFrom::Start(0))?;
    let mut v = Vec::new();
    f.read_to_end(&mut v)?;
    Ok(v)
}

/// Writes `bytes` to `path` through a synced temporary file renamed into place (mode 0600),
/// then syncs the directory, so a crash leaves either the old or the new file.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    // Not ending in ".object": SoftHSM2 ignores it if it is ever left behind.
    let tmp = dir.join(format!(
        ".{}.keyrite-tmp-{}",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests;
