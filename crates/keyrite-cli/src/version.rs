//! `keyrite --version`: version, source commit, and the SHA-256 of the running binary in hex
//! and words, the same hash a ceremony record names (`binary_sha256`), so an auditor can
//! compare the installed program with the record and with `sha256sum`.

/// The source commit baked in by build.rs.
pub const COMMIT: &str = env!("KEYRITE_COMMIT");

/// The text `--version` prints.
pub fn text() -> String {
    let hash = keyrite_core::environment::executable_sha256();
    // A hash that cannot be computed comes back as a sentence; it has no words.
    let words = hex::decode(&hash)
        .map(|b| keyrite_core::words::to_words(&b))
        .unwrap_or_else(|_| "-".into());
    format!(
        "keyrite {}\ncommit:         {COMMIT}\nbinary SHA-256: {hash}\nbinary words:   {words}\n",
        env!("CARGO_PKG_VERSION")
    )
}
