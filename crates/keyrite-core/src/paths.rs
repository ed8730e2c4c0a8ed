//! Where Keyrite keeps its state: the data directory.
//!
//! Resolution order: an explicit directory (the `--data-dir` option), then `KEYRITE_DATA_DIR`,
//! then `$XDG_DATA_HOME/keyrite`, then `$HOME/.local/share/keyrite`.

use std::path::{Path, PathBuf};

/// Environment variable that overrides the data directory.
pub const DATA_DIR_ENV: &str = "KEYRITE_DATA_DIR";

/// Errors about the data directory.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    /// Neither an explicit directory, `KEYRITE_DATA_DIR`, `XDG_DATA_HOME` nor `HOME` is set.
    #[error(
        "no data directory: none of --data-dir, {DATA_DIR_ENV}, XDG_DATA_HOME or HOME is set; \
         pass --data-dir DIR or set {DATA_DIR_ENV}"
    )]
    Unresolvable,
    /// The directory could not be created or is not writable.
    #[error(
        "data directory {path} is not usable: {source}; choose a writable directory with \
         --data-dir DIR or {DATA_DIR_ENV}"
    )]
    NotWritable {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// Keyrite's data directory, resolved and known to be writable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// Resolves the data directory without touching the file system.
    pub fn resolve(explicit: Option<&Path>) -> Result<PathBuf, DataDirError> {
        if let Some(p) = explicit {
            return Ok(p.to_path_buf());
        }
        let non_empty = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        if let Some(p) = non_empty(DATA_DIR_ENV) {
            return Ok(PathBuf::from(p));
        }
        if let Some(p) = non_empty("XDG_DATA_HOME") {
            return Ok(PathBuf::from(p).join("keyrite"));
        }
        if let Some(h) = non_empty("HOME") {
            return Ok(PathBuf::from(h).join(".local/share/keyrite"));
        }
        Err(DataDirError::Unresolvable)
    }

    /// Resolves, creates (mode 0700) and checks that the directory is writable.
    pub fn open(explicit: Option<&Path>) -> Result<Self, DataDirError> {
        let root = Self::resolve(explicit)?;
        Self::open_at(root)
    }

    /// Creates (mode 0700) and checks the given directory.
    pub fn open_at(root: PathBuf) -> Result<Self, DataDirError> {
        use std::os::unix::fs::DirBuilderExt;
        let fail = |source| DataDirError::NotWritable {
            path: root.clone(),
            source,
        };
        if !root.is_dir() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&root)
                .map_err(fail)?;
        }
        // Prove writability now rather than half-way through a ceremony.
        let probe = root.join(format!(".write-probe-{}", std::process::id()));
        std::fs::write(&probe, b"").map_err(fail)?;
        std::fs::remove_file(&probe).map_err(fail)?;
        Ok(Self { root })
    }

    /// The directory itself.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Directory of the embedded rehearsal SoftHSM2 (configuration and tokens).
    pub fn softhsm_dir(&self) -> PathBuf {
        self.root.join("softhsm")
    }

    /// The journal database.
    pub fn journal_db(&self) -> PathBuf {
        self.root.join("journal.sqlite")
    }
}

/// Why an output file was not written. Nothing was written, and no existing file was touched.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutputError {
    /// The file name is not an acceptable name.
    #[error("cannot write {what}: {source}")]
    Name {
        /// What the file is ("backup", "record"…).
        what: &'static str,
        /// Why the name was refused.
        source: crate::names::NameError,
    },
    /// The directory is not inside the directory it must be in.
    #[error("cannot write {what} into {dir}: it is not inside {root}; nothing was written")]
    OutsideRoot {
        /// What the file is.
        what: &'static str,
        /// The directory asked for.
        dir: PathBuf,
        /// Where it must be.
        root: PathBuf,
    },
    /// A directory on the way (or the file's place) is a symbolic link.
    #[error(
        "cannot write {what}: {path} is a symbolic link (to {target}); Keyrite writes only inside \
         {root} and never follows a link out of it; replace the link by a real directory; \
         nothing was written"
    )]
    Symlink {
        /// What the file is.
        what: &'static str,
        /// The link.
        path: PathBuf,
        /// Where it points, as read.
        target: String,
        /// The directory the file must stay in.
        root: PathBuf,
    },
    /// A path on the way is not a directory.
    #[error("cannot write {what}: {path} is not a directory; nothing was written")]
    NotDirectory {
        /// What the file is.
        what: &'static str,
        /// The path.
        path: PathBuf,
    },
    /// The file exists already (a file, a directory or a link).
    #[error(
        "cannot write {what}: {path} already exists; Keyrite never overwrites a file: move it \
         aside or choose another name"
    )]
    Exists {
        /// What the file is.
        what: &'static str,
        /// The file.
        path: PathBuf,
    },
    /// The operating system refused.
    #[error("cannot write {what} {path}: {source}")]
    Io {
        /// What the file is.
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Longest file name Keyrite writes (bytes): the common file-system limit.
pub const FILE_NAME_MAX: usize = 255;

/// Makes sure `dir` is a real directory inside `root`: every component below `root` is created
/// (mode 0700) when missing and refused when it is a symbolic link or not a directory, and the
/// canonical `dir` must equal the canonical `root` joined with the relative part. `root` itself
/// is what the operator chose (the data directory) and may be reached through links.
pub fn ensure_dir_within(root: &Path, dir: &Path, what: &'static str) -> Result<(), OutputError> {
    use std::os::unix::fs::DirBuilderExt;
    let outside = || OutputError::OutsideRoot {
        what,
        dir: dir.to_path_buf(),
        root: root.to_path_buf(),
    };
    let rel = dir.strip_prefix(root).map_err(|_| outside())?;
    let io = |path: &Path, source| OutputError::Io {
        what,
        path: path.to_path_buf(),
        source,
    };
    let mut cur = root.to_path_buf();
    for c in rel.components() {
        let std::path::Component::Normal(part) = c else {
            return Err(outside());
        };
        cur.push(part);
        match std::fs::symlink_metadata(&cur) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(OutputError::Symlink {
                    what,
                    target: std::fs::read_link(&cur)
                        .map(|t| t.display().to_string())
                        .unwrap_or_else(|e| format!("unreadable: {e}")),
                    path: cur,
                    root: root.to_path_buf(),
                })
            }
            Ok(m) if !m.is_dir() => return Err(OutputError::NotDirectory { what, path: cur }),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // Not recursive: each level is created here, after its parent was checked.
                match std::fs::DirBuilder::new().mode(0o700).create(&cur) {
                    Ok(()) => {}
                    // Created meanwhile by someone else: check it like an existing one.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        let m = std::fs::symlink_metadata(&cur).map_err(|e| io(&cur, e))?;
                        if !m.is_dir() {
                            return Err(OutputError::NotDirectory { what, path: cur });
                        }
                    }
                    Err(e) => return Err(io(&cur, e)),
                }
            }
            Err(e) => return Err(io(&cur, e)),
        }
    }
    // The lexical walk saw no link; the canonical form proves it once more as a whole.
    let croot = root.canonicalize().map_err(|e| io(root, e))?;
    let cdir = dir.canonicalize().map_err(|e| io(dir, e))?;
    if cdir != croot.join(rel) {
        return Err(outside());
    }
    Ok(())
}

/// Writes `bytes` to a new file `name` (checked by [`crate::names::check_name`]) in `dir`,
/// which must be inside `root` ([`ensure_dir_within`]). The file is created with mode 0600,
/// never overwriting anything and never through a link (`O_CREAT|O_EXCL|O_NOFOLLOW`), and
/// synced. Returns its path.
pub fn write_new_within(
    root: &Path,
    dir: &Path,
    name: &str,
    what: &'static str,
    bytes: &[u8],
) -> Result<PathBuf, OutputError> {
    crate::names::check_name(
        "file name",
        name,
        FILE_NAME_MAX,
        "the file-system name limit",
    )
    .map_err(|source| OutputError::Name { what, source })?;
    ensure_dir_within(root, dir, what)?;
    let path = dir.join(name);
    create_new(&path, what, bytes)?;
    Ok(path)
}

/// Writes `bytes` to the new file `path` the operator named (`--out FILE`): its file name is
/// checked like every name, the file is never overwritten and never created through a link.
/// The directory is the operator's choice and is not otherwise restricted.
pub fn write_new_named(path: &Path, what: &'static str, bytes: &[u8]) -> Result<(), OutputError> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let name = if path.as_os_str().to_string_lossy().ends_with('/') {
        // `out/` names a directory, not a file; the check below refuses the empty name.
        ""
    } else {
        name
    };
    crate::names::check_name(
        "file name",
        name,
        FILE_NAME_MAX,
        "the file-system name limit",
    )
    .map_err(|source| OutputError::Name { what, source })?;
    create_new(path, what, bytes)
}

fn create_new(path: &Path, what: &'static str, bytes: &[u8]) -> Result<(), OutputError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| OutputError::Io {
        what,
        path: path.to_path_buf(),
        source,
    };
    let mut f = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        // create_new already refuses an existing link; O_NOFOLLOW keeps it so should the
        // flags ever change.
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(OutputError::Exists {
                what,
                path: path.to_path_buf(),
            })
        }
        Err(e) => return Err(io(e)),
    };
    if let Err(e) = f.write_all(bytes).and_then(|_| f.sync_all()) {
        // Only the file this call created is removed: a half-written output is no output.
        drop(f);
        let _ = std::fs::remove_file(path);
        return Err(io(e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_dir_wins_and_is_created() {
        let tmp = tempfile::tempdir().unwrap();
        let want = tmp.path().join("a/b");
        let d = DataDir::open(Some(&want)).unwrap();
        assert_eq!(d.path(), want);
        assert!(want.is_dir());
    }

    #[test]
    fn unwritable_dir_is_named_in_the_error() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("plainfile");
        std::fs::write(&file, b"x").unwrap();
        let want = file.join("sub");
        let err = DataDir::open(Some(&want)).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!(
                "data directory {} is not usable: ",
                want.display()
            )),
            "{msg}"
        );
        assert!(msg.contains("Not a directory"), "{msg}");
        assert!(msg.ends_with("--data-dir DIR or KEYRITE_DATA_DIR"), "{msg}");
    }

    #[test]
    fn output_inside_the_data_directory_is_created_once() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("data");
        std::fs::create_dir(&root).unwrap();
        let dir = root.join("backups");
        let p = write_new_within(&root, &dir, "k-c1.krbak", "backup", b"one").unwrap();
        assert_eq!(p, dir.join("k-c1.krbak"));
        assert_eq!(std::fs::read(&p).unwrap(), b"one");
        let again = write_new_within(&root, &dir, "k-c1.krbak", "backup", b"two").unwrap_err();
        assert_eq!(
            again.to_string(),
            format!(
                "cannot write backup: {} already exists; Keyrite never overwrites a file: move \
                 it aside or choose another name",
                p.display()
            )
        );
        assert_eq!(std::fs::read(&p).unwrap(), b"one", "not overwritten");
    }

    #[test]
    fn a_symlinked_directory_is_refused_and_nothing_is_written_outside() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("data");
        let elsewhere = tmp.path().join("elsewhere");
        std::fs::create_dir(&root).unwrap();
        std::fs::create_dir(&elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, root.join("records")).unwrap();
        let err =
            write_new_within(&root, &root.join("records"), "c.pdf", "record", b"x").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "cannot write record: {} is a symbolic link (to {}); Keyrite writes only inside \
                 {} and never follows a link out of it; replace the link by a real directory; \
                 nothing was written",
                root.join("records").display(),
                elsewhere.display(),
                root.display()
            )
        );
        assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
    }

    #[test]
    fn a_link_in_the_files_place_is_not_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("target");
        let link = tmp.path().join("out.krbak");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = write_new_named(&link, "backup", b"x").unwrap_err();
        assert!(matches!(err, OutputError::Exists { .. }), "{err}");
        assert!(!target.exists(), "nothing written through the link");
    }

    #[test]
    fn names_with_separators_or_dots_are_refused_before_anything_is_created() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("data");
        std::fs::create_dir(&root).unwrap();
        let err =
            write_new_within(&root, &root.join("backups"), "../x", "backup", b"x").unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot write backup: file name \"../x\" contains the dot segment \"..\"; a name \
             must not lead out of its directory"
        );
        assert!(!root.join("backups").exists());
        assert!(!tmp.path().join("x").exists());
        let err =
            write_new_within(&root, &tmp.path().join("other"), "x", "backup", b"x").unwrap_err();
        assert!(matches!(err, OutputError::OutsideRoot { .. }), "{err}");
    }
}
