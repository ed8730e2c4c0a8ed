//! Production hsm-init on a module whose uninitialised tokens report no serial (issue 14,
//! acceptance "pin one of two uninitialised tokens"): Kryoptic configured with two
//! uninitialised slots, 42 and 43, both "Kryoptic Slot", both with a blank serial. The site
//! profile pins slot 43 (`[hsm.expect] slot_id`); the hsm-initialisation ceremony, typed at the
//! terminal as the room would (`keyrite_testkit::room`), initialises that token only, re-checks it
//! in the same slot, journals the serial Kryoptic assigned, and its record tells the officer to
//! pin it. OpenSC's `pkcs11-tool` then finds slot 42 still uninitialised. A profile that names
//! no slot or several is refused before anything is journaled or changed.
//!
//! Kryoptic is software; the `testkit` switch `KEYRITE_TESTKIT_SOFTWARE_TOKEN_AS_HARDWARE=1`
//! lets production take it for hardware, as `ceremony_production_terminal.rs` does with
//! SoftHSM2. It refuses `CKA_TRUSTED`, so the profile accepts the weaker key protection.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_testkit::ceremony::{events, script};
use keyrite_testkit::kek_record::first_pages;
use keyrite_testkit::pty::Pty;
use keyrite_testkit::room::{completed, drive, Site};
use keyrite_testkit::{bin, keyrite_with_env, stderr, stdout, TempData};
use serial_test::serial;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

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
    assert!(p.exists(), "Kryoptic is not built at {}", p.display());
    p
}

/// A Kryoptic store with two uninitialised slots, 42 and 43, and a production profile whose
/// `[hsm.expect]` ends with `pin` (the slot keys).
fn kryoptic_site(pin: &str) -> Site {
    let t = TempData::new();
    let conf = t.scratch("kryoptic.conf");
    let mut slots = String::new();
    for slot in [42, 43] {
        slots.push_str(&format!(
            "[[slots]]\nslot = {slot}\ndbtype = \"sqlite\"\ndbargs = \"{}\"\n",
            t.scratch(&format!("token-{slot}.sql")).display()
        ));
    }
    std::fs::write(&conf, slots).unwrap();
    let profile = t.scratch("production.toml");
    std::fs::write(
        &profile,
        format!(
            "version = 1\n[site]\nname = \"Vault room K\"\nmode = \"production\"\n[hsm]\n\
             module = \"{}\"\ntoken_label = \"keyrite\"\naccept_weaker_key_protection = true\n\
             [hsm.expect]\nmanufacturer = \"Kryoptic Project\"\nmodel = \"v1\"\n{pin}",
            module().display()
        ),
    )
    .unwrap();
    Site {
        t,
        conf,
        profile,
        serial: String::new(),
    }
}

/// `keyrite --profile production.toml ceremony run SCRIPT` on a PTY, air-gapped (as
/// `Site::ceremony`, with Kryoptic's configuration).
fn ceremony(site: &Site, name: &str) -> Pty {
    let mut cmd = Command::new("unshare");
    cmd.args(["--net", "--mount", "sh", "-c"])
        .arg("mount -t sysfs sysfs /sys && exec \"$0\" \"$@\"")
        .arg(bin("keyrite"))
        .arg("--data-dir")
        .arg(site.data())
        .arg("--profile")
        .arg(&site.profile)
        .args(["ceremony", "run"])
        .arg(script(name))
        .env_remove("KEYRITE_DATA_DIR")
        .env("KRYOPTIC_CONF", &site.conf)
        .env("KEYRITE_TESTKIT_SOFTWARE_TOKEN_AS_HARDWARE", "1")
        .env("TERM", "xterm");
    Pty::spawn(cmd)
}

/// `keyrite --profile … ceremony run SCRIPT` without a terminal: for refusals at the start.
fn run_plain(site: &Site, name: &str) -> std::process::Output {
    keyrite_with_env(
        &site.data(),
        &[
            "--profile",
            site.profile.to_str().unwrap(),
            "ceremony",
            "run",
            script(name).to_str().unwrap(),
        ],
        &[
            ("KRYOPTIC_CONF", site.conf.to_str().unwrap()),
            ("KEYRITE_TESTKIT_SOFTWARE_TOKEN_AS_HARDWARE", "1"),
        ],
    )
}

/// `pkcs11-tool -L` on the site's Kryoptic: (slot id, state, label) per slot.
fn slots(conf: &Path) -> Vec<(u64, String, String)> {
    let o = Command::new("pkcs11-tool")
        .arg("--module")
        .arg(module())
        .arg("-L")
        .env("KRYOPTIC_CONF", conf)
        .output()
        .expect("pkcs11-tool");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut out: Vec<(u64, String, String)> = Vec::new();
    for l in String::from_utf8_lossy(&o.stdout).lines() {
        let l = l.trim();
        if let Some(rest) = l.strip_prefix("Slot ") {
            // "Slot 1 (0x2b): Kryoptic Slot"
            let hex = rest.split_once("(0x").unwrap().1.split_once(')').unwrap().0;
            out.push((
                u64::from_str_radix(hex, 16).unwrap(),
                String::new(),
                String::new(),
            ));
        } else if let Some(s) = l.strip_prefix("token state:") {
            out.last_mut().unwrap().1 = s.trim().to_string();
        } else if let Some(s) = l
            .strip_prefix("token label")
            .and_then(|s| s.split_once(':'))
        {
            out.last_mut().unwrap().2 = s.1.trim().to_string();
        }
    }
    out
}

fn fresh() -> Vec<(u64, String, String)> {
    vec![
        (42, "uninitialized".into(), String::new()),
        (43, "uninitialized".into(), String::new()),
    ]
}

#[test]
#[serial(kryoptic)]
fn production_hsm_init_initialises_the_token_in_the_pinned_slot_only() {
    let site = kryoptic_site("slot_id = 43\n");
    assert_eq!(slots(&site.conf), fresh());

    let seen = drive(
        ceremony(&site, "hsm-initialisation"),
        &BTreeMap::new(),
        None,
        false,
    );
    completed(&site, "hsm-initialisation", &seen);

    // Slot 43 holds the initialised token; slot 42's is untouched, as OpenSC sees them.
    let after = slots(&site.conf);
    assert_eq!(after[0], (42, "uninitialized".into(), String::new()));
    assert_eq!(after[1].0, 43);
    assert_eq!(after[1].2, "keyrite", "{after:?}");
    assert!(after[1].1.is_empty(), "slot 43 is initialised: {after:?}");

    // The re-check after C_InitToken read the same slot; the assigned serial is journaled.
    let j = keyrite_core::journal::Journal::open_read_only(
        &site.data().join("journal.sqlite"),
        &Default::default(),
    )
    .unwrap();
    let mut inits = Vec::new();
    j.for_each_entry(0, j.head().size - 1, |e| {
        let body = e.body_json()?;
        if body["event"]["type"] == "hsm_token_initialised" {
            inits.push(body);
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(inits.len(), 1);
    let serial = inits[0]["event"]["token_serial"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!serial.trim().is_empty(), "Kryoptic assigned a serial");
    let d = &inits[0]["details"];
    assert_eq!(d["assigned_serial"], serial.as_str());
    let re = &d["pinned_identity_rechecked_after_init"];
    assert_eq!(re["slot"], 43);
    assert_eq!(re["serial"], serial.as_str());
    assert_eq!(re["manufacturer"], "Kryoptic Project");
    assert_eq!(re["model"], "v1");

    // The record tells the officer to pin that serial, and that no root KEK exists yet.
    let page = first_pages(&site.data(), "hsm-initialisation").remove(0);
    let pin_line = format!(
        "PIN THE SERIAL: the module assigned serial \"{serial}\" to the token \"keyrite\" when \
         this ceremony initialised it in the slot the site profile pins; write serial = \
         \"{serial}\" under [hsm.expect] before the next ceremony."
    );
    assert!(page.contains(&pin_line), "{page}");
    assert!(
        page.contains(
            "Root KEK in force at the start: No root KEK on this token yet: no initialised \
             token answered to the site profile's token selector."
        ),
        "{page}"
    );

    // Until the serial is pinned, the next ceremony is refused at its start, saying so.
    let entries = j.head().size;
    drop(j);
    let o = run_plain(&site, "root-key-generation");
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert_eq!(
        stderr(&o),
        format!(
            "keyrite: error: HSM identity check refused token \"keyrite\" (serial {serial}): \
             serial is \"{serial}\" (assigned when the token was initialised) and the profile \
             pins none; write serial = \"{serial}\" under [hsm.expect]; no operation was \
             performed\n"
        )
    );
    assert_eq!(
        events(&site.data()).len() as u64,
        entries,
        "nothing journaled"
    );
}

/// A profile that singles out no uninitialised token, or several, is refused when the
/// ceremony starts: nothing journaled, both tokens still uninitialised.
#[test]
#[serial(kryoptic)]
fn production_hsm_init_refuses_a_slot_pin_that_names_no_token_or_two() {
    let cases = [
        (
            "slot_description = \"Kryoptic Slot\"\n",
            "keyrite: error: HSM identity check refused pinned as manufacturer \"Kryoptic \
             Project\", model \"v1\", serial \"\", slot description \"Kryoptic Slot\": 2 tokens \
             of PKCS#11 module MODULE answer to the pinned identity; Keyrite cannot tell which \
             one to initialise; no operation was performed\n",
        ),
        (
            "slot_id = 44\n",
            "keyrite: error: no token with the identity the site profile pins (manufacturer \
             \"Kryoptic Project\", model \"v1\", serial \"\", slot id 44) in PKCS#11 module \
             MODULE; present tokens: slot 42: Kryoptic Project v1 serial \"\" (uninitialised), \
             slot 43: Kryoptic Project v1 serial \"\" (uninitialised)\n",
        ),
    ];
    for (pin, want) in cases {
        let site = kryoptic_site(pin);
        let o = run_plain(&site, "hsm-initialisation");
        assert_eq!(o.status.code(), Some(1), "{pin}: {}", stdout(&o));
        assert_eq!(stdout(&o), "", "{pin}");
        assert_eq!(
            stderr(&o),
            want.replace("MODULE", &module().display().to_string()),
            "{pin}"
        );
        assert!(events(&site.data()).is_empty(), "{pin}: nothing journaled");
        assert_eq!(slots(&site.conf), fresh(), "{pin}: both tokens untouched");
    }
}
