//! Fixtures for quorum rehearsals through the CLI: custodians' virtual YubiKeys are inserted
//! when `keyrite` asks for them ("Insert the YubiKey of NAME (serial N) now."), one at a time,
//! as custodians would in the room.

use crate::piv::Harness;
use crate::{bin, TempData};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Custodians of the rehearsal answers file and their virtual YubiKey serials.
pub const CUSTODIANS: [(&str, u32); 5] = [
    ("C One", 7_001),
    ("C Two", 7_002),
    ("C Three", 7_003),
    ("C Four", 7_004),
    ("C Five", 7_005),
];
/// Every custodian's YubiKey PIN after enrolment.
pub const YK_PIN: &str = "246810";
/// Every custodian's PUK after enrolment.
pub const YK_PUK: &str = "87654321";

/// The rehearsal answers file (see [`crate::ceremony::answers`]) plus YubiKeys, the key each
/// quorum step acts on, and who approves.
pub fn quorum_answers(
    dir: &Path,
    name: &str,
    keys: &[(&str, &str)],
    approvals: &[(&str, &[&str])],
    exceptions: &[(&str, &str)],
) -> PathBuf {
    let base = crate::ceremony::answers(dir);
    let mut text = std::fs::read_to_string(&base).expect("answers");
    for (n, serial) in CUSTODIANS {
        text.push_str(&format!(
            "[yubikeys.\"{n}\"]\nserial = {serial}\npin = \"{YK_PIN}\"\npuk = \"{YK_PUK}\"\n"
        ));
    }
    text.push_str("[keys]\n");
    for (step, key) in keys {
        text.push_str(&format!("{step} = \"{key}\"\n"));
    }
    text.push_str("[approvals]\n");
    for (step, who) in approvals {
        let list: Vec<String> = who.iter().map(|w| format!("\"{w}\"")).collect();
        text.push_str(&format!("{step} = [{}]\n", list.join(", ")));
    }
    for (step, decision) in exceptions {
        text.push_str(&format!(
            "[exceptions.{step}]\ndecision = \"{decision}\"\nby = [\"administrator-1\", \"witness-1\"]\nreason = \"rehearsal: quorum not reached\"\n"
        ));
    }
    let p = dir.join(format!("{name}.answers.toml"));
    std::fs::write(&p, text).expect("write answers");
    p
}

/// What a CLI run printed and how it ended.
pub struct Run {
    /// Exit code.
    pub code: Option<i32>,
    /// stdout.
    pub stdout: String,
    /// stderr.
    pub stderr: String,
    /// Serials inserted, in order.
    pub inserted: Vec<u32>,
}

/// Runs `keyrite ceremony run SCRIPT --answers FILE`, inserting each YubiKey the CLI asks for
/// (and pulling out the one before).
pub fn run_with_cards(t: &TempData, h: &mut Harness, script: &Path, answers: &Path) -> Run {
    run_with_cards_on(t, h, script, answers, &[], &[])
}

/// [`run_with_cards`] with global options before `ceremony run` (e.g. `--profile FILE` for a
/// module other than the rehearsal token) and extra environment variables.
pub fn run_with_cards_on(
    t: &TempData,
    h: &mut Harness,
    script: &Path,
    answers: &Path,
    global: &[&str],
    env: &[(&str, &str)],
) -> Run {
    let mut cmd = Command::new(bin("keyrite"));
    cmd.envs(env.iter().copied());
    cmd.arg("--data-dir")
        .arg(t.path())
        .args(global)
        .args(["ceremony", "run"])
        .arg(script)
        .arg("--answers")
        .arg(answers)
        .env_remove("SOFTHSM2_CONF")
        .env_remove("KEYRITE_DATA_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run keyrite");
    let mut err = child.stderr.take().expect("stderr");
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut stdout = String::new();
    let mut inserted = Vec::new();
    let mut current: Option<u32> = None;
    for line in out.lines() {
        let line = line.expect("line");
        stdout.push_str(&line);
        stdout.push('\n');
        if let Some(rest) = line.strip_prefix("Insert the YubiKey of ") {
            let (name, serial) = parse_insert(rest).expect("insert line");
            if current != Some(serial) {
                if let Some(old) = current.take() {
                    h.remove(old);
                }
                h.insert(&name, serial, 0);
                current = Some(serial);
                inserted.push(serial);
            }
        }
    }
    let status = child.wait().expect("wait keyrite");
    if let Some(old) = current {
        h.remove(old);
    }
    Run {
        code: status.code(),
        stdout,
        stderr: err_thread.join().unwrap_or_default(),
        inserted,
    }
}

/// "NAME (serial N) now." → (NAME, N).
fn parse_insert(rest: &str) -> Option<(String, u32)> {
    let (name, tail) = rest.split_once(" (serial ")?;
    let serial = tail.split_once(')')?.0.parse().ok()?;
    Some((name.to_string(), serial))
}

/// Labels of the keys on the rehearsal token (`keyrite hsm keys --json`).
pub fn token_labels(data: &Path) -> Vec<String> {
    let o = crate::hsm::keyrite_fds(
        data,
        &["hsm", "keys", "--json", "--pin-fd", "3"],
        &[],
        &[(3, crate::ceremony::USER_PIN)],
        "",
    );
    assert!(o.status.success(), "{}", crate::stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&crate::stdout(&o)).expect("json");
    let mut labels: Vec<String> = v["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(|k| k["label"].as_str().map(str::to_string))
        .collect();
    labels.sort();
    labels.dedup();
    labels
}

/// Enrols the five custodians of [`CUSTODIANS`] on their virtual YubiKeys with the shipped
/// custodian-enrolment script (answers written in `t`'s temp folder); the run, which succeeded.
pub fn enrol_custodians(t: &TempData, h: &mut Harness) -> Run {
    let ans = quorum_answers(t.tmp.path(), "enrol", &[], &[], &[]);
    let r = run_with_cards(t, h, &crate::ceremony::script("custodian-enrolment"), &ans);
    assert_eq!(r.code, Some(0), "{}{}", r.stdout, r.stderr);
    r
}
