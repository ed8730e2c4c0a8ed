//! The `keyrite` CLI on a second PKCS#11 module, Kryoptic (built by `.ci/setup.sh`): listing a
//! fresh module, the refusal that points a ceremony on it to initialisation, `hsm init`, then
//! the hsm-initialisation, root-key-generation and key-generation-and-backup ceremonies
//! unattended, with records that `keyrite record verify` accepts and whose first page states
//! the weaker key protection (Kryoptic refuses `CKA_TRUSTED`) and the vendor quirks in force.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_core::hsm::KeyBackup;
use keyrite_core::journal::Event;
use keyrite_testkit::ceremony::{
    answers, events, record_of, script, verify_record_against_journal, SO_PIN, USER_PIN,
};
use keyrite_testkit::hsm::keyrite_fds;
use keyrite_testkit::piv::Harness;
use keyrite_testkit::quorum::{quorum_answers, run_with_cards_on};
use keyrite_testkit::{keyrite_with_env, stderr, stdout, TempData};
use serial_test::serial;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The SO PIN `hsm init` gives the fresh token; the hsm-initialisation ceremony then asks it
/// as the current one and sets the answers file's `so_pin`.
const FIRST_SO: &str = "so-first-87120";

fn module() -> PathBuf {
    if let Some(p) = std::env::var_os("KEYRITE_KRYOPTIC_MODULE") {
        return PathBuf::from(p);
    }
    let tools = std::env::var_os("KEYRITE_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/keyrite-tools")
        });
    let p = tools.join("lib/libkryoptic_pkcs11.so");
    assert!(
        p.exists(),
        "Kryoptic is not built at {}: run .ci/setup.sh",
        p.display()
    );
    p
}

fn first_page(pdf: &Path) -> String {
    let o = Command::new("pdftotext")
        .args(["-l", "1", "-layout"])
        .arg(pdf)
        .arg("-")
        .output()
        .expect("pdftotext");
    assert!(o.status.success());
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A Kryoptic token store of the test's own with one slot `slot` (its `KRYOPTIC_CONF`) and a
/// rehearsal site profile selecting the token labelled "keyrite" on it.
fn kryoptic_site(t: &TempData, slot: u32) -> (std::path::PathBuf, std::path::PathBuf) {
    let conf = t.scratch("kryoptic.conf");
    std::fs::write(
        &conf,
        format!(
            "[[slots]]\nslot = {slot}\ndbtype = \"sqlite\"\ndbargs = \"{}\"\n",
            t.scratch("token.sql").display()
        ),
    )
    .unwrap();
    let profile = t.scratch("kryoptic-site.toml");
    std::fs::write(
        &profile,
        format!(
            "version = 1\n[site]\nname = \"Kryoptic lab\"\nmode = \"rehearsal\"\n[hsm]\n\
             module = \"{}\"\ntoken_label = \"keyrite\"\n",
            module().display()
        ),
    )
    .unwrap();
    (conf, profile)
}

#[test]
#[serial(kryoptic)]
fn ceremonies_run_on_kryoptic_with_the_weaker_policy_stated() {
    let t = TempData::new();
    let data = t.path();
    let (conf, profile) = kryoptic_site(&t, 7);
    let p = profile.to_str().unwrap();
    let env = [("KRYOPTIC_CONF", conf.to_str().unwrap())];
    let run = |args: &[&str]| {
        let mut all = vec!["--profile", p];
        all.extend_from_slice(args);
        keyrite_with_env(&data, &all, &env)
    };

    // A site quirks file with an error refuses the profile, naming where.
    let bad = t.scratch("bad-quirks.toml");
    std::fs::write(&bad, "version = 1\ncolour = \"red\"\n").unwrap();
    let bad_profile = t.scratch("bad-site.toml");
    std::fs::write(
        &bad_profile,
        format!(
            "{}vendor_quirks = \"bad-quirks.toml\"\n",
            std::fs::read_to_string(&profile).unwrap()
        ),
    )
    .unwrap();
    let o = keyrite_with_env(
        &data,
        &["--profile", bad_profile.to_str().unwrap(), "hsm", "info"],
        &env,
    );
    assert!(!o.status.success());
    assert_eq!(
        stderr(&o),
        format!(
            "keyrite: error: site profile {} is invalid: vendor quirks file {}:2:1: unknown \
             field `colour`, expected one of `version`, `default`, `module`\n",
            bad_profile.display(),
            bad.display()
        )
    );

    let o = run(&["hsm", "info"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("Slot 7: uninitialised token (Kryoptic Slot)"),
        "{}",
        stdout(&o)
    );

    // A ceremony that needs an initialised token, on the fresh module, says what is missing
    // and where to start (hsm-initialisation itself starts on a fresh module:
    // ceremony_hsm_init_guard.rs).
    let ans = answers(t.tmp.path());
    let ans_s = ans.to_str().unwrap();
    let hsm_init = script("hsm-initialisation");
    let ceremony = |name: &Path| {
        run(&[
            "ceremony",
            "run",
            name.to_str().unwrap(),
            "--answers",
            ans_s,
        ])
    };
    let o = ceremony(&script("root-key-generation"));
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains(&format!(
            "no token labelled \"keyrite\" in PKCS#11 module {}; present tokens: none \
             (uninitialised tokens in slots 7: initialise one first with the hsm-initialisation \
             ceremony or `keyrite hsm init`)",
            module().display()
        )),
        "{}",
        stderr(&o)
    );

    let o = keyrite_fds(
        &data,
        &[
            "--profile",
            p,
            "hsm",
            "init",
            "--label",
            "keyrite",
            "--so-pin-fd",
            "3",
            "--pin-fd",
            "4",
        ],
        &env,
        &[(3, &format!("{FIRST_SO}\n")), (4, &format!("{USER_PIN}\n"))],
        "",
    );
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("Manufacturer: Kryoptic Project"),
        "{}",
        stdout(&o)
    );
    let serial = stdout(&o)
        .split("(serial ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .unwrap()
        .to_string();
    let rejected = format!(
        "the current SO PIN of token \"keyrite\" (serial {serial}) was rejected: \
         CKR_PIN_INCORRECT (the PIN is wrong); the token does not report how many tries are \
         left; nothing was changed"
    );

    // A wrong current SO PIN, to `hsm init --force` and to the hsm-initialisation ceremony
    // (asked apart from the new PINs): refused by one SO login before anything changes.
    let journaled = events(&data);
    let o = keyrite_fds(
        &data,
        &[
            "--profile",
            p,
            "hsm",
            "init",
            "--label",
            "keyrite",
            "--force",
            "--yes",
            "--current-so-pin-fd",
            "5",
            "--so-pin-fd",
            "3",
            "--pin-fd",
            "4",
        ],
        &env,
        &[
            (3, &format!("{SO_PIN}\n")),
            (4, &format!("{USER_PIN}\n")),
            (5, "so-wrong-99120\n"),
        ],
        "",
    );
    assert!(!o.status.success());
    assert_eq!(stderr(&o), format!("keyrite: error: {rejected}\n"));
    assert_eq!(events(&data), journaled);
    let init_ans = t.scratch("init-answers.toml");
    let with_current = |current: &str| {
        let text = std::fs::read_to_string(&ans).unwrap();
        std::fs::write(&init_ans, format!("current_so_pin = \"{current}\"\n{text}")).unwrap();
        run(&[
            "ceremony",
            "run",
            hsm_init.to_str().unwrap(),
            "--answers",
            init_ans.to_str().unwrap(),
        ])
    };
    let o = with_current("so-wrong-99120");
    assert!(!o.status.success());
    assert_eq!(
        stderr(&o),
        format!(
            "keyrite: error: the answer does not fit: answers file {}: current_so_pin: \
             {rejected}; an unattended run never sends a rejected PIN again: correct \
             current_so_pin (absent: so_pin) in the file and run the ceremony again (it \
             resumes)\n",
            init_ans.display()
        )
    );
    assert!(!events(&data)
        .iter()
        .any(|e| matches!(e, Event::HsmTokenInitialised { .. }) && !journaled.contains(e)));
    // The right one: the token is re-initialised and takes the answers file's new SO PIN,
    // which the next ceremonies use.
    let o = with_current(FIRST_SO);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    verify_first_page(&data, &run, "hsm-initialisation");

    for name in ["root-key-generation", "key-generation-and-backup"] {
        let o = ceremony(&script(name));
        assert!(o.status.success(), "{name}: {}{}", stdout(&o), stderr(&o));
        verify_first_page(&data, &run, name);
    }
}

/// The ceremony's record verifies against the journal and its first page states the weaker
/// key protection and the vendor quirks in force.
fn verify_first_page(data: &Path, run: &dyn Fn(&[&str]) -> Output, name: &str) {
    let record = record_of(data, name);
    let v = run(&[
        "record",
        "verify",
        record.to_str().unwrap(),
        "--journal",
        data.join("journal.sqlite").to_str().unwrap(),
    ]);
    assert!(v.status.success(), "{name}: {}{}", stdout(&v), stderr(&v));
    let page = first_page(&record)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        page.contains("WEAKER KEY PROTECTION (keys"),
        "{name}: {page}"
    );
    assert!(
        page.contains("Vendor quirks: built-in SHA-256"),
        "{name}: {page}"
    );
}

/// Labels of the keys on the Kryoptic token (`keyrite hsm keys --json`), sorted.
fn labels(data: &Path, p: &str, env: &[(&str, &str)]) -> Vec<String> {
    let o = keyrite_fds(
        data,
        &["--profile", p, "hsm", "keys", "--json", "--pin-fd", "3"],
        env,
        &[(3, &format!("{USER_PIN}\n"))],
        "",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let mut l: Vec<String> = v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| k["label"].as_str().map(str::to_string))
        .collect();
    l.sort();
    l.dedup();
    l
}

/// A root KEK rotation on Kryoptic under a 3-of-5 YubiKey quorum (virtual cards: pcscd, so
/// serial with the other card tests), with the weaker policy: every backup is rewrapped under
/// the new KEK, the records verify against the journal and state the weaker protection; then
/// the signing key, lost from the token, is restored from its rewrapped backup.
#[test]
#[serial(kryoptic, piv)]
fn root_kek_rotation_on_kryoptic_then_restore_under_the_new_kek() {
    let mut h = Harness::start();
    let t = TempData::new();
    let data = t.path();
    let (conf, profile) = kryoptic_site(&t, 9);
    let p = profile.to_str().unwrap();
    let env = [("KRYOPTIC_CONF", conf.to_str().unwrap())];
    let run = |args: &[&str]| {
        let mut all = vec!["--profile", p];
        all.extend_from_slice(args);
        keyrite_with_env(&data, &all, &env)
    };
    let o = keyrite_fds(
        &data,
        &[
            "--profile",
            p,
            "hsm",
            "init",
            "--label",
            "keyrite",
            "--so-pin-fd",
            "3",
            "--pin-fd",
            "4",
        ],
        &env,
        &[(3, &format!("{SO_PIN}\n")), (4, &format!("{USER_PIN}\n"))],
        "",
    );
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let dir = t.tmp.path();
    let base = answers(dir);
    for name in [
        "hsm-initialisation",
        "root-key-generation",
        "key-generation-and-backup",
    ] {
        let o = run(&[
            "ceremony",
            "run",
            script(name).to_str().unwrap(),
            "--answers",
            base.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{name}: {}{}", stdout(&o), stderr(&o));
    }
    let ans = quorum_answers(dir, "enrol", &[], &[], &[]);
    let r = run_with_cards_on(
        &t,
        &mut h,
        &script("custodian-enrolment"),
        &ans,
        &["--profile", p],
        &env,
    );
    assert_eq!(r.code, Some(0), "{}{}", r.stdout, r.stderr);

    let before = labels(&data, p, &env);
    assert!(
        before.contains(&"keyrite-root-kek".to_string()),
        "{before:?}"
    );
    let ans = quorum_answers(
        dir,
        "rotate",
        &[("rotate-key", "keyrite-root-kek")],
        &[("rotate-key", &["C One", "C Three", "C Five"])],
        &[],
    );
    let r = run_with_cards_on(
        &t,
        &mut h,
        &script("key-rotation"),
        &ans,
        &["--profile", p],
        &env,
    );
    assert_eq!(r.code, Some(0), "{}{}", r.stdout, r.stderr);
    let after = labels(&data, p, &env);
    assert!(
        after.contains(&"keyrite-root-kek-r2".to_string()),
        "{after:?}"
    );
    assert!(
        !after.contains(&"keyrite-root-kek".to_string()),
        "{after:?}"
    );
    verify_first_page(&data, &run, "key-rotation");
    let v = verify_record_against_journal(&data, &record_of(&data, "key-rotation"));
    assert!(v.status.success(), "{}{}", stdout(&v), stderr(&v));

    // The signing key's backup, rewrapped under the new KEK by the rotation.
    let rewrapped: Vec<PathBuf> = std::fs::read_dir(data.join("backups"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            std::fs::read_to_string(p)
                .ok()
                .and_then(|text| KeyBackup::decode(&p.display().to_string(), &text).ok())
                .is_some_and(|b| {
                    b.wrapping_key_label == "keyrite-root-kek-r2"
                        && b.label == "keyrite-signing-key"
                })
        })
        .collect();
    assert_eq!(rewrapped.len(), 1, "{rewrapped:?}");

    // The key is lost from the token (deleted outside Keyrite), then restored from that backup
    // under the new KEK, read back under the weaker policy.
    for kind in ["privkey", "pubkey"] {
        let o = Command::new("pkcs11-tool")
            .arg("--module")
            .arg(module())
            .args([
                "--login",
                "--pin",
                USER_PIN,
                "--delete-object",
                "--type",
                kind,
            ])
            .args(["--label", "keyrite-signing-key"])
            .env("KRYOPTIC_CONF", &conf)
            .output()
            .unwrap();
        assert!(o.status.success(), "{kind}: {}", stderr(&o));
    }
    assert!(!labels(&data, p, &env).contains(&"keyrite-signing-key".to_string()));
    let o = keyrite_fds(
        &data,
        &[
            "--profile",
            p,
            "hsm",
            "restore",
            "--in",
            rewrapped[0].to_str().unwrap(),
            "--json",
            "--pin-fd",
            "3",
        ],
        &env,
        &[(3, &format!("{USER_PIN}\n"))],
        "",
    );
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["key"]["label"], "keyrite-signing-key", "{v}");
    assert!(labels(&data, p, &env).contains(&"keyrite-signing-key".to_string()));
    let j = run(&["journal", "verify"]);
    assert!(j.status.success(), "{}{}", stdout(&j), stderr(&j));
}
