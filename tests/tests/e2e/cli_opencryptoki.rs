//! The `keyrite` CLI on a third PKCS#11 module, openCryptoki's soft token (Debian 12's package
//! 3.8.1, in a private namespace: `keyrite_testkit::opencryptoki`): a module that lacks most of
//! what Keyrite needs. It is listed (its malformed clock field shown as unreadable), initialised
//! with its factory SO PIN asked apart from the new ones, never re-initialised (that loses its
//! SO login), and every operation it cannot do (key generation under each policy, backup,
//! restore, the root KEK's import in the root-key-generation ceremony) is refused before
//! anything changes, naming the missing mechanism or attribute. A site quirks file without the attribute claim lets the
//! operations reach the module, which then fails as the quirks say: the claims are checked.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_testkit::ceremony::{events, script};
use keyrite_testkit::hsm::import_root_kek;
use keyrite_testkit::opencryptoki::{module, OpenCryptoki, FACTORY_SO_PIN};
use keyrite_testkit::{keyrite, stderr, stdout, TempData};
use std::path::{Path, PathBuf};
use std::process::Output;

/// openCryptoki takes PINs of 4 to 8 characters and Keyrite at least 8: exactly 8.
const SO: &str = "Xk7q2mRp";
const USER: &str = "Ub4n9wLe";

fn profile(t: &TempData, name: &str, extra: &str) -> PathBuf {
    let p = t.scratch(name);
    std::fs::write(
        &p,
        format!(
            "version = 1\n[site]\nname = \"openCryptoki lab\"\nmode = \"rehearsal\"\n[hsm]\n\
             module = \"{}\"\ntoken_label = \"keyrite\"\n{extra}",
            module().display()
        ),
    )
    .unwrap();
    p
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "{}{}", stdout(o), stderr(o));
    stdout(o)
}

fn refused(o: &Output) -> String {
    assert!(!o.status.success(), "{}", stdout(o));
    stderr(o)
}

/// `hsm init --label keyrite` with the factory SO PIN as the current one.
fn init(ock: &OpenCryptoki, data: &Path, p: &str, current: &str) -> Output {
    ock.keyrite(
        data,
        &[
            "--profile",
            p,
            "hsm",
            "init",
            "--label",
            "keyrite",
            "--current-so-pin-fd",
            "5",
            "--so-pin-fd",
            "3",
            "--pin-fd",
            "4",
        ],
        &[
            (3, &format!("{SO}\n")),
            (4, &format!("{USER}\n")),
            (5, &format!("{current}\n")),
        ],
    )
}

fn key_count(ock: &OpenCryptoki, data: &Path, p: &str) -> String {
    let o = ock.keyrite(
        data,
        &["--profile", p, "hsm", "keys", "--pin-fd", "3"],
        &[(3, &format!("{USER}\n"))],
    );
    ok(&o)
        .lines()
        .find(|l| l.starts_with("Keys:"))
        .unwrap()
        .to_string()
}

#[test]
fn listed_initialised_with_its_factory_so_pin_and_never_reinitialised() {
    let ock = OpenCryptoki::start();
    let t = TempData::new();
    let data = t.path();
    let prof = profile(&t, "site.toml", "");
    let p = prof.to_str().unwrap();
    let m = module();

    // A fresh token: listed, its slot description without the module's NUL padding.
    let o = ock.keyrite(&data, &["--profile", p, "hsm", "info"], &[]);
    assert_eq!(
        ok(&o),
        format!(
            "Mode:   rehearsal\nModule: {m}\nProfile's token: No token labelled \"keyrite\" in \
             PKCS#11 module {m}; present tokens: none.\n\nSlot 0: uninitialised token (Linux)\n",
            m = m.display()
        )
    );

    // Its info as JSON: the malformed clock field named as unreadable, the rest read.
    let o = ock.keyrite(&data, &["--profile", p, "hsm", "info", "--json"], &[]);
    let v: serde_json::Value = serde_json::from_str(&ok(&o)).unwrap();
    let tok = &v["tokens"][0];
    assert_eq!(
        (
            &tok["slot_description"],
            &tok["manufacturer"],
            &tok["model"],
            &tok["serial"],
            &tok["initialized"]
        ),
        (
            &"Linux".into(),
            &"IBM Corp.".into(),
            &"IBM SoftTok".into(),
            &"123".into(),
            &false.into()
        ),
        "{v}"
    );
    let unreadable = tok["unreadable"].as_array().unwrap();
    assert_eq!(unreadable.len(), 1, "{v}");
    assert!(
        unreadable[0]
            .as_str()
            .unwrap()
            .starts_with("utcTime (the token's clock): \""),
        "{v}"
    );

    // The fresh token's SO PIN is the factory one; a wrong one is refused by one SO login
    // before anything is journaled or initialised.
    let o = init(&ock, &data, p, "87654320");
    assert_eq!(
        refused(&o),
        "keyrite: error: the current SO PIN of token \"IBM OS PKCS#11\" (serial 123) was \
         rejected: CKR_PIN_INCORRECT (the PIN is wrong); the token does not say how many tries \
         are left (it reports CKF_SO_PIN_COUNT_LOW: a wrong PIN was given since the last good \
         one); nothing was changed\n"
    );
    assert!(events(&data).is_empty(), "nothing journaled");
    let o = ock.keyrite(&data, &["--profile", p, "hsm", "info"], &[]);
    assert!(ok(&o).ends_with("Slot 0: uninitialised token (Linux)\n"));

    let o = init(&ock, &data, p, FACTORY_SO_PIN);
    assert_eq!(
        ok(&o),
        "Initialised token \"keyrite\" (serial 123) in slot 0\n  Manufacturer: IBM Corp.   \
         Model: IBM SoftTok   Software: yes\n  User PIN set: yes\n  Journaled:    \
         hsm_token_initialised\n"
    );
    // The new SO PIN is in force, the factory one no longer (pkcsconf logs in as SO to change it).
    let so_login = |pin: &str| {
        ock.pkcsconf(&["-P", "-c", "0", "-S", pin, "-n", pin])
            .status
            .success()
    };
    assert!(!so_login(FACTORY_SO_PIN), "the factory SO PIN was replaced");
    assert!(so_login(SO), "the new SO PIN logs in");

    // The initialised token is listed with its clock field (`hh:mm:ss` and NULs instead of 16
    // digits) named as unreadable; every other field is read.
    let o = ock.keyrite(&data, &["--profile", p, "hsm", "info"], &[]);
    let text = ok(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[..9],
        [
            "Mode:   rehearsal",
            &format!("Module: {}", m.display()),
            "Profile's token: Slot 0: the token labelled \"keyrite\" is used without a pinned \
             identity (no [hsm.expect]): rehearsal accepts it, production would refuse it.",
            "",
            "Slot 0: keyrite",
            "  Manufacturer: IBM Corp.",
            "  Model:        IBM SoftTok",
            "  Serial:       123",
            "  Firmware:     1.0   Hardware: 1.0",
        ],
        "{text}"
    );
    let clock = lines[9]
        .strip_prefix("  Unreadable:   utcTime (the token's clock): \"")
        .and_then(|r| r.strip_suffix("........\" is not 16 digits YYYYMMDDhhmmss00"))
        .unwrap_or_else(|| panic!("{text}"));
    let b = clock.as_bytes();
    assert!(
        b.len() == 8
            && b[2] == b':'
            && b[5] == b':'
            && [0, 1, 3, 4, 6, 7].iter().all(|i| b[*i].is_ascii_digit()),
        "{clock}"
    );
    assert_eq!(
        lines[10..],
        [
            "  Software:     yes: keys live in host files (rehearsal only)",
            "  Flags:        user PIN set, login required, has RNG",
        ]
    );
    assert_eq!(key_count(&ock, &data, p), "Keys:  0");

    // Re-initialisation is refused before any PIN is asked and anything changes: openCryptoki
    // 3.8.1 would keep the SO PIN but re-encrypt its master key under the factory one.
    let before = events(&data);
    let reinit_refusal = "re-initialising token \"keyrite\" (serial 123) is refused: \
         openCryptoki cannot re-initialise a token (vendor quirks \"openCryptoki\", reinitialise \
         = false: afterwards its SO can no longer log in); nothing was changed; to start again, \
         reset the token with the vendor's own tools";
    let o = ock.keyrite(
        &data,
        &[
            "--profile",
            p,
            "hsm",
            "init",
            "--label",
            "again",
            "--force",
            "--yes",
        ],
        &[],
    );
    assert_eq!(refused(&o), format!("keyrite: error: {reinit_refusal}\n"));
    assert_eq!(events(&data), before);
    assert_eq!(key_count(&ock, &data, p), "Keys:  0");

    // The hsm-initialisation ceremony (rehearsal) on it: its initialise step is refused the same
    // way, before any PIN is asked; the answers file has no decision for the exception.
    let ans = t.scratch("answers.toml");
    std::fs::write(
        &ans,
        format!(
            "current_so_pin = \"{SO}\"\nso_pin = \"Nw5so7Qz\"\nuser_pin = \"Nw5us8Kd\"\n\
             [participants]\nadministrator = [\"Ada Admin\"]\nwitness = [\"Wes Witness\"]\n\
             auditor = [\"Aud Auditor\"]\n[clock]\nreference = \"test clock\"\noffset_seconds = 0\n"
        ),
    )
    .unwrap();
    let o = ock.keyrite(
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
        &[],
    );
    assert!(
        stderr(&o).contains(&format!(
            "step \"initialise-token\" raised an exception and the file has no decision for it \
             (expected: Initialise the HSM token (hsm-init) succeeds; happened: {reinit_refusal})"
        )),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
    assert!(
        !stdout(&o).contains("current SO PIN"),
        "no PIN asked: {}",
        stdout(&o)
    );
    assert!(!events(&data)
        .iter()
        .skip(before.len())
        .any(|e| matches!(e, keyrite_core::journal::Event::HsmTokenInitialised { .. })));
    // The token as it was: the user PIN still opens it.
    assert_eq!(key_count(&ock, &data, p), "Keys:  0");
}

#[test]
// `import_root_kek` drives SoftHSM2 in this process (`SOFTHSM2_CONF`): one at a time with the
// other SoftHSM2 tests of the binary.
#[serial_test::serial(softhsm)]
fn every_unsupported_operation_is_refused_before_anything_changes() {
    let ock = OpenCryptoki::start();
    let t = TempData::new();
    let data = t.path();
    let prof = profile(&t, "site.toml", "");
    let p = prof.to_str().unwrap();
    ok(&init(&ock, &data, p, FACTORY_SO_PIN));
    let journaled = events(&data);
    let user = format!("{USER}\n");
    let tok = "token \"keyrite\" (serial 123)";

    // Key generation: every template carries CKA_WRAP_WITH_TRUSTED, which 3.8.1 does not know.
    for policy in [
        "aes256-dek",
        "ec-p256-sign",
        "ec-p384-sign",
        "ed25519-sign",
        "rsa3072-sign",
        "rsa4096-sign",
        "record-signing",
    ] {
        let o = ock.keyrite(
            &data,
            &[
                "--profile",
                p,
                "hsm",
                "generate",
                "--policy",
                policy,
                "--label",
                "k",
                "--pin-fd",
                "3",
            ],
            &[(3, &user)],
        );
        assert_eq!(
            refused(&o),
            format!(
                "keyrite: error: generating key \"k\" under policy \"{policy}\" on {tok} needs \
                 the attribute CKA_WRAP_WITH_TRUSTED, which the module does not support (vendor \
                 quirks \"openCryptoki\", missing_attributes); use a module that supports it; \
                 nothing was created\n"
            ),
            "{policy}"
        );
    }
    assert_eq!(events(&data), journaled, "nothing journaled");
    assert_eq!(key_count(&ock, &data, p), "Keys:  0");

    // Backup: no RFC 5649 wrapping at all. Two AES keys made outside Keyrite (pkcs11-tool).
    for (label, id) in [("data-key", "01"), ("kek", "02")] {
        let o = ock
            .command(Path::new("pkcs11-tool"))
            .arg("--module")
            .arg(module())
            .args([
                "--login",
                "--pin",
                USER,
                "--keygen",
                "--key-type",
                "AES:32",
                "--sensitive",
                "--label",
                label,
                "--id",
                id,
            ])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let out = t.scratch("data-key.backup");
    let o = ock.keyrite(
        &data,
        &[
            "--profile",
            p,
            "hsm",
            "backup",
            "--label",
            "data-key",
            "--kek-label",
            "kek",
            "--out",
            out.to_str().unwrap(),
            "--pin-fd",
            "3",
        ],
        &[(3, &user)],
    );
    assert_eq!(
        refused(&o),
        format!(
            "keyrite: error: backing up key \"data-key\" under \"kek\" on {tok} needs RFC 5649 \
             key wrapping (CKM_AES_KEY_WRAP_PAD 0x210A or CKM_AES_KEY_WRAP_KWP 0x210B), which \
             the module does not offer (CKR_MECHANISM_INVALID); use a module that supports it \
             or a policy that avoids it\n"
        )
    );
    assert!(!out.exists());
    assert_eq!(events(&data), journaled);

    // Restore of a backup made on SoftHSM2 (the rehearsal token of another data directory).
    let other = TempData::new();
    let od = other.path();
    import_root_kek(&od, "root-kek");
    ok(&keyrite(
        &od,
        &[
            "hsm",
            "generate",
            "--policy",
            "aes256-dek",
            "--label",
            "dek",
            "--rehearsal-pins",
        ],
    ));
    let backup = other.scratch("dek.backup");
    ok(&keyrite(
        &od,
        &[
            "hsm",
            "backup",
            "--label",
            "dek",
            "--kek-label",
            "root-kek",
            "--out",
            backup.to_str().unwrap(),
            "--rehearsal-pins",
        ],
    ));
    let b = backup.to_str().unwrap();
    let o = ock.keyrite(
        &data,
        &["--profile", p, "hsm", "restore", "--in", b, "--pin-fd", "3"],
        &[(3, &user)],
    );
    assert_eq!(
        refused(&o),
        format!(
            "keyrite: error: restoring key \"dek\" from backup file {b} on {tok} needs the \
             attribute CKA_WRAP_WITH_TRUSTED, which the module does not support (vendor quirks \
             \"openCryptoki\", missing_attributes); use a module that supports it; nothing was \
             created\n"
        )
    );
    assert_eq!(events(&data), journaled);
    assert_eq!(key_count(&ock, &data, p), "Keys:  2");

    // The root-key-generation ceremony: the root KEK's import is refused before it is created
    // (the answers file has no decision for the exception); no key appears, none is journaled.
    let ans = t.scratch("answers.toml");
    std::fs::write(
        &ans,
        format!(
            "so_pin = \"{SO}\"\nuser_pin = \"{USER}\"\nshare_passphrase = \"rehearsal passphrase\"\n\
             [participants]\nadministrator = [\"Ada Admin\"]\nwitness = [\"Wes Witness\"]\n\
             auditor = [\"Aud Auditor\"]\n\
             custodian = [\"C One\", \"C Two\", \"C Three\", \"C Four\", \"C Five\"]\n\
             [clock]\nreference = \"test clock\"\noffset_seconds = 0\n"
        ),
    )
    .unwrap();
    let o = ock.keyrite(
        &data,
        &[
            "--profile",
            p,
            "ceremony",
            "run",
            script("root-key-generation").to_str().unwrap(),
            "--answers",
            ans.to_str().unwrap(),
        ],
        &[],
    );
    assert!(!o.status.success());
    assert_eq!(
        stderr(&o),
        format!(
            "keyrite: error: the answer does not fit: answers file {}: step \"generate-root-kek\" \
             raised an exception and the file has no decision for it (expected: Generate and \
             split the root KEK (generate-and-split-root-kek) succeeds; happened: importing the \
             root KEK \"keyrite-root-kek\" under policy \"root-kek-import\" on {tok} needs the \
             attribute CKA_WRAP_WITH_TRUSTED, which the module does not support (vendor quirks \
             \"openCryptoki\", missing_attributes); use a module that supports it; nothing was \
             created)\n",
            ans.display()
        )
    );
    assert!(!events(&data)
        .iter()
        .any(|e| matches!(e, keyrite_core::journal::Event::KeyImported { .. })));
    assert_eq!(key_count(&ock, &data, p), "Keys:  2");

    // The claims are the module's: with a site quirks section that drops them, the operations
    // reach the module and fail there (the journal then records the failed attempts), and the
    // EC generation mechanism is missing from the module's own list.
    std::fs::write(
        t.scratch("claims-dropped.toml"),
        "version = 1\n[default]\nlabel_max = 32\nmissing_mechanisms = []\n[[module]]\n\
         name = \"openCryptoki, claims dropped\"\nsource = \"tested-here\"\n\
         manufacturer = \"IBM Corp.\"\nmodel_prefix = \"IBM SoftTok\"\nsoftware = true\n\
         label_max = 32\nmissing_mechanisms = []\n",
    )
    .unwrap();
    let dropped = profile(
        &t,
        "dropped.toml",
        "vendor_quirks = \"claims-dropped.toml\"\n",
    );
    let gen = |policy: &str| {
        let o = ock.keyrite(
            &data,
            &[
                "--profile",
                dropped.to_str().unwrap(),
                "hsm",
                "generate",
                "--policy",
                policy,
                "--label",
                "k",
                "--pin-fd",
                "3",
            ],
            &[(3, &user)],
        );
        refused(&o)
    };
    assert_eq!(
        gen("aes256-dek"),
        format!(
            "keyrite: error: generating key \"k\" under policy \"aes256-dek\" (C_GenerateKey) on \
             {tok} failed: CKR_ATTRIBUTE_TYPE_INVALID\n"
        )
    );
    assert_eq!(
        gen("ec-p256-sign"),
        format!(
            "keyrite: error: generating key \"k\" under policy \"ec-p256-sign\" on {tok} needs \
             CKM_EC_KEY_PAIR_GEN, which the module does not offer (CKR_MECHANISM_INVALID); use a \
             module that supports it or a policy that avoids it\n"
        )
    );
    assert_eq!(key_count(&ock, &data, p), "Keys:  2");
}
