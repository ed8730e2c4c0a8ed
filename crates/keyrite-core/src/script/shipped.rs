//! The ceremony scripts shipped with Keyrite (`ceremony-scripts/`, built into the binary
//! byte for byte, so their SHA-256 is the packaged files').
//!
//! A ceremony journals the SHA-256 of its script when it starts (`ceremony_started`);
//! resuming it finds the script by that hash ([`by_sha256`]), never by a typed path.

use super::{Script, ScriptDigest, ScriptError};

/// Each shipped script: file name and exact bytes.
pub const SHIPPED: &[(&str, &[u8])] = &[
    (
        "custodian-enrolment.toml",
        include_bytes!("../../../../ceremony-scripts/custodian-enrolment.toml"),
    ),
    (
        "emergency-rotation.toml",
        include_bytes!("../../../../ceremony-scripts/emergency-rotation.toml"),
    ),
    (
        "hsm-initialisation.toml",
        include_bytes!("../../../../ceremony-scripts/hsm-initialisation.toml"),
    ),
    (
        "key-destruction.toml",
        include_bytes!("../../../../ceremony-scripts/key-destruction.toml"),
    ),
    (
        "key-generation-and-backup.toml",
        include_bytes!("../../../../ceremony-scripts/key-generation-and-backup.toml"),
    ),
    (
        "key-rotation.toml",
        include_bytes!("../../../../ceremony-scripts/key-rotation.toml"),
    ),
    (
        "replace-custodian.toml",
        include_bytes!("../../../../ceremony-scripts/replace-custodian.toml"),
    ),
    (
        "root-key-generation.toml",
        include_bytes!("../../../../ceremony-scripts/root-key-generation.toml"),
    ),
    (
        "root-key-recovery.toml",
        include_bytes!("../../../../ceremony-scripts/root-key-recovery.toml"),
    ),
];

/// How a shipped script is named as its `file` (messages, the record).
pub const SHIPPED_PREFIX: &str = "keyrite:ceremony-scripts/";

/// The shipped script whose SHA-256 (hex, any case) is `sha256`, if one is.
pub fn by_sha256(sha256: &str) -> Option<Result<Script, ScriptError>> {
    let want = sha256.trim().to_ascii_lowercase();
    SHIPPED
        .iter()
        .find(|(_, bytes)| ScriptDigest::of(bytes).hex() == want)
        .map(|(name, bytes)| Script::parse(&format!("{SHIPPED_PREFIX}{name}"), bytes))
}

/// Why no shipped script was found.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShippedError {
    /// No shipped script has the SHA-256 a ceremony started from.
    #[error(
        "no script shipped with this Keyrite has the SHA-256 ceremony {ceremony_id} started \
         from ({}; {sha256}): resume it with the path of the reviewed copy it started from",
        words_of(.sha256)
    )]
    NoneForResume {
        /// The ceremony.
        ceremony_id: String,
        /// The SHA-256 journaled at its start (hex, as journaled).
        sha256: String,
    },
    /// No shipped script has this file name.
    #[error("no script named \"{0}\" is shipped with this Keyrite")]
    NoSuchName(String),
    /// The shipped script does not validate (a build that changed the validation rules).
    #[error(transparent)]
    Script(#[from] ScriptError),
}

/// A hex SHA-256 in words; empty when it is not hex.
fn words_of(sha256: &str) -> String {
    hex::decode(sha256)
        .map(|b| crate::words::to_words(&b))
        .unwrap_or_default()
}

/// The shipped script named `name` (its file name, e.g. `root-key-generation.toml`).
pub fn by_name(name: &str) -> Result<Script, ShippedError> {
    let (file, bytes) = SHIPPED
        .iter()
        .find(|(f, _)| *f == name)
        .ok_or_else(|| ShippedError::NoSuchName(name.to_string()))?;
    Ok(Script::parse(&format!("{SHIPPED_PREFIX}{file}"), bytes)?)
}

/// The script a ceremony started from, found among the shipped ones by the SHA-256 journaled
/// at its start; the error says plainly when none has it.
pub fn for_resume(ceremony_id: &str, script_sha256: &str) -> Result<Script, ShippedError> {
    match by_sha256(script_sha256) {
        Some(s) => Ok(s?),
        None => Err(ShippedError::NoneForResume {
            ceremony_id: ceremony_id.to_string(),
            sha256: script_sha256.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn every_file_of_ceremony_scripts_is_shipped_and_valid() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ceremony-scripts");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".toml"))
            .collect();
        on_disk.sort();
        let shipped: Vec<String> = SHIPPED.iter().map(|(n, _)| (*n).to_string()).collect();
        assert_eq!(on_disk, shipped);
        for (name, bytes) in SHIPPED {
            let file = Script::load(&dir.join(name)).unwrap();
            let found = by_sha256(&file.digest.hex().to_uppercase())
                .unwrap()
                .unwrap();
            assert_eq!(found.digest, file.digest);
            assert_eq!(found.file, format!("{SHIPPED_PREFIX}{name}"));
            assert_eq!(std::fs::read(dir.join(name)).unwrap(), *bytes);
        }
    }

    #[test]
    fn errors_say_what_is_missing() {
        let table: &[(ShippedError, &str)] = &[
            (
                ShippedError::NoneForResume {
                    ceremony_id: "x-1".into(),
                    sha256: "zz".into(),
                },
                "no script shipped with this Keyrite has the SHA-256 ceremony x-1 started from \
                 (; zz): resume it with the path of the reviewed copy it started from",
            ),
            (
                ShippedError::NoSuchName("x.toml".into()),
                "no script named \"x.toml\" is shipped with this Keyrite",
            ),
        ];
        for (e, expected) in table {
            assert_eq!(e.to_string(), *expected);
        }
        assert_eq!(
            by_name("x.toml").unwrap_err().to_string(),
            "no script named \"x.toml\" is shipped with this Keyrite"
        );
    }

    #[test]
    fn an_unknown_hash_is_said_plainly() {
        let hex = "00".repeat(32);
        let e = for_resume("x-1", &hex).unwrap_err().to_string();
        assert!(
            e.starts_with(
                "no script shipped with this Keyrite has the SHA-256 ceremony x-1 started from ("
            ),
            "{e}"
        );
        assert!(
            e.ends_with(&format!(
                "; {hex}): resume it with the path of the reviewed copy it started from"
            )),
            "{e}"
        );
    }
}
