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
}
