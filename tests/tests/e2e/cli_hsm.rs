//! `keyrite hsm` key commands end to end: the real binary on a fresh data directory and its
//! embedded SoftHSM2 token. Every refusal is checked by its exact message and exit code 1.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_testkit::hsm::{import_root_kek, keyrite_fds, rehearsal_pins, rehearsal_serial};
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

fn keys(data: &Path) -> Vec<Value> {
    json(&keyrite(
        data,
        &["hsm", "keys", "--json", "--rehearsal-pins"],
    ))["keys"]
        .as_array()
        .expect("keys")
        .clone()
}

fn key<'a>(keys: &'a [Value], label: &str) -> Option<&'a Value> {
    keys.iter().find(|k| k["label"] == label)
}

fn token(serial: &str) -> String {
    format!("token \"keyrite-rehearsal\" (serial {serial})")
}

#[test]
#[serial(softhsm)]
fn generate_list_backup_destroy_restore_list() {
    let d = TempData::new();
    let data = d.path();
    let kcv = import_root_kek(&data, "root-kek");
    let serial = rehearsal_serial(&data);

    let g = json(&keyrite(
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
    assert_eq!(g["key"]["label"], "sig-1");
    assert_eq!(g["key"]["policy"], "ec-p256-sign");
    assert_eq!(g["key"]["origin"], "generated");
    assert_eq!(g["key"]["token"], token(&serial));
    assert_eq!(g["login"]["before"]["count_low"], false);
    let spki = g["key"]["spki_sha256"].as_str().unwrap().to_string();
    assert_eq!(spki.len(), 64);

    // `keys` reads the key back on its own and finds the same attributes and fingerprint.
    let listed = keys(&data);
    let k = key(&listed, "sig-1").expect("sig-1 listed");
    assert_eq!(k["policies"], serde_json::json!(["ec-p256-sign"]));
    assert_eq!(k["origin"], "generated");
    assert_eq!(k["objects"], "key pair");
    assert_eq!(k["spki_sha256"], spki.as_str());
    assert_eq!(k["attributes"], g["key"]["attributes"]);
    assert_eq!(k["failures"], serde_json::json!([]));
    let row = |name: &str| {
        k["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["attribute"] == name)
            .unwrap()["actual"]
            .clone()
    };
    assert_eq!(row("CKA_SENSITIVE"), "true");
    assert_eq!(row("CKA_WRAP_WITH_TRUSTED"), "true");
    assert_eq!(row("CKA_LOCAL"), "true");
    let kek = key(&listed, "root-kek").expect("root KEK listed");
    assert_eq!(kek["policies"], serde_json::json!(["root-kek-import"]));
    assert_eq!(kek["kcv"]["value"], kcv.as_str());

    // Text form.
    let text = ok(&keyrite(&data, &["hsm", "keys", "--rehearsal-pins"]));
    assert!(
        text.contains(&format!("Token: {}\n", token(&serial))),
        "{text}"
    );
    assert!(text.contains("Keys:  2\n"), "{text}");
    assert!(
        text.contains("  Policy:  ec-p256-sign (generated in the HSM); every attribute checked\n"),
        "{text}"
    );

    // Backup, with the user PIN on an inherited descriptor this time.
    let (_, user_pin) = rehearsal_pins(&data);
    let file = d.scratch("sig-1.backup");
    let f = file.to_str().unwrap();
    let b = keyrite_fds(
        &data,
        &[
            "hsm",
            "backup",
            "--label",
            "sig-1",
            "--kek-label",
            "root-kek",
            "--out",
            f,
            "--pin-fd",
            "3",
        ],
        &[],
        &[(3, &format!("{user_pin}\n"))],
        "",
    );
    let btext = ok(&b);
    assert!(
        btext.contains(&format!(
            "  Wrapped under:   \"root-kek\" (key check value {kcv})\n"
        )),
        "{btext}"
    );
    let backup = std::fs::read_to_string(&file).unwrap();
    assert!(
        backup.starts_with("keyrite-key-backup-v1\nlabel: sig-1\n"),
        "{backup}"
    );
    assert!(backup.contains(&format!("spki-sha256: {spki}\n")));
    let again = keyrite(
        &data,
        &[
            "hsm",
            "backup",
            "--label",
            "sig-1",
            "--kek-label",
            "root-kek",
            "--out",
            f,
            "--rehearsal-pins",
        ],
    );
    assert_eq!(
        refused(&again),
        format!(
            "keyrite: error: cannot write backup: {f} already exists; Keyrite never overwrites \
             a file: move it aside or choose another name\n"
        )
    );

    // Destroy prints its proof; the key is gone from the listing.
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
    assert_eq!(
        p["proof"]["destroyed"],
        serde_json::json!(["private key", "public key"])
    );
    assert_eq!(p["proof"]["remaining_with_label"], 0);
    assert_eq!(p["proof"]["remaining_with_id"], 0);
    assert_eq!(p["proof"]["ids"][0], k["id"]);
    assert_eq!(
        p["proof"]["objects_after"].as_u64().unwrap() + 2,
        p["proof"]["objects_before"].as_u64().unwrap()
    );
    assert!(key(&keys(&data), "sig-1").is_none());

    // Restore: same public key, reported truthfully as not generated here.
    let r = json(&keyrite(
        &data,
        &["hsm", "restore", "--in", f, "--json", "--rehearsal-pins"],
    ));
    assert_eq!(r["key"]["origin"], "imported");
    assert_eq!(r["key"]["spki_sha256"], spki.as_str());
    let listed = keys(&data);
    let k2 = key(&listed, "sig-1").expect("sig-1 listed again");
    assert_eq!(k2["policies"], serde_json::json!(["ec-p256-sign"]));
    assert_eq!(k2["origin"], "imported");
    assert_eq!(k2["spki_sha256"], spki.as_str());
    assert_eq!(k2["id"], k["id"]);
}

#[test]
#[serial(softhsm)]
fn wrong_pin_on_a_descriptor_reports_the_pin_state_and_is_not_retried() {
    let d = TempData::new();
    let data = d.path();
    let serial = rehearsal_serial(&data);
    let args = ["hsm", "keys", "--pin-fd", "3"];
    let first = keyrite_fds(&data, &args, &[], &[(3, "not-the-pin-1\n")], "");
    assert_eq!(
        refused(&first),
        format!(
            "keyrite: error: user login (C_Login) on {} failed: CKR_PIN_INCORRECT (the PIN is \
             wrong); PIN state before: ok, after: count low (a wrong PIN was entered before); \
             Keyrite never retries a PIN: check it before trying again\n",
            token(&serial)
        )
    );
    let second = keyrite_fds(&data, &args, &[], &[(3, "not-the-pin-2\n")], "");
    assert!(
        refused(&second).contains(
            "PIN state before: count low (a wrong PIN was entered before), after: count low"
        ),
        "{}",
        stderr(&second)
    );
    // The right PIN still works, and the login evidence shows the earlier failures.
    let (_, user_pin) = rehearsal_pins(&data);
    let good = keyrite_fds(&data, &args, &[], &[(3, &format!("{user_pin}\n"))], "");
    assert!(
        ok(&good).contains(
            "Login: user PIN state before: count low (a wrong PIN was entered before), after: ok\n"
        ),
        "{}",
        stdout(&good)
    );
    // A descriptor that is not open is named.
    let closed = keyrite(&data, &["hsm", "keys", "--pin-fd", "9"]);
    assert_eq!(
        refused(&closed),
        format!(
            "keyrite: error: cannot read the user PIN of {} from file descriptor 9: it is not \
             open; pass an inherited descriptor (e.g. `3<pinfile`)\n",
            token(&serial)
        )
    );
}

#[test]
#[serial(softhsm)]
fn unknown_policy_and_existing_label_are_refused() {
    let d = TempData::new();
    let data = d.path();
    let serial = rehearsal_serial(&data);
    let out = keyrite(
        &data,
        &[
            "hsm",
            "generate",
            "--policy",
            "aes128",
            "--label",
            "x",
            "--rehearsal-pins",
        ],
    );
    assert_eq!(
        refused(&out),
        "keyrite: error: unknown key policy \"aes128\"; known policies: aes256-dek, \
         ec-p256-sign, ec-p384-sign, ed25519-sign, rsa3072-sign, rsa4096-sign, record-signing, \
         root-kek-import\n"
    );
    let gen = [
        "hsm",
        "generate",
        "--policy",
        "aes256-dek",
        "--label",
        "dek",
        "--rehearsal-pins",
    ];
    ok(&keyrite(&data, &gen));
    assert_eq!(
        refused(&keyrite(&data, &gen)),
        format!(
            "keyrite: error: generating key \"dek\" under policy \"aes256-dek\" on {} refused: \
             an object labelled \"dek\" already exists; choose another label or destroy the old \
             key first\n",
            token(&serial)
        )
    );
    let listed = keys(&data);
    assert_eq!(listed.len(), 1, "exactly one key: {listed:?}");
    assert_eq!(listed[0]["policies"], serde_json::json!(["aes256-dek"]));
    assert_eq!(listed[0]["kcv"]["method"], "ecb-zero-block-sha256");
}

#[test]
#[serial(softhsm)]
fn destroy_needs_the_label_typed_exactly() {
    let d = TempData::new();
    let data = d.path();
    let serial = rehearsal_serial(&data);
    ok(&keyrite(
        &data,
        &[
            "hsm",
            "generate",
            "--policy",
            "ed25519-sign",
            "--label",
            "edkey",
            "--rehearsal-pins",
        ],
    ));
    let msg = format!(
        "keyrite: error: destruction of key \"edkey\" on {} refused: the confirmation does not \
         match the key label; nothing was destroyed\n",
        token(&serial)
    );
    let wrong = keyrite(
        &data,
        &[
            "hsm",
            "destroy",
            "--label",
            "edkey",
            "--confirm",
            "edke",
            "--rehearsal-pins",
        ],
    );
    assert_eq!(refused(&wrong), msg);
    // Typed at the prompt: a near miss is refused too; no confirmation at all (EOF) as well.
    let typed = keyrite_fds(
        &data,
        &["hsm", "destroy", "--label", "edkey", "--rehearsal-pins"],
        &[],
        &[],
        "EDKEY\n",
    );
    assert!(refused(&typed).ends_with(&msg), "{}", stderr(&typed));
    let eof = keyrite(
        &data,
        &["hsm", "destroy", "--label", "edkey", "--rehearsal-pins"],
    );
    assert!(refused(&eof).ends_with(&msg), "{}", stderr(&eof));
    assert!(
        key(&keys(&data), "edkey").is_some(),
        "the key is still there"
    );

    let right = keyrite_fds(
        &data,
        &["hsm", "destroy", "--label", "edkey", "--rehearsal-pins"],
        &[],
        &[],
        "edkey\n",
    );
    assert!(ok(&right).contains("  Proof: "), "{}", stdout(&right));
    assert!(key(&keys(&data), "edkey").is_none());
    let gone = keyrite(
        &data,
        &[
            "hsm",
            "destroy",
            "--label",
            "edkey",
            "--confirm",
            "edkey",
            "--rehearsal-pins",
        ],
    );
    assert_eq!(
        refused(&gone),
        format!(
            "keyrite: error: destroying key \"edkey\" on {}: no key labelled \"edkey\"\n",
            token(&serial)
        )
    );
}

#[test]
#[serial(softhsm)]
fn production_refuses_descriptor_pins_and_software_tokens_before_any_operation() {
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
    let prod_data = d.scratch("prod-data");
    let env = [("SOFTHSM2_CONF", conf.to_str().unwrap())];
    let p = profile.to_str().unwrap();
    let generate = [
        "--profile",
        p,
        "hsm",
        "generate",
        "--policy",
        "ec-p256-sign",
        "--label",
        "prod-key",
    ];

    // The core refuses the change itself in production, before a PIN source is even looked
    // at (tests/tests/cli_hsm_gates.rs has every command's message).
    let mut with_fd = generate.to_vec();
    with_fd.extend(["--pin-fd", "3"]);
    let (_, user_pin) = rehearsal_pins(&rehearsal);
    let out = keyrite_fds(
        &prod_data,
        &with_fd,
        &env,
        &[(3, &format!("{user_pin}\n"))],
        "",
    );
    assert_eq!(
        refused(&out),
        "keyrite: error: keyrite hsm generate is refused in production: a key is generated \
         only by a ceremony (key-generation-and-backup, or root-key-generation for the root KEK \
         and record-signing key), with witnesses' sign-off; run \
         ceremony-scripts/key-generation-and-backup.toml; nothing was changed\n"
    );

    // Reading stays available, with the face's own PIN rules: no descriptor PIN, no stored
    // PINs, and the software token refused before any PIN is asked for.
    let list = ["--profile", p, "hsm", "keys"];
    let mut with_fd = list.to_vec();
    with_fd.extend(["--pin-fd", "3"]);
    let out = keyrite_fds(
        &prod_data,
        &with_fd,
        &env,
        &[(3, &format!("{user_pin}\n"))],
        "",
    );
    assert_eq!(
        refused(&out),
        "keyrite: error: --pin-fd is refused in production: a PIN read from a file descriptor \
         could come from a file or a script; type the PIN at the terminal\n"
    );
    let out = keyrite_with_env(&prod_data, &list, &env);
    assert_eq!(
        refused(&out),
        format!(
            "keyrite: error: HSM identity check refused {}: it is a software token (SoftHSM \
             project SoftHSM v2) whose keys live in host files; production needs a hardware HSM; \
             no operation was performed\n",
            token(&serial)
        )
    );
    let mut with_stored = list.to_vec();
    with_stored.push("--rehearsal-pins");
    assert_eq!(
        refused(&keyrite_with_env(&prod_data, &with_stored, &env)),
        "keyrite: error: --rehearsal-pins is refused in production: the PINs must be typed at \
         the terminal\n"
    );
    assert!(
        key(&keys(&rehearsal), "prod-key").is_none(),
        "nothing was generated"
    );
}

#[test]
#[serial(softhsm)]
fn init_a_free_slot_with_pins_on_descriptors() {
    let d = TempData::new();
    let data = d.path();
    rehearsal_serial(&data);
    let weak = keyrite_fds(
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
        ],
        &[],
        &[(3, "12345678\n"), (4, "k7Rq-2mXp\n")],
        "",
    );
    assert_eq!(
        refused(&weak),
        "keyrite: error: PIN policy refused the SO PIN: it is a well-known default PIN; choose \
         a fresh one\n"
    );
    let out = keyrite_fds(
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
        ],
        &[],
        &[(3, "so-Pin-4417x\n"), (4, "user-Pin-8832\n")],
        "",
    );
    let text = ok(&out);
    assert!(
        text.starts_with("Initialised token \"second\" (serial "),
        "{text}"
    );
    assert!(text.contains("  User PIN set: yes\n"), "{text}");
    let listed = keyrite_fds(
        &data,
        &["hsm", "keys", "--token-label", "second", "--pin-fd", "3"],
        &[],
        &[(3, "user-Pin-8832\n")],
        "",
    );
    assert!(ok(&listed).contains("Keys:  0\n"), "{}", stdout(&listed));
    // The stored rehearsal PINs belong to the embedded token only.
    let other = keyrite(
        &data,
        &["hsm", "keys", "--token-label", "second", "--rehearsal-pins"],
    );
    assert_eq!(
        refused(&other),
        "keyrite: error: --rehearsal-pins works only with the embedded rehearsal token \
         \"keyrite-rehearsal\"; the token labelled \"second\" needs its PIN typed (or --pin-fd)\n"
    );
    // Re-initialising the token needs the typed confirmation (here: none, stdin is empty).
    let force = keyrite_fds(
        &data,
        &[
            "hsm",
            "init",
            "--label",
            "third",
            "--force",
            "--token-label",
            "second",
            "--so-pin-fd",
            "3",
            "--pin-fd",
            "4",
        ],
        &[],
        &[(3, "so-Pin-4417x\n"), (4, "user-Pin-9931\n")],
        "",
    );
    let second = text
        .strip_prefix("Initialised ")
        .and_then(|t| t.split(" in slot").next())
        .unwrap()
        .to_string();
    assert_eq!(
        refused(&force),
        format!(
            "Re-initialising {second} erases every key on it. Type the token label to confirm: \
             keyrite: error: re-initialisation of {second} refused: the confirmation does not \
             match the token label \"second\"; nothing was changed\n"
        )
    );
}
