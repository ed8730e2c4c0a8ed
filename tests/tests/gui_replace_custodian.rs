//! `replace-custodian` finishes in the window: its `verify-new-shares` step, where each
//! custodian opens their new share sealed to their YubiKey, is answered on the desktop with the
//! card and its PIN (the `share-yubikey` answer the hand-written UI types had lost).
//!
//! The CLI prepares the site (token, root KEK 3 of 5, enrolment of five virtual YubiKeys) and
//! runs `replace-custodian` unattended until the third custodian's share: its answers file
//! has no YubiKey for C Three, so the CLI stops there and the ceremony stays unfinished. The
//! window resumes it: C Three, C Four and C Six insert their cards and type their PINs, the
//! step is signed off and the ceremony closes with its record.
//! Run as root with `xvfb-run cargo test -p keyrite-tests --test gui_replace_custodian -- --ignored`.

use keyrite_core::journal::{Event, Journal};
use keyrite_tests::ceremony::{answers, script, USER_PIN};
use keyrite_tests::gui::Session;
use keyrite_tests::piv::Harness;
use keyrite_tests::quorum::{quorum_answers, run_with_cards, CUSTODIANS, YK_PIN};
use keyrite_tests::{keyrite, stderr, stdout, TempData};
use serial_test::serial;
use std::path::Path;

fn events(data: &Path) -> Vec<Event> {
    let j = Journal::open_read_only(&data.join("journal.sqlite"), &Default::default())
        .expect("journal");
    let mut v = Vec::new();
    j.for_each_entry(0, j.head().size - 1, |e| {
        v.push(e.event()?);
        Ok(())
    })
    .expect("entries");
    v
}

fn verified(ev: &[Event]) -> Vec<String> {
    ev.iter()
        .filter_map(|e| match e {
            Event::ShareVerified { custodian_id, .. } => Some(custodian_id.clone()),
            _ => None,
        })
        .collect()
}

fn serial_of(name: &str) -> u32 {
    if name == "C Six" {
        return 7_006;
    }
    CUSTODIANS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| *s)
        .unwrap_or_else(|| panic!("{name} is not a custodian of the rehearsal"))
}

/// The answers of `ceremony_quorum`'s replacement (C Six replaces C Five; C One, C Two and
/// C Six approve the new set), less C Three's YubiKey: the CLI cannot answer C Three's share.
fn replacement_answers(dir: &Path) -> std::path::PathBuf {
    let ans = quorum_answers(
        dir,
        "replace",
        &[],
        &[("reshare", &["C One", "C Two", "C Six"])],
        &[],
    );
    let text = std::fs::read_to_string(&ans).unwrap();
    let c_three =
        format!("[yubikeys.\"C Three\"]\nserial = 7003\npin = \"{YK_PIN}\"\npuk = \"87654321\"\n");
    assert!(text.contains(&c_three), "{text}");
    let text = text
        .replace(&c_three, "")
        .replacen("\"C Five\"]", "\"C Six\"]", 1);
    std::fs::write(
        &ans,
        format!(
            "{text}[yubikeys.\"C Six\"]\nserial = 7006\npin = \"{YK_PIN}\"\npuk = \"87654321\"\n"
        ),
    )
    .unwrap();
    ans
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs root (virtual YubiKeys), an X display and tauri-driver: run under xvfb-run with --ignored"]
#[serial(piv, softhsm)]
async fn replace_custodian_verifies_yubikey_sealed_shares_in_the_window() {
    let mut h = tokio::task::block_in_place(Harness::start);
    let t = TempData::new();
    let data = t.path();
    let dir = t.tmp.path();
    let base = answers(dir);
    for name in [
        "hsm-initialisation",
        "root-key-generation",
        "key-generation-and-backup",
    ] {
        let o = keyrite(
            &data,
            &[
                "ceremony",
                "run",
                script(name).to_str().unwrap(),
                "--answers",
                base.to_str().unwrap(),
            ],
        );
        assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    }
    let enrol = quorum_answers(dir, "enrol", &[], &[], &[]);
    let r = tokio::task::block_in_place(|| {
        run_with_cards(&t, &mut h, &script("custodian-enrolment"), &enrol)
    });
    assert_eq!(r.code, Some(0), "{}{}", r.stdout, r.stderr);

    // Unattended until C Three's share: the CLI stops, naming what it lacks.
    let mark = events(&data).len();
    let ans = replacement_answers(dir);
    let r = tokio::task::block_in_place(|| {
        run_with_cards(&t, &mut h, &script("replace-custodian"), &ans)
    });
    assert_eq!(r.code, Some(1), "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("no [yubikeys.\"C Three\"] section for custodian C Three"),
        "{}",
        r.stderr
    );
    assert_eq!(verified(&events(&data)[mark..]), ["yk-7001", "yk-7002"]);

    // The window resumes the ceremony at C Three's share.
    let s = Session::open(&data).await;
    let path = script("replace-custodian").canonicalize().unwrap();
    s.shortcut('6').await;
    s.wait("#script-form").await;
    s.type_into("#script-path", path.to_str().unwrap()).await;
    s.wait("#script-load").await.click().await.unwrap();
    s.wait("#ceremony-choose[data-state='loaded']").await;
    s.wait("#ceremony-unfinished button[data-resume]")
        .await
        .click()
        .await
        .unwrap();
    s.wait("#ceremony-view").await;

    let mut current: Option<u32> = None;
    let mut opened = Vec::new();
    let summary = loop {
        let kind = s.attr("#ceremony-view", "data-kind").await;
        let heading = s.text("#prompt-form h3").await;
        match kind.as_str() {
            "verify-share" => {
                let name = heading
                    .split_once(" proves share ")
                    .map(|(n, _)| n.to_string())
                    .unwrap_or_else(|| panic!("heading {heading}"));
                let serial = serial_of(&name);
                assert_eq!(
                    s.text("#share-yubikey-insert").await,
                    format!("Insert the YubiKey of {name} (serial {serial}), then enter its PIN.")
                );
                tokio::task::block_in_place(|| {
                    if let Some(old) = current.take() {
                        h.remove(old);
                    }
                    h.insert(&name, serial, 0);
                });
                current = Some(serial);
                if opened.is_empty() {
                    s.screenshot("replace-custodian-verify-yubikey").await;
                }
                s.type_into("#share-yubikey-pin", YK_PIN).await;
                s.submit_prompt().await;
                opened.push(name);
            }
            "instructions" | "confirm-preflight" | "sign-off" => s.submit_prompt().await,
            "pin" => {
                s.type_into("#pin-input", USER_PIN).await;
                s.submit_prompt().await;
            }
            "done" => break s.text("#ceremony-summary").await,
            "exception-decision" => panic!(
                "{heading}: {} (opened so far: {opened:?})",
                s.text("dd[data-field='happened']").await
            ),
            other => panic!("unexpected prompt {other}: {heading}"),
        }
    };
    s.close().await;
    if let Some(old) = current {
        tokio::task::block_in_place(|| h.remove(old));
    }
    drop(h);

    assert_eq!(opened, ["C Three", "C Four", "C Six"]);
    assert!(summary.ends_with(" 0 skipped, 0 exceptions."), "{summary}");
    assert_eq!(
        verified(&events(&data)[mark..]),
        ["yk-7001", "yk-7002", "yk-7003", "yk-7004", "yk-7006"]
    );
    let v = keyrite(&data, &["journal", "verify"]);
    assert!(v.status.success(), "{}{}", stdout(&v), stderr(&v));
}
