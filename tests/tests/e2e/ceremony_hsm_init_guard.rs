//! No destructive action outside a quorum ceremony: a token holding keys the inventory knows
//! as live is not re-initialised — not by the hsm-initialisation ceremony run again, not by
//! `keyrite hsm init --force`. The refusal names the token and the keys, comes before any
//! PKCS#11 change, is journaled as the step's exception, and exits non-zero.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_core::journal::Event;
use keyrite_testkit::ceremony::events;
use keyrite_testkit::ceremony::{answers, script, SO_PIN, USER_PIN};
use keyrite_testkit::hsm::{keyrite_fds, rehearsal_serial};
use keyrite_testkit::{keyrite, stderr, stdout, TempData};
use serial_test::serial;
use std::path::Path;

fn run(data: &Path, ans: &Path, name: &str) -> std::process::Output {
    keyrite_testkit::ceremony::run_answered(data, &script(name), ans)
}

fn token_keys(data: &Path) -> String {
    let o = keyrite_fds(
        data,
        &["hsm", "keys", "--json", "--pin-fd", "3"],
        &[],
        &[(3, USER_PIN)],
        "",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o)
}

fn inventory(data: &Path) -> String {
    let o = keyrite(data, &["inventory", "list", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o)
}

/// The refusal, as both the ceremony and `keyrite hsm init` give it.
fn refusal(serial: &str) -> String {
    format!(
        "refusing to re-initialise token \"keyrite-rehearsal\" (serial {serial}): it holds keys \
         the inventory knows as live: \"keyrite-record-signing\" (key id keyrite-record-signing, \
         active), \"keyrite-root-kek\" (key id keyrite-root-kek, active); re-initialising would \
         erase them, and keys are destroyed only by the key-destruction ceremony \
         (ceremony-scripts/key-destruction.toml: K custodians approve, the destruction is \
         journaled with proof)"
    )
}

#[test]
#[serial(softhsm)]
fn initialising_a_token_with_live_keys_again_is_refused() {
    let t = TempData::new();
    let data = t.path();
    let ans = answers(t.tmp.path());
    for name in ["hsm-initialisation", "root-key-generation"] {
        let o = run(&data, &ans, name);
        assert!(o.status.success(), "{name}: {}{}", stdout(&o), stderr(&o));
    }
    let serial = rehearsal_serial(&data);
    let keys = token_keys(&data);
    assert!(keys.contains("keyrite-root-kek"), "{keys}");
    let inv = inventory(&data);
    let size = events(&data).len();

    // The ceremony again: the step is refused before the new PINs are asked.
    let o = run(&data, &ans, "hsm-initialisation");
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&format!("happened: {})\n", refusal(&serial))),
        "{err}"
    );
    assert!(
        !stdout(&o).contains("New SO and user PINs"),
        "{}",
        stdout(&o)
    );
    // Journaled as the step's exception, like every refusal of a step.
    let ev = events(&data);
    let opened: Vec<&String> = ev[size..]
        .iter()
        .filter_map(|e| match e {
            Event::ExceptionOpened {
                step, description, ..
            } if step == "initialise-token" => Some(description),
            _ => None,
        })
        .collect();
    assert_eq!(
        opened,
        [&format!(
            "expected: Initialise the HSM token (hsm-init) succeeds; happened: {}",
            refusal(&serial)
        )]
    );
    assert!(!ev[size..].iter().any(|e| matches!(
        e,
        Event::ActionIntent { .. } | Event::HsmTokenInitialised { .. }
    )));
    assert_eq!(token_keys(&data), keys, "the token's keys are unchanged");
    assert_eq!(inventory(&data), inv, "the inventory is unchanged");
    let v = keyrite(&data, &["journal", "verify"]);
    assert!(v.status.success(), "{}", stderr(&v));

    // `keyrite hsm init --force` obeys the same rule, with the same words.
    let size = events(&data).len();
    let o = keyrite_fds(
        &data,
        &[
            "hsm",
            "init",
            "--label",
            "again",
            "--force",
            "--yes",
            "--token-label",
            "keyrite-rehearsal",
            "--current-so-pin-fd",
            "3",
            "--so-pin-fd",
            "4",
            "--pin-fd",
            "5",
        ],
        &[],
        &[(3, SO_PIN), (4, "so-New-63399"), (5, "us-New-63399")],
        "",
    );
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(
        stderr(&o),
        format!(
            "keyrite: error: keyrite hsm init refused: {}; nothing was changed\n",
            refusal(&serial)
        )
    );
    assert_eq!(
        events(&data).len(),
        size,
        "nothing journaled for a refused check"
    );
    assert_eq!(token_keys(&data), keys);
    assert_eq!(inventory(&data), inv);
}

/// A fresh HSM (a module whose only token is uninitialised, as delivered) is initialised by the
/// hsm-initialisation ceremony itself (a SoftHSM2 store of the test's own); a profile that
/// selects the token under another label than the one the script sets is refused before
/// anything changes.
#[test]
#[serial(softhsm)]
fn the_hsm_initialisation_ceremony_starts_on_a_fresh_module() {
    let t = TempData::new();
    let data = t.path();
    let conf = keyrite_testkit::hsm::softhsm_store(t.tmp.path());
    let tokens = t.scratch("tokens");
    let profile = |label: &str| {
        let p = t.scratch(&format!("site-{label}.toml"));
        std::fs::write(
            &p,
            format!(
                "version = 1\n[site]\nname = \"SoftHSM2 lab\"\nmode = \"rehearsal\"\n[hsm]\n\
                 module = \"/usr/lib/softhsm/libsofthsm2.so\"\ntoken_label = \"{label}\"\n"
            ),
        )
        .unwrap();
        p
    };
    let ans = answers(t.tmp.path());
    let env = [("SOFTHSM2_CONF", conf.to_str().unwrap())];
    let run_with = |prof: &Path, name: &str| {
        keyrite_testkit::keyrite_with_env(
            &data,
            &[
                "--profile",
                prof.to_str().unwrap(),
                "ceremony",
                "run",
                script(name).to_str().unwrap(),
                "--answers",
                ans.to_str().unwrap(),
            ],
            &env,
        )
    };

    // The script sets "keyrite"; a profile selecting "vault-a" would lose the token after
    // initialisation: refused, nothing journaled, the store still empty.
    let o = run_with(&profile("vault-a"), "hsm-initialisation");
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert_eq!(
        stderr(&o),
        format!(
            "keyrite: error: step \"initialise-token\" of {} initialises the token as \
             \"keyrite\", but the site profile selects the token labelled \"vault-a\", so the \
             steps after it would not find the token; nothing was changed\n",
            script("hsm-initialisation").display()
        )
    );
    assert!(events(&data).is_empty(), "nothing journaled");
    assert_eq!(
        std::fs::read_dir(&tokens).unwrap().count(),
        0,
        "no token made"
    );

    // With the labels agreeing, the ceremony initialises the fresh token and completes.
    let o = run_with(&profile("keyrite"), "hsm-initialisation");
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(
        events(&data)
            .iter()
            .any(|e| matches!(e, Event::HsmTokenInitialised { .. })),
        "the token initialisation is journaled"
    );
    let v = keyrite_testkit::ceremony::verify_record_against_journal(
        &data,
        &keyrite_testkit::ceremony::record_of(&data, "hsm-initialisation"),
    );
    assert!(v.status.success(), "{}{}", stdout(&v), stderr(&v));
}
