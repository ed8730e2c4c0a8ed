//! The `keyrite` CLI on a second PKCS#11 module, Kryoptic (built by `.ci/setup.sh`): listing a
//! fresh module, the refusal that points a ceremony on it to initialisation, `hsm init`, then
//! the hsm-initialisation, root-key-generation and key-generation-and-backup ceremonies
//! unattended, with records that `keyrite record verify` accepts and whose first page states
//! the weaker key protection (Kryoptic refuses `CKA_TRUSTED`) and the vendor quirks in force.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_tests::ceremony::{answers, record_of, script, SO_PIN, USER_PIN};
use keyrite_tests::hsm::keyrite_fds;
use keyrite_tests::{keyrite_with_env, stderr, stdout, TempData};
use serial_test::serial;
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

#[test]
#[serial(kryoptic)]
fn ceremonies_run_on_kryoptic_with_the_weaker_policy_stated() {
    let t = TempData::new();
    let data = t.path();
    let conf = t.scratch("kryoptic.conf");
    std::fs::write(
        &conf,
        format!(
            "[[slots]]\nslot = 7\ndbtype = \"sqlite\"\ndbargs = \"{}\"\n",
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

    // A ceremony on the fresh module says what is missing and where to start.
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
    let o = ceremony(&hsm_init);
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
        &[(3, &format!("{SO_PIN}\n")), (4, &format!("{USER_PIN}\n"))],
        "",
    );
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("Manufacturer: Kryoptic Project"),
        "{}",
        stdout(&o)
    );

    for name in [
        "hsm-initialisation",
        "root-key-generation",
        "key-generation-and-backup",
    ] {
        let o = ceremony(&script(name));
        assert!(o.status.success(), "{name}: {}{}", stdout(&o), stderr(&o));
        let record = record_of(&data, name);
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
}
