//! The `keyrite` command's conventions, checked from outside with the tools a user has: exit
//! codes (one meaning each, asserted per case), `--version` against `sha256sum`, man pages
//! through `man -l`, completion scripts loaded by bash and zsh, `--json` on `hsm init` and
//! `hsm backup`, and `-` for standard input.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_testkit::gui::{seed_journal, tamper_entry};
use keyrite_testkit::hsm::{import_root_kek, keyrite_fds};
use keyrite_testkit::{bin, keyrite, stderr, stdout, TempData};
use serde_json::Value;
use serial_test::serial;
use std::process::{Command, Output};

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn ok(o: &Output) -> String {
    assert_eq!(code(o), 0, "stdout: {}\nstderr: {}", stdout(o), stderr(o));
    stdout(o)
}

fn json(o: &Output) -> Value {
    serde_json::from_str(&ok(o)).expect("JSON on stdout")
}

/// Runs `keyrite ARGS` without `--data-dir` (commands that need none).
fn bare(args: &[&str]) -> Output {
    Command::new(bin("keyrite"))
        .args(args)
        .output()
        .expect("run keyrite")
}

fn sh(program: &str, script: &str) -> Output {
    Command::new(program)
        .arg("-c")
        .arg(script)
        .output()
        .unwrap_or_else(|e| panic!("{program} is needed (.ci/setup.sh installs it): {e}"))
}

#[test]
fn usage_errors_exit_2_and_help_shows_every_exit_code() {
    let o = bare(&["hsm", "bogus"]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).starts_with("error: unrecognized subcommand 'bogus'\n"),
        "{}",
        stderr(&o)
    );
    let o = bare(&["hsm", "backup", "--label", "k"]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).starts_with(
            "error: the following required arguments were not provided:\n  --kek-label <K>\n  \
             --out <FILE>\n"
        ),
        "{}",
        stderr(&o)
    );
    // No command at all: the help, on stderr, and the usage code.
    let o = bare(&[]);
    assert_eq!(code(&o), 2);
    assert!(stdout(&o).is_empty());
    assert!(stderr(&o).contains("\nUsage: keyrite [OPTIONS] [COMMAND]\n"));

    let help = ok(&bare(&["--help"]));
    assert!(
        help.ends_with(
            "Exit status:\n\
             \x20 0  success; for checks: everything checked is valid\n\
             \x20 1  error or refusal (bad input, HSM or file error); nothing was changed\n\
             \x20 2  usage: the command line is wrong\n\
             \x20 3  inventory reconcile: the inventory and the token differ\n\
             \x20 4  verification failed: journal verify or record verify found it invalid\n\
             \x20 5  record verify: the record cannot be read\n\
             \x20 6  ceremony run|resume: the ceremony ended without completing\n"
        ),
        "{help}"
    );
}

#[test]
fn version_shows_the_commit_and_the_hash_sha256sum_prints() {
    let text = ok(&bare(&["--version"]));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert_eq!(lines[0], format!("keyrite {}", env!("CARGO_PKG_VERSION")));
    let commit = lines[1]
        .strip_prefix("commit:         ")
        .expect("commit line");
    assert!(
        commit == "unknown"
            || (commit.len() == 40 && commit.bytes().all(|b| b.is_ascii_hexdigit())),
        "{commit}"
    );
    let sum = Command::new("sha256sum")
        .arg(bin("keyrite"))
        .output()
        .expect("sha256sum");
    let expected = stdout(&sum)
        .split_whitespace()
        .next()
        .expect("sha256sum output")
        .to_string();
    assert_eq!(lines[2], format!("binary SHA-256: {expected}"));
    let words = keyrite_core::words::to_words(&hex::decode(&expected).unwrap());
    assert_eq!(lines[3], format!("binary words:   {words}"));
    assert_eq!(words.split(' ').count(), 32);
    assert_eq!(ok(&bare(&["-V"])), text);
}

#[test]
fn man_pages_render_with_man_and_are_never_overwritten() {
    let d = TempData::new();
    let dir = d.scratch("man");
    std::fs::create_dir(&dir).unwrap();
    let dir_s = dir.to_str().unwrap();
    let out = ok(&bare(&["man", "--out-dir", dir_s]));
    assert_eq!(out, format!("Wrote 31 man pages to {dir_s}\n"));
    let mut pages: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    for p in [
        "keyrite.1",
        "keyrite-hsm.1",
        "keyrite-hsm-init.1",
        "keyrite-hsm-backup.1",
        "keyrite-journal-verify.1",
        "keyrite-journal-ceremonies.1",
        "keyrite-record-verify.1",
        "keyrite-completions.1",
    ] {
        assert!(pages.contains(&p.to_string()), "{p} missing: {pages:?}");
    }
    for p in &pages {
        // groff's warnings (bad requests, unknown escapes) go to stderr: there must be none.
        let o = Command::new("man")
            .args(["--warnings", "-l"])
            .arg(dir.join(p))
            .env("MANWIDTH", "100")
            .output()
            .expect("man(1) is needed");
        assert_eq!(code(&o), 0, "{p}: {}", stderr(&o));
        assert_eq!(stderr(&o), "", "{p}");
        let text = stdout(&o);
        let name = p.trim_end_matches(".1");
        assert!(text.starts_with(&format!("{name}(1)")), "{p}: {text}");
        for section in ["NAME", "SYNOPSIS", "EXIT STATUS"] {
            assert!(text.contains(&format!("\n{section}\n")), "{p}: {text}");
        }
    }
    let top = stdout(
        &Command::new("man")
            .args(["-l"])
            .arg(dir.join("keyrite.1"))
            .env("MANWIDTH", "100")
            .output()
            .unwrap(),
    );
    assert!(top.contains("       keyrite-hsm(1)\n"), "{top}");
    assert!(
        top.contains(
            "       4      verification failed: journal verify or record verify found it invalid\n"
        ),
        "{top}"
    );
    let before = std::fs::read(dir.join("keyrite.1")).unwrap();
    // Again into the same directory: refused, nothing rewritten.
    let again = bare(&["man", "--out-dir", dir_s]);
    assert_eq!(code(&again), 1);
    let first = dir.join("keyrite.1");
    assert_eq!(
        stderr(&again),
        format!(
            "keyrite: error: cannot write man page: {} already exists; Keyrite never \
             overwrites a file: move it aside or choose another name\n",
            first.display()
        )
    );
    assert_eq!(std::fs::read(&first).unwrap(), before);
}

#[test]
fn completion_scripts_load_in_bash_and_zsh() {
    let k = bin("keyrite");
    let k = k.display();
    let o = sh(
        "bash",
        &format!(
            "source <('{k}' completions bash) || exit 1; complete -p keyrite; \
             COMP_WORDS=(keyrite hsm i); COMP_CWORD=2; _keyrite keyrite i hsm; \
             echo \"${{COMPREPLY[*]}}\"; \
             COMP_WORDS=(keyrite hsm init --j); COMP_CWORD=3; _keyrite keyrite --j init; \
             echo \"${{COMPREPLY[*]}}\""
        ),
    );
    assert_eq!(
        ok(&o),
        "complete -o bashdefault -o default -o nosort -F _keyrite keyrite\ninfo init\n--json\n"
    );
    let o = sh(
        "zsh",
        &format!(
            "autoload -U compinit && compinit -u -D && source <('{k}' completions zsh) && \
             whence -w _keyrite && print $_comps[keyrite]"
        ),
    );
    assert_eq!(ok(&o), "_keyrite: function\n_keyrite\n");
    let o = bare(&["completions", "fish"]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).starts_with("error: invalid value 'fish' for '<SHELL>'\n"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn inventory_reconcile_reads_standard_input_and_exits_3_on_differences() {
    let d = TempData::new();
    let data = d.path();
    seed_journal(&data);
    let reconcile = |stdin: &str| {
        keyrite_fds(
            &data,
            &["inventory", "reconcile", "--objects", "-"],
            &[],
            &[],
            stdin,
        )
    };
    let objects = |labels: &[&str]| {
        let list: Vec<Value> = labels
            .iter()
            .map(|l| serde_json::json!({"token_serial": "0123456789", "label": l, "cka_id": "01"}))
            .collect();
        serde_json::to_string(&list).unwrap()
    };
    // The seeded inventory has three keys with CKA_ID 01 on token 0123456789; a list that
    // lacks two of them and adds a stray differs.
    let o = reconcile(&objects(&["root-kek-label", "stray"]));
    assert_eq!(code(&o), 3, "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o)
            .contains("ORPHAN (not in the inventory): token 0123456789 label stray CKA_ID 01\n"),
        "{}",
        stdout(&o)
    );
    let o = reconcile("not json");
    assert_eq!(code(&o), 1);
    assert_eq!(
        stderr(&o),
        "keyrite: error: standard input: expected a JSON list of {token_serial, label, cka_id}\n  \
         caused by: expected ident at line 1 column 2\n"
    );
    assert!(!d.path().join("-").exists() && !std::path::Path::new("-").exists());
}

#[test]
fn journal_verify_exits_4_on_a_tampered_journal() {
    let d = TempData::new();
    let data = d.path();
    seed_journal(&data);
    ok(&keyrite(&data, &["journal", "verify"]));
    tamper_entry(&data, 2);
    let o = keyrite(&data, &["journal", "verify"]);
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("\nfirst bad sequence number: 2\n"),
        "{}",
        stderr(&o)
    );
    // A journal that is not there is an error, not a failed verification.
    let o = keyrite(&d.scratch("elsewhere"), &["journal", "verify"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
}

#[test]
#[serial(softhsm)]
fn hsm_init_and_backup_speak_json_and_restore_reads_standard_input() {
    let d = TempData::new();
    let data = d.path();
    import_root_kek(&data, "root-kek");
    let init = json(&keyrite_fds(
        &data,
        &[
            "hsm",
            "init",
            "--label",
            "second",
            "--so-pin-fd",
            "3",
            "--pin-fd",
            "4",
            "--json",
        ],
        &[],
        &[(3, "so-Pin-4417x\n"), (4, "user-Pin-8832\n")],
        "",
    ));
    assert_eq!(init["mode"], "rehearsal");
    assert_eq!(init["token"]["label"], "second");
    assert_eq!(init["token"]["initialized"], true);
    assert_eq!(init["token"]["flags"]["user_pin_initialized"], true);
    assert_eq!(init["journaled"], "hsm_token_initialised");

    json(&keyrite(
        &data,
        &[
            "hsm",
            "generate",
            "--policy",
            "ec-p256-sign",
            "--label",
            "sig-1",
            "--json",
            "--rehearsal-pins",
        ],
    ));
    let backup = |out: &str| {
        keyrite(
            &data,
            &[
                "hsm",
                "backup",
                "--label",
                "sig-1",
                "--kek-label",
                "root-kek",
                "--out",
                out,
                "--json",
                "--rehearsal-pins",
            ],
        )
    };
    // `-` is refused for a backup (its place is journaled), before the token is touched.
    let o = backup("-");
    assert_eq!(code(&o), 1);
    assert_eq!(
        stderr(&o),
        "keyrite: error: --out - is refused for a backup: the journal and the inventory \
         record where each backup is kept; name a file\n"
    );
    assert!(stdout(&o).is_empty());
    let file = d.scratch("sig-1.backup");
    let f = file.to_str().unwrap();
    let b = json(&backup(f));
    assert_eq!(b["mode"], "rehearsal");
    assert_eq!(b["backup"]["label"], "sig-1");
    assert_eq!(b["backup"]["file"], f);
    assert_eq!(b["backup"]["policy"], "ec-p256-sign");
    assert_eq!(b["backup"]["wrapping_key_label"], "root-kek");
    assert_eq!(b["backup"]["spki_sha256"].as_str().map(str::len), Some(64));
    assert!(b["login"].is_object() && b["identity"].is_object(), "{b}");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains(&format!(
        "spki-sha256: {}\n",
        b["backup"]["spki_sha256"].as_str().unwrap()
    )));

    ok(&keyrite(
        &data,
        &[
            "hsm",
            "destroy",
            "--label",
            "sig-1",
            "--confirm",
            "sig-1",
            "--rehearsal-pins",
        ],
    ));
    let restore = |stdin: &str| {
        keyrite_fds(
            &data,
            &["hsm", "restore", "--in", "-", "--json", "--rehearsal-pins"],
            &[],
            &[],
            stdin,
        )
    };
    let o = restore("keyrite-key-backup-v1\n");
    assert_eq!(code(&o), 1);
    assert_eq!(
        stderr(&o),
        "keyrite: error: backup file standard input is truncated: it ends before the \"label\" \
         line (after line 1); restore from another copy\n"
    );
    let r = json(&restore(&text));
    assert_eq!(r["key"]["label"], "sig-1");
    assert_eq!(r["key"]["spki_sha256"], b["backup"]["spki_sha256"]);
}
