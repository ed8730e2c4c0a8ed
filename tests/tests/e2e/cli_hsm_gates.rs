//! Every change to a token goes through the core's journaled operations (issue 14, items 3–5):
//! production refuses `keyrite hsm init|generate|backup|restore|destroy` in the core; rehearsal
//! journals them and keeps the inventory; names that could leave their directory are refused;
//! outputs never follow a link; `hsm init` initialises the token the profile pins, with the
//! current and the new SO PIN kept apart. Real binary, real SoftHSM2.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_core::inventory::{self, KeyState};
use keyrite_core::journal::Journal;
use keyrite_core::store::StoreOptions;
use keyrite_testkit::ceremony::{answers, script};
use keyrite_testkit::hsm::{import_root_kek, keyrite_fds, rehearsal_serial};
use keyrite_testkit::{keyrite, keyrite_with_env, stderr, stdout, TempData};
use serde_json::Value;
use serial_test::serial;
use std::path::Path;

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        stdout(out),
        stderr(out)
    );
    stdout(out)
}

fn refused(out: &std::process::Output) -> String {
    assert_eq!(out.status.code(), Some(1), "stdout: {}", stdout(out));
    stderr(out)
}

fn json(out: &std::process::Output) -> Value {
    serde_json::from_str(&ok(out)).expect("JSON on stdout")
}

/// The journal's events, as `(type, ceremony_id or key_id)` pairs, in order.
fn events(data: &Path) -> Vec<(String, String)> {
    let db = data.join("journal.sqlite");
    if !db.exists() {
        return Vec::new();
    }
    let j = Journal::open_read_only(&db, &StoreOptions::default()).expect("journal");
    let size = j.head().size;
    let mut out = Vec::new();
    if size > 0 {
        j.for_each_entry(0, size - 1, |e| {
            let v = e.body_json()?;
            let ev = &v["event"];
            let who = ev["ceremony_id"]
                .as_str()
                .or(ev["key_id"].as_str())
                .unwrap_or("")
                .to_string();
            out.push((ev["type"].as_str().unwrap_or("").to_string(), who));
            Ok(())
        })
        .expect("read journal");
    }
    out
}

fn key_state(data: &Path, key_id: &str) -> Option<KeyState> {
    let j = Journal::open_read_only(&data.join("journal.sqlite"), &StoreOptions::default())
        .expect("journal");
    inventory::get(j.store(), key_id)
        .expect("inventory")
        .map(|r| r.state)
}

fn labels(data: &Path) -> Vec<String> {
    let v = json(&keyrite(
        data,
        &["hsm", "keys", "--json", "--rehearsal-pins"],
    ));
    v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["label"].as_str().unwrap().to_string())
        .collect()
}

fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd {
            let p = e.unwrap().path();
            out.push(p.display().to_string());
            if p.is_dir() && !p.is_symlink() {
                out.extend(tree(&p));
            }
        }
    }
    out.sort();
    out
}

#[test]
#[serial(softhsm)]
fn production_refuses_every_token_change_in_the_core_before_any_pin() {
    let d = TempData::new();
    let rehearsal = d.path();
    let serial = rehearsal_serial(&rehearsal);
    let conf = rehearsal.join("softhsm/softhsm2.conf");
    let module = keyrite_core::hsm::rehearsal::softhsm_module_path().unwrap();
    let profile = d.scratch("prod.toml");
    std::fs::write(
        &profile,
        format!(
            "version = 1\n[site]\nname = \"Vault\"\nmode = \"production\"\n[hsm]\nmodule = \
             \"{}\"\ntoken_label = \"keyrite-rehearsal\"\n[hsm.expect]\nmanufacturer = \
             \"SoftHSM project\"\nmodel = \"SoftHSM v2\"\nserial = \"{serial}\"\n",
            module.display()
        ),
    )
    .unwrap();
    let backup = d.scratch("k.krbak");
    std::fs::write(&backup, "not read: production refuses first\n").unwrap();
    let prod_data = d.scratch("prod-data");
    let env = [("SOFTHSM2_CONF", conf.to_str().unwrap())];
    let p = profile.to_str().unwrap();
    let b = backup.to_str().unwrap();
    let tokens_before = tree(&rehearsal.join("softhsm/tokens"));
    let cases: [(&[&str], &str); 5] = [
        (
            &["hsm", "init", "--label", "x", "--force"],
            "keyrite hsm init is refused in production: a token is initialised only by the \
             hsm-initialisation ceremony, which checks the pinned identity before and after; \
             run ceremony-scripts/hsm-initialisation.toml; nothing was changed",
        ),
        (
            &[
                "hsm",
                "generate",
                "--policy",
                "ec-p256-sign",
                "--label",
                "k",
            ],
            "keyrite hsm generate is refused in production: a key is generated only by a \
             ceremony (key-generation-and-backup, or root-key-generation for the root KEK and \
             record-signing key), with witnesses' sign-off; run \
             ceremony-scripts/key-generation-and-backup.toml; nothing was changed",
        ),
        (
            &[
                "hsm",
                "backup",
                "--label",
                "k",
                "--kek-label",
                "kek",
                "--out",
                "/tmp/x",
            ],
            "keyrite hsm backup is refused in production: a key is backed up only by a \
             ceremony's backup step (key-generation-and-backup), which records the backup in \
             the inventory; run ceremony-scripts/key-generation-and-backup.toml; nothing was \
             changed",
        ),
        (
            &["hsm", "restore", "--in", b],
            "keyrite hsm restore is refused in production: keys are restored only by the \
             root-key-recovery ceremony, with K custodians' shares; run \
             ceremony-scripts/root-key-recovery.toml; nothing was changed",
        ),
        (
            &["hsm", "destroy", "--label", "k"],
            "keyrite hsm destroy is refused in production: a key is destroyed only by the \
             key-destruction ceremony, with K custodians' approval; run \
             ceremony-scripts/key-destruction.toml; nothing was changed",
        ),
    ];
    for (args, why) in cases {
        let mut full = vec!["--profile", p];
        full.extend_from_slice(args);
        let out = keyrite_with_env(&prod_data, &full, &env);
        assert_eq!(
            refused(&out),
            format!("keyrite: error: {why}\n"),
            "{args:?}"
        );
    }
    assert!(
        !prod_data.join("journal.sqlite").exists(),
        "nothing was journaled"
    );
    assert_eq!(
        tree(&rehearsal.join("softhsm/tokens")),
        tokens_before,
        "the token's files are as they were"
    );
    // Reading stays available in production (it stops here only at the software token).
    let out = keyrite_with_env(&prod_data, &["--profile", p, "hsm", "info"], &env);
    assert!(ok(&out).contains("Mode:   production\n"));
    // … and says, in the core's words (the desktop's HSM panel shows the same sentence), that
    // ceremonies would refuse the profile's token.
    let verdict = ok(&out)
        .lines()
        .find_map(|l| l.strip_prefix("Profile's token: "))
        .map(str::to_string);
    let verdict = verdict.unwrap_or_else(|| panic!("{}", ok(&out)));
    assert!(
        verdict.starts_with("Slot ")
            && verdict.contains(": HSM identity check refused token ")
            && verdict.ends_with(
                "it is a software token (SoftHSM project SoftHSM v2) whose keys live in host \
                 files; production needs a hardware HSM; no operation was performed."
            ),
        "{verdict}"
    );
    let json = keyrite_with_env(&prod_data, &["--profile", p, "hsm", "info", "--json"], &env);
    let json: serde_json::Value = serde_json::from_str(&ok(&json)).unwrap();
    assert_eq!(json["profile_token"]["verdict"], "refused");
    assert_eq!(json["profile_token"]["text"], verdict.as_str());
}

#[test]
#[serial(softhsm)]
fn rehearsal_changes_are_journaled_operations_with_inventory() {
    let d = TempData::new();
    let data = d.path();
    import_root_kek(&data, "root-kek");
    let before = events(&data).len();
    ok(&keyrite(
        &data,
        &[
            "hsm",
            "generate",
            "--policy",
            "ec-p256-sign",
            "--label",
            "sig-1",
            "--rehearsal-pins",
        ],
    ));
    let ev = events(&data);
    let new: Vec<&str> = ev[before..].iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        new,
        [
            "action_intent",
            "key_generated",
            "key_registered",
            "inventory_state_changed",
            "action_done"
        ]
    );
    let op = &ev[before].1;
    assert!(op.starts_with("hsm-generate-"), "{op}");
    assert_eq!(
        &ev[ev.len() - 1].1,
        op,
        "intent and done name one operation"
    );
    assert_eq!(key_state(&data, "sig-1"), Some(KeyState::Active));

    let out = d.scratch("sig-1.krbak");
    ok(&keyrite(
        &data,
        &[
            "hsm",
            "backup",
            "--label",
            "sig-1",
            "--kek-label",
            "root-kek",
            "--out",
            out.to_str().unwrap(),
            "--rehearsal-pins",
        ],
    ));
    let n = events(&data).len();
    let ev = events(&data);
    assert_eq!(
        ev[n - 3..]
            .iter()
            .map(|(t, _)| t.as_str())
            .collect::<Vec<_>>(),
        ["action_intent", "backup_made", "action_done"]
    );

    let p = json(&keyrite(
        &data,
        &[
            "hsm",
            "destroy",
            "--label",
            "sig-1",
            "--confirm",
            "sig-1",
            "--json",
            "--rehearsal-pins",
        ],
    ));
    assert_eq!(p["proof"]["remaining_with_label"], 0);
    let ev = events(&data);
    let tail: Vec<&str> = ev[n..].iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        tail,
        [
            "action_intent",
            "key_destroyed",
            "inventory_state_changed",
            "action_done"
        ]
    );
    assert_eq!(key_state(&data, "sig-1"), Some(KeyState::Destroyed));
    ok(&keyrite(&data, &["journal", "verify"]));
}

#[test]
#[serial(softhsm)]
fn bad_names_and_unrecorded_keys_are_refused_and_nothing_changes() {
    let d = TempData::new();
    let data = d.path();
    import_root_kek(&data, "root-kek");
    let journal_before = events(&data);
    let keys_before = labels(&data);
    let out = keyrite(
        &data,
        &[
            "hsm",
            "generate",
            "--policy",
            "ec-p256-sign",
            "--label",
            "../../elsewhere",
            "--rehearsal-pins",
        ],
    );
    assert_eq!(
        refused(&out),
        "keyrite: error: keyrite hsm generate refused: key label \"../../elsewhere\" contains \
         the dot segment \"..\"; a name must not lead out of its directory; nothing was changed\n"
    );
    // The root KEK was made outside the inventory (the fixture imports it directly): the
    // core cannot check its dependants, so it will not destroy it.
    let out = keyrite(
        &data,
        &[
            "hsm",
            "destroy",
            "--label",
            "root-kek",
            "--confirm",
            "root-kek",
            "--rehearsal-pins",
        ],
    );
    let serial = rehearsal_serial(&data);
    assert_eq!(
        refused(&out),
        format!(
            "keyrite: error: keyrite hsm destroy refused: key \"root-kek\" on token \
             \"keyrite-rehearsal\" (serial {serial}) is not in the inventory, so its dependants \
             cannot be checked; only keys Keyrite recorded are destroyed; nothing was changed\n"
        )
    );
    // A backup file that is a link (here dangling, to outside) is not written through.
    ok(&keyrite(
        &data,
        &[
            "hsm",
            "generate",
            "--policy",
            "ec-p256-sign",
            "--label",
            "k",
            "--rehearsal-pins",
        ],
    ));
    let journal_mid = events(&data);
    let outside = d.scratch("outside.krbak");
    let link = d.scratch("k.krbak");
    std::os::unix::fs::symlink(&outside, &link).unwrap();
    let out = keyrite(
        &data,
        &[
            "hsm",
            "backup",
            "--label",
            "k",
            "--kek-label",
            "root-kek",
            "--out",
            link.to_str().unwrap(),
            "--rehearsal-pins",
        ],
    );
    assert_eq!(
        refused(&out),
        format!(
            "keyrite: error: cannot write backup: {} already exists; Keyrite never overwrites a \
             file: move it aside or choose another name\n",
            link.display()
        )
    );
    assert!(!outside.exists(), "nothing written through the link");
    assert_eq!(events(&data), journal_mid, "the refusal journaled nothing");
    assert_eq!(journal_mid.len(), journal_before.len() + 5);
    let mut want = keys_before.clone();
    want.push("k".into());
    let mut got = labels(&data);
    got.sort();
    want.sort();
    assert_eq!(got, want, "only k was added");
}

#[test]
#[serial(softhsm)]
fn ceremony_backup_into_a_linked_backups_directory_is_refused_and_nothing_lands_outside() {
    let d = TempData::new();
    let data = d.path();
    let ans = answers(d.tmp.path());
    // The token's PINs come from the initialisation ceremony, as on a real site.
    let init = keyrite(
        &data,
        &[
            "ceremony",
            "run",
            script("hsm-initialisation").to_str().unwrap(),
            "--answers",
            ans.to_str().unwrap(),
        ],
    );
    assert!(init.status.success(), "{}{}", stdout(&init), stderr(&init));
    let outside = d.scratch("elsewhere");
    std::fs::create_dir(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, data.join("backups")).unwrap();
    let o = keyrite(
        &data,
        &[
            "ceremony",
            "run",
            script("root-key-generation").to_str().unwrap(),
            "--answers",
            ans.to_str().unwrap(),
        ],
    );
    let all = format!("{}{}", stdout(&o), stderr(&o));
    assert!(!o.status.success(), "{all}");
    assert!(
        all.contains(&format!(
            "cannot write the output file: {} is a symbolic link (to {}); Keyrite writes only \
             inside {} and never follows a link out of it; replace the link by a real \
             directory; nothing was written",
            data.join("backups").display(),
            outside.display(),
            data.display()
        )),
        "{all}"
    );
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        0,
        "nothing was written outside the data directory"
    );
}

/// A SoftHSM2 configuration of its own with two initialised tokens ("one", "two").
fn two_tokens(d: &TempData) -> (std::path::PathBuf, String, String) {
    let conf = keyrite_testkit::hsm::softhsm_store(&d.scratch("two-tokens"));
    for (label, so, user) in [
        ("one", "so-One-41177", "us-One-41177"),
        ("two", "so-Two-52288", "us-Two-52288"),
    ] {
        let o = std::process::Command::new("softhsm2-util")
            .args([
                "--init-token",
                "--free",
                "--label",
                label,
                "--so-pin",
                so,
                "--pin",
                user,
            ])
            .env("SOFTHSM2_CONF", &conf)
            .output()
            .expect("softhsm2-util");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let info = |data: &Path| -> Vec<Value> {
        let profile = d.scratch("plain.toml");
        std::fs::write(
            &profile,
            format!(
                "version = 1\n[site]\nname = \"Lab\"\nmode = \"rehearsal\"\n[hsm]\nmodule = \
                 \"{}\"\n",
                keyrite_core::hsm::rehearsal::softhsm_module_path()
                    .unwrap()
                    .display()
            ),
        )
        .unwrap();
        json(&keyrite_with_env(
            data,
            &[
                "--profile",
                profile.to_str().unwrap(),
                "hsm",
                "info",
                "--json",
            ],
            &[("SOFTHSM2_CONF", conf.to_str().unwrap())],
        ))["tokens"]
            .as_array()
            .unwrap()
            .clone()
    };
    let tokens = info(&d.path());
    let serial = |l: &str| {
        tokens
            .iter()
            .find(|t| t["label"] == l)
            .unwrap_or_else(|| panic!("token {l} in {tokens:?}"))["serial"]
            .as_str()
            .unwrap()
            .to_string()
    };
    (conf, serial("one"), serial("two"))
}

fn token_labels(d: &TempData, conf: &Path) -> Vec<(String, String, bool)> {
    let profile = d.scratch("plain.toml");
    let v = json(&keyrite_with_env(
        &d.path(),
        &[
            "--profile",
            profile.to_str().unwrap(),
            "hsm",
            "info",
            "--json",
        ],
        &[("SOFTHSM2_CONF", conf.to_str().unwrap())],
    ));
    let mut out: Vec<(String, String, bool)> = v["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["serial"].as_str().unwrap().to_string(),
                t["label"].as_str().unwrap().to_string(),
                t["initialized"].as_bool().unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
#[serial(softhsm)]
fn init_initialises_the_pinned_token_of_two_and_keeps_current_and_new_so_pin_apart() {
    let d = TempData::new();
    let (conf, one, two) = two_tokens(&d);
    let env = [("SOFTHSM2_CONF", conf.to_str().unwrap())];
    let profile = d.scratch("pinned.toml");
    std::fs::write(
        &profile,
        format!(
            "version = 1\n[site]\nname = \"Lab\"\nmode = \"rehearsal\"\n[hsm]\nmodule = \"{}\"\n\
             token_serial = \"{two}\"\n[hsm.expect]\nmanufacturer = \"SoftHSM project\"\n\
             model = \"SoftHSM v2\"\nserial = \"{two}\"\n",
            keyrite_core::hsm::rehearsal::softhsm_module_path()
                .unwrap()
                .display()
        ),
    )
    .unwrap();
    let p = profile.to_str().unwrap();
    let data = d.path();
    let before = token_labels(&d, &conf);

    // Without --force: the pinned token is initialised already, so nothing is done (and the
    // free slot is not taken instead).
    let out = keyrite_fds(
        &data,
        &[
            "--profile",
            p,
            "hsm",
            "init",
            "--label",
            "fresh",
            "--so-pin-fd",
            "3",
            "--pin-fd",
            "4",
        ],
        &env,
        &[(3, "so-New-63399\n"), (4, "us-New-63399\n")],
        "",
    );
    assert_eq!(
        refused(&out),
        format!(
            "keyrite: error: HSM identity check refused token \"two\" (serial {two}): the token \
             the site profile pins is already initialised; re-initialising it erases every key \
             and needs --force; no operation was performed\n"
        )
    );
    assert_eq!(token_labels(&d, &conf), before);

    // --force: the current SO PIN opens C_InitToken, the new one is set afterwards.
    let out = keyrite_fds(
        &data,
        &[
            "--profile",
            p,
            "hsm",
            "init",
            "--label",
            "fresh",
            "--force",
            "--yes",
            "--current-so-pin-fd",
            "3",
            "--so-pin-fd",
            "4",
            "--pin-fd",
            "5",
        ],
        &env,
        &[
            (3, "so-Two-52288\n"),
            (4, "so-New-63399\n"),
            (5, "us-New-63399\n"),
        ],
        "",
    );
    let text = ok(&out);
    assert!(
        text.starts_with(&format!(
            "Initialised token \"fresh\" (serial {two}) in slot "
        )),
        "{text}"
    );
    let after = token_labels(&d, &conf);
    assert!(
        after.contains(&(one.clone(), "one".into(), true)),
        "{after:?}"
    );
    assert!(
        after.contains(&(two.clone(), "fresh".into(), true)),
        "{after:?}"
    );
    assert_eq!(after.len(), before.len(), "no other token appeared");
    assert_eq!(
        after.iter().filter(|t| !t.2).count(),
        before.iter().filter(|t| !t.2).count(),
        "the free slot was not used"
    );
    // The new user PIN opens the token; the new SO PIN is the SO PIN now (softhsm2-util
    // re-initialises only with the right one), the old one no longer is.
    let keys = keyrite_fds(
        &data,
        &["--profile", p, "hsm", "keys", "--pin-fd", "3"],
        &env,
        &[(3, "us-New-63399\n")],
        "",
    );
    assert!(ok(&keys).contains("Keys:  0\n"));
    let reinit = |so: &str| {
        std::process::Command::new("softhsm2-util")
            .args([
                "--init-token",
                "--token",
                "fresh",
                "--label",
                "fresh",
                "--so-pin",
                so,
                "--pin",
                "us-New-63399",
            ])
            .env("SOFTHSM2_CONF", &conf)
            .output()
            .expect("softhsm2-util")
            .status
            .success()
    };
    assert!(!reinit("so-Two-52288"), "the old SO PIN no longer works");
    assert!(reinit("so-New-63399"), "the new SO PIN works");
    let kinds: Vec<String> = events(&data).into_iter().map(|(t, _)| t).collect();
    assert_eq!(
        kinds,
        ["action_intent", "hsm_token_initialised", "action_done"],
        "only the forced init was journaled"
    );
}

#[test]
fn ceremony_validate_refuses_a_label_leading_out_with_its_location() {
    let d = TempData::new();
    let text = std::fs::read_to_string(script("key-generation-and-backup")).unwrap();
    let from = "label = \"keyrite-signing-key\" }";
    assert!(text.contains(from), "test bug: the shipped script changed");
    let bad = d.scratch("escape.toml");
    std::fs::write(
        &bad,
        text.replacen(from, "label = \"../../elsewhere\" }", 1),
    )
    .unwrap();
    let (line, col) = text
        .lines()
        .enumerate()
        .find_map(|(i, l)| l.find(from).map(|c| (i + 1, c + "label = ".len() + 1)))
        .unwrap();
    let out = keyrite(&d.path(), &["ceremony", "validate", bad.to_str().unwrap()]);
    let err = refused(&out);
    assert!(
        err.contains(&format!(
            "{}:{line}:{col}: steps[3].params.label: step \"generate-key\": parameter `label`: key \
             label \"../../elsewhere\" contains the dot segment \"..\"; a name must not lead out \
             of its directory\n",
            bad.display()
        )),
        "{err}"
    );
    assert!(!d.path().join("backups").exists());
}

/// A pinned identity cannot name a token that has no serial yet (SoftHSM2 and Kryoptic assign
/// it in `C_InitToken`): such an initialisation is refused before the token or the journal
/// changes, since the re-check after `C_InitToken` could only fail once the token was erased.
#[test]
#[serial(softhsm)]
fn init_refuses_a_pinned_token_that_reports_no_serial_before_anything_changes() {
    let d = TempData::new();
    let dir = d.scratch("fresh-store");
    let conf = keyrite_testkit::hsm::softhsm_store(&dir);
    let profile = d.scratch("blank-serial.toml");
    std::fs::write(
        &profile,
        format!(
            "version = 1\n[site]\nname = \"Lab\"\nmode = \"rehearsal\"\n[hsm]\nmodule = \"{}\"\n\
             [hsm.expect]\nmanufacturer = \"SoftHSM project\"\nmodel = \"SoftHSM v2\"\n\
             serial = \"\"\n",
            keyrite_core::hsm::rehearsal::softhsm_module_path()
                .unwrap()
                .display()
        ),
    )
    .unwrap();
    let data = d.path();
    let before = tree(&dir);
    let out = keyrite_fds(
        &data,
        &[
            "--profile",
            profile.to_str().unwrap(),
            "hsm",
            "init",
            "--label",
            "fresh",
            "--so-pin-fd",
            "3",
            "--pin-fd",
            "4",
        ],
        &[("SOFTHSM2_CONF", conf.to_str().unwrap())],
        &[(3, "so-New-63399\n"), (4, "us-New-63399\n")],
        "",
    );
    assert_eq!(
        refused(&out),
        "keyrite: error: HSM identity check refused the SoftHSM project SoftHSM v2 token in slot \
         0: it reports no serial number before initialisation (its module assigns one in \
         C_InitToken), so the identity the site profile pins cannot single it out nor be \
         re-checked afterwards; initialise it with the vendor's tool, then pin the serial it \
         reports; no operation was performed\n"
    );
    assert_eq!(tree(&dir), before, "the token store is unchanged");
    assert!(events(&data).is_empty(), "nothing was journaled");
}
