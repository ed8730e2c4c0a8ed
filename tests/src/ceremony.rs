//! Fixtures for ceremony tests: the shipped scripts and an answers file for unattended rehearsal.

use std::path::{Path, PathBuf};

/// Path of a shipped ceremony script.
pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../ceremony-scripts")
        .join(format!("{name}.toml"))
}

/// SO PIN the answers file sets.
pub const SO_PIN: &str = "so-pin-12345678";
/// User PIN the answers file sets.
pub const USER_PIN: &str = "user-pin-1234567";
/// Passphrase sealing every share.
pub const PASSPHRASE: &str = "rehearsal passphrase";

/// Writes an answers file into `dir`. The sign-record step is skipped by an exception decided
/// by the witness and the administrator (no record producer in this build).
pub fn answers(dir: &Path) -> PathBuf {
    let p = dir.join("answers.toml");
    std::fs::write(
        &p,
        format!(
            "so_pin = \"{SO_PIN}\"\nuser_pin = \"{USER_PIN}\"\nshare_passphrase = \"{PASSPHRASE}\"\n\
             [participants]\nadministrator = [\"Ada Admin\"]\nwitness = [\"Wes Witness\"]\n\
             auditor = [\"Aud Auditor\"]\ncustodian = [\"C One\", \"C Two\", \"C Three\", \"C Four\", \"C Five\"]\n\
             [clock]\nreference = \"test clock\"\noffset_seconds = 0\n\
             [exceptions.sign-record]\ndecision = \"skip\"\nby = [\"witness-1\", \"administrator-1\"]\n\
             reason = \"no record producer in this build\"\n"
        ),
    )
    .expect("write answers");
    p
}
