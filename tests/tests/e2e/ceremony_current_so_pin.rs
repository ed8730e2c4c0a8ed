//! The current SO PIN of a token being (re)initialised is asked apart from the new ones, and
//! tried by one SO login before anything changes: by the hsm-initialisation ceremony in
//! rehearsal on a module other than the embedded rehearsal token (here SoftHSM2 with its own
//! token directory; Kryoptic in `cli_kryoptic`, openCryptoki in `cli_opencryptoki`), and by
//! `keyrite hsm init --force`. A wrong one changes nothing: no initialisation journaled, the
//! token's PINs and objects as they were.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_core::journal::Event;
use keyrite_testkit::ceremony::{events, record_of, script, verify_record_against_journal};
use keyrite_testkit::hsm::keyrite_fds;
use keyrite_testkit::{keyrite_with_env, stderr, stdout, TempData};
use std::path::Path;
use std::process::Output;

const OLD_SO: &str = "so-Old-48151";
const NEW_SO: &str = "so-New-42108";
const OLD_USER: &str = "us-Old-48151";
const NEW_USER: &str = "us-New-42108";
const WRONG: &str = "so-Wrong-1623";

fn answers(path: &Path, current: &str) {
    std::fs::write(
        path,
        format!(
            "current_so_pin = \"{current}\"\nso_pin = \"{NEW_SO}\"\nuser_pin = \"{NEW_USER}\"\n\
             [participants]\nadministrator = [\"Ada Admin\"]\nwitness = [\"Wes Witness\"]\n\
             auditor = [\"Aud Auditor\"]\n[clock]\nreference = \"test clock\"\noffset_seconds = 0\n"
        ),
    )
    .unwrap();
}

fn initialised(ev: &[Event]) -> usize {
    ev.iter()
        .filter(|e| matches!(e, Event::HsmTokenInitialised { .. }))
        .count()
}

#[test]
fn a_rehearsal_on_softhsm2_asks_the_current_so_pin_apart_from_the_new_ones() {
    let t = TempData::new();
    let data = t.path();
    let conf = keyrite_testkit::hsm::softhsm_store(t.tmp.path());
    let prof = t.scratch("site.toml");
    std::fs::write(
        &prof,
        "version = 1\n[site]\nname = \"SoftHSM2 lab\"\nmode = \"rehearsal\"\n[hsm]\n\
         module = \"/usr/lib/softhsm/libsofthsm2.so\"\ntoken_label = \"keyrite\"\n",
    )
    .unwrap();
    let p = prof.to_str().unwrap();
    let env = [("SOFTHSM2_CONF", conf.to_str().unwrap())];
    let fds = |args: &[&str], pins: &[(i32, &str)]| -> Output {
        let mut all = vec!["--profile", p];
        all.extend_from_slice(args);
        let lines: Vec<(i32, String)> = pins.iter().map(|(f, s)| (*f, format!("{s}\n"))).collect();
        let refs: Vec<(i32, &str)> = lines.iter().map(|(f, s)| (*f, s.as_str())).collect();
        keyrite_fds(&data, &all, &env, &refs, "")
    };
    let keys = |pin: &str| fds(&["hsm", "keys", "--pin-fd", "3"], &[(3, pin)]);

    let o = fds(
        &[
            "hsm",
            "init",
            "--label",
            "keyrite",
            "--so-pin-fd",
            "3",
            "--pin-fd",
            "4",
        ],
        &[(3, OLD_SO), (4, OLD_USER)],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let serial = stdout(&o)
        .split("(serial ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .unwrap()
        .to_string();
    let token = format!("token \"keyrite\" (serial {serial})");
    let rejected = format!(
        "the current SO PIN of {token} was rejected: CKR_PIN_INCORRECT (the PIN is wrong); the \
         token does not say how many tries are left (it reports CKF_SO_PIN_COUNT_LOW: a wrong \
         PIN was given since the last good one); nothing was changed"
    );

    // `hsm init --force` with a wrong current SO PIN: refused before it is journaled.
    let before = events(&data);
    let o = fds(
        &[
            "hsm",
            "init",
            "--label",
            "again",
            "--force",
            "--yes",
            "--current-so-pin-fd",
            "5",
            "--so-pin-fd",
            "3",
            "--pin-fd",
            "4",
        ],
        &[(3, NEW_SO), (4, NEW_USER), (5, WRONG)],
    );
    assert!(!o.status.success());
    assert_eq!(stderr(&o), format!("keyrite: error: {rejected}\n"));
    assert_eq!(events(&data), before, "nothing journaled");
    assert!(stdout(&keys(OLD_USER)).contains("Keys:  0\n"));

    // The ceremony asks the current SO PIN (distinct prompt, never printed) before the new
    // ones; the answers file's wrong one stops the run and nothing is initialised.
    let ans = t.scratch("answers.toml");
    answers(&ans, WRONG);
    let run = || {
        keyrite_with_env(
            &data,
            &[
                "--profile",
                p,
                "ceremony",
                "run",
                script("hsm-initialisation").to_str().unwrap(),
                "--answers",
                ans.to_str().unwrap(),
            ],
            &env,
        )
    };
    let o = run();
    assert!(!o.status.success());
    assert_eq!(
        stderr(&o),
        format!(
            "keyrite: error: the answer does not fit: answers file {}: current_so_pin: \
             {rejected}; an unattended run never sends a rejected PIN again: correct \
             current_so_pin (absent: so_pin) in the file and run the ceremony again (it \
             resumes)\n",
            ans.display()
        )
    );
    let out = stdout(&o);
    assert!(
        out.contains(&format!(
            "The current SO PIN of {token} is needed to initialise it (the new PINs come \
             next).\n{rejected}: the rejected PIN was dropped.\n"
        )),
        "{out}"
    );
    assert!(!out.contains("New SO and user PINs"), "{out}");
    for secret in [WRONG, OLD_SO, NEW_SO, NEW_USER] {
        assert!(!out.contains(secret) && !stderr(&o).contains(secret));
    }
    assert_eq!(initialised(&events(&data)), initialised(&before));
    assert!(stdout(&keys(OLD_USER)).contains("Keys:  0\n"));

    // The right current SO PIN: the run resumes, initialises with the new PINs, completes.
    answers(&ans, OLD_SO);
    let o = run();
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(initialised(&events(&data)), initialised(&before) + 1);
    let k = keys(NEW_USER);
    assert!(k.status.success(), "{}", stderr(&k));
    assert!(!keys(OLD_USER).status.success(), "the old user PIN is gone");
    let record = record_of(&data, "hsm-initialisation");
    let v = verify_record_against_journal(&data, &record);
    assert!(v.status.success(), "{}{}", stdout(&v), stderr(&v));
    // The new SO PIN is the SO PIN now, the old one no longer (softhsm2-util re-initialises
    // only with the right one; the last thing done to this token).
    let reinit = |so: &str| {
        std::process::Command::new("softhsm2-util")
            .args(["--init-token", "--token", "keyrite", "--label", "keyrite"])
            .args(["--so-pin", so, "--pin", "us-Fourth-5521"])
            .env("SOFTHSM2_CONF", &conf)
            .output()
            .unwrap()
            .status
            .success()
    };
    assert!(!reinit(OLD_SO), "the old SO PIN no longer works");
    assert!(reinit(NEW_SO), "the new SO PIN works");
}
