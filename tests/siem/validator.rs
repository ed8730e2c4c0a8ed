//! Runs `tests/siem/validate.py` (third-party OCSF, CEF and RFC 5424 checkers) on an export
//! and returns what the tools parsed, one JSON value per line. Shared by keyrite-core's
//! `journal_export` test and the end-to-end `siem_export` test.

use std::path::{Path, PathBuf};

/// The venv `.ci/setup.sh` installs the validators into.
pub fn python() -> PathBuf {
    let tools = std::env::var_os("KEYRITE_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/keyrite-tools")
        });
    let py = tools.join("venv/bin/python");
    // Never skip: a missing validator is a failed test with the command that fixes it.
    assert!(
        py.exists(),
        "the SIEM validators are not installed ({} is missing): run .ci/setup.sh",
        py.display()
    );
    py
}

/// The script beside this file.
pub fn script() -> PathBuf {
    // The including crate is the workspace's `tests` or `crates/keyrite-core`.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|a| a.join("tests/siem/validate.py"))
        .find(|p| p.exists())
        .expect("tests/siem/validate.py in the workspace")
}

/// Validates `file` as `format`; panics with the validator's findings when any line fails.
pub fn validate(format: &str, file: &Path) -> Vec<serde_json::Value> {
    let out = std::process::Command::new(python())
        .arg(script())
        .arg(format)
        .arg(file)
        .output()
        .expect("run validate.py");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{format} export {} failed third-party validation:\n{stderr}",
        file.display()
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("validator output is JSON"))
        .collect()
}
