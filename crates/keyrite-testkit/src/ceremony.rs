//! Fixtures for ceremony tests: the shipped scripts and an answers file for unattended rehearsal.

use std::path::{Path, PathBuf};

/// Path of a shipped ceremony script.
pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../ceremony-scripts")
        .join(format!("{name}.toml"))
}

/// SO PIN the answers file sets.
pub const SO_PIN: &str = "so-pin-12345678";
/// User PIN the answers file sets.
pub const USER_PIN: &str = "user-pin-1234567";
/// Passphrase sealing every share.
pub const PASSPHRASE: &str = "rehearsal passphrase";

/// Writes an answers file into `dir` for an unattended rehearsal of the shipped scripts.
pub fn answers(dir: &Path) -> PathBuf {
    let p = dir.join("answers.toml");
    std::fs::write(
        &p,
        format!(
            "so_pin = \"{SO_PIN}\"\nuser_pin = \"{USER_PIN}\"\nshare_passphrase = \"{PASSPHRASE}\"\n\
             [participants]\nadministrator = [\"Ada Admin\"]\nwitness = [\"Wes Witness\"]\n\
             auditor = [\"Aud Auditor\"]\ncustodian = [\"C One\", \"C Two\", \"C Three\", \"C Four\", \"C Five\"]\n\
             [clock]\nreference = \"test clock\"\noffset_seconds = 0\n"
        ),
    )
    .expect("write answers");
    p
}

/// Asserts that a record in `DATA/records` whose file name starts with `prefix` prints the
/// root KEK's check value `kcv` (hex) and its words: the record says which KEK (issue 14).
pub fn record_prints_kek(data: &Path, prefix: &str, kcv: &str) {
    let bytes: Vec<u8> = (0..kcv.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&kcv[i..i + 2], 16).expect("KCV hex"))
        .collect();
    let words = keyrite_core::words::to_words(&bytes);
    let want = [
        format!("Key check value (KCV, kwp-zero-key-sha256): {kcv}"),
        format!("KCV (a custodian rebuilding the key confirms it against these) in words: {words}"),
    ];
    let mut seen = Vec::new();
    for e in std::fs::read_dir(data.join("records")).expect("records dir") {
        let p = e.expect("entry").path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if !name.starts_with(prefix) || !name.ends_with(".pdf") {
            continue;
        }
        let o = std::process::Command::new("pdftotext")
            .arg(&p)
            .arg("-")
            .output()
            .expect("pdftotext");
        let flat = String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if want.iter().all(|w| flat.contains(w.as_str())) {
            return;
        }
        seen.push(name.to_string());
    }
    panic!("no record {prefix}* prints the KEK's KCV {kcv} and its words {words}; records seen: {seen:?}");
}

/// Every event of the data directory's journal, in order; none when there is no journal yet
/// (a run killed before it created one).
pub fn events(data: &Path) -> Vec<keyrite_core::journal::Event> {
    let Ok(j) = keyrite_core::journal::Journal::open_read_only(
        &data.join("journal.sqlite"),
        &Default::default(),
    ) else {
        return Vec::new();
    };
    let size = j.head().size;
    let mut v = Vec::new();
    if size > 0 {
        j.for_each_entry(0, size - 1, |e| {
            v.push(e.event()?);
            Ok(())
        })
        .expect("journal entries");
    }
    v
}

/// The record of the first ceremony whose id starts with `ceremony` (`DATA/records/<id>.pdf`).
pub fn record_of(data: &Path, ceremony: &str) -> PathBuf {
    std::fs::read_dir(data.join("records"))
        .expect("records dir")
        .map(|e| e.expect("entry").path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(ceremony) && n.ends_with(".pdf"))
        })
        .unwrap_or_else(|| panic!("no record of a {ceremony} ceremony"))
}

/// `keyrite ceremony run SCRIPT --answers ANSWERS` on the data directory `data`.
pub fn run_answered(data: &Path, script: &Path, answers: &Path) -> std::process::Output {
    crate::keyrite(
        data,
        &[
            "ceremony",
            "run",
            script.to_str().expect("utf-8 path"),
            "--answers",
            answers.to_str().expect("utf-8 path"),
        ],
    )
}

/// [`run_answered`], which must complete; its standard output.
pub fn run_answered_ok(data: &Path, script: &Path, answers: &Path) -> String {
    let o = run_answered(data, script, answers);
    assert!(
        o.status.success(),
        "{}: {}{}",
        script.display(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `keyrite record verify RECORD --journal DATA/journal.sqlite`: the full verdict.
pub fn verify_record_against_journal(data: &Path, record: &Path) -> std::process::Output {
    crate::keyrite(
        data,
        &[
            "record",
            "verify",
            record.to_str().expect("utf-8 path"),
            "--journal",
            data.join("journal.sqlite").to_str().expect("utf-8 path"),
        ],
    )
}

/// The site most quorum tests start from: hsm-initialisation, root-key-generation and
/// key-generation-and-backup run unattended on `data` with the default answers written in
/// `dir`. Returns that answers file.
pub fn site_with_backed_up_key(data: &Path, dir: &Path) -> PathBuf {
    let base = answers(dir);
    for name in [
        "hsm-initialisation",
        "root-key-generation",
        "key-generation-and-backup",
    ] {
        run_answered_ok(data, &script(name), &base);
    }
    base
}
