//! The `keyrite` binary on a fresh data directory: first run creates the rehearsal token,
//! `hsm info` reports it, and each bad input gets its exact message and a non-zero exit.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_testkit::{keyrite, keyrite_with_env, stderr, stdout, TempData};
use serial_test::serial;

#[test]
#[serial(softhsm)]
fn hsm_info_json_lists_the_rehearsal_token_on_first_run() {
    let d = TempData::new();
    let out = keyrite(&d.path(), &["hsm", "info", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["mode"], "rehearsal");
    let tokens = v["tokens"].as_array().unwrap();
    let t = tokens
        .iter()
        .find(|t| t["label"] == "keyrite-rehearsal")
        .expect("rehearsal token listed");
    assert_eq!(t["software"], true);
    assert_eq!(t["initialized"], true);
    assert_eq!(t["manufacturer"], "SoftHSM project");
    let serial = t["serial"].as_str().unwrap();
    assert_eq!(serial.len(), 16);
    assert!(d.path().join("softhsm/softhsm2.conf").is_file());

    // The second run finds the same token rather than making another.
    let again = keyrite(&d.path(), &["hsm", "info", "--json"]);
    let v2: serde_json::Value = serde_json::from_str(&stdout(&again)).unwrap();
    let labelled: Vec<_> = v2["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["label"] == "keyrite-rehearsal")
        .collect();
    assert_eq!(labelled.len(), 1);
    assert_eq!(labelled[0]["serial"], serial);

    // The text form says the same to a person.
    let text = stdout(&keyrite(&d.path(), &["hsm", "info"]));
    assert!(text.contains("Slot "), "{text}");
    assert!(text.contains(": keyrite-rehearsal\n"), "{text}");
    assert!(
        text.contains(&format!("  Serial:       {serial}\n")),
        "{text}"
    );
    assert!(text.contains("  Software:     yes: keys live in host files (rehearsal only)\n"));
}

#[test]
fn profile_with_unknown_key_is_refused_and_creates_nothing() {
    let d = TempData::new();
    let profile = d.scratch("site.toml");
    std::fs::write(
        &profile,
        "version = 1\n[site]\nname = \"Lab\"\nmode = \"rehearsal\"\n[hsm]\nmodul = \"/x.so\"\n",
    )
    .unwrap();
    let out = keyrite(
        &d.path(),
        &["--profile", profile.to_str().unwrap(), "hsm", "info"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!(
            "keyrite: error: site profile {} is invalid: line 6, column 1: unknown field `modul`, \
             expected one of `module`, `token_label`, `token_serial`, `expect`, \
             `accept_weaker_key_protection`, `vendor_quirks`, `key_policies`\n",
            profile.display()
        )
    );
    assert!(!d.path().exists(), "nothing created for a refused profile");
}

#[test]
fn profile_with_bad_value_is_refused() {
    let d = TempData::new();
    let profile = d.scratch("site.toml");
    std::fs::write(
        &profile,
        "version = 1\n[site]\nname = \"Lab\"\nmode = \"live\"\n",
    )
    .unwrap();
    let out = keyrite(
        &d.path(),
        &["--profile", profile.to_str().unwrap(), "hsm", "info"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!(
            "keyrite: error: site profile {} is invalid: line 4, column 8: unknown variant \
             `live`, expected `rehearsal` or `production`\n",
            profile.display()
        )
    );
}

#[test]
fn missing_module_path_is_named() {
    let d = TempData::new();
    let profile = d.scratch("site.toml");
    std::fs::write(
        &profile,
        "version = 1\n[site]\nname = \"Lab\"\nmode = \"rehearsal\"\n[hsm]\nmodule = \"/opt/nowhere/libvendor.so\"\ntoken_label = \"x\"\n",
    )
    .unwrap();
    let out = keyrite(
        &d.path(),
        &["--profile", profile.to_str().unwrap(), "hsm", "info"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "keyrite: error: PKCS#11 module /opt/nowhere/libvendor.so does not exist; check \
         hsm.module in the site profile (SoftHSM2 is usually /usr/lib/softhsm/libsofthsm2.so)\n"
    );
}

#[test]
fn module_failing_c_initialize_is_reported() {
    let d = TempData::new();
    let profile = d.scratch("site.toml");
    let module = "/usr/lib/softhsm/libsofthsm2.so";
    std::fs::write(
        &profile,
        format!("version = 1\n[site]\nname = \"Lab\"\nmode = \"rehearsal\"\n[hsm]\nmodule = \"{module}\"\ntoken_label = \"x\"\n"),
    )
    .unwrap();
    let bogus = d.scratch("no-such-softhsm2.conf");
    let out = keyrite_with_env(
        &d.path(),
        &["--profile", profile.to_str().unwrap(), "hsm", "info"],
        &[("SOFTHSM2_CONF", bogus.to_str().unwrap())],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!(
            "keyrite: error: PKCS#11 module {module} failed C_Initialize: CKR_GENERAL_ERROR (the \
             module reported a general error); check the module's own configuration (SoftHSM2 \
             reads SOFTHSM2_CONF={})\n",
            bogus.display()
        )
    );
}

#[test]
fn unwritable_data_dir_is_named() {
    let d = TempData::new();
    let file = d.scratch("a-file");
    std::fs::write(&file, b"").unwrap();
    let data = file.join("data");
    let out = keyrite(&data, &["hsm", "info"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!(
            "keyrite: error: data directory {} is not usable: Not a directory (os error 20); \
             choose a writable directory with --data-dir DIR or KEYRITE_DATA_DIR\n",
            data.display()
        )
    );
}
