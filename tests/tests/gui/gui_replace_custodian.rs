//! `replace-custodian` runs entirely in the window, up to its record: C Six enrols a new
//! YubiKey, C One, C Two and C Six approve the new share set on their cards, and in
//! `verify-new-shares` each of the five custodians opens their new share, sealed to their
//! YubiKey, with the card and its PIN (the `share-yubikey` answer the hand-written UI types had
//! lost, so the step could not finish on the desktop).
//!
//! The CLI prepares the site first: token, root KEK 3 of 5, enrolment of five virtual YubiKeys.
//! Run as root with `xvfb-run cargo test -p keyrite-tests --test gui -- --ignored gui_replace_custodian::`.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_core::journal::{Event, Journal};
use keyrite_testkit::ceremony::{answers, script, SO_PIN, USER_PIN};
use keyrite_testkit::gui::drive::{records, verified_record};
use keyrite_testkit::gui::Session;
use keyrite_testkit::piv::Harness;
use keyrite_testkit::quorum::{quorum_answers, run_with_cards, CUSTODIANS, YK_PIN, YK_PUK};
use keyrite_testkit::{keyrite, stderr, stdout, TempData};
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

/// The custodians of the new set, in check-in order: C Six replaces C Five.
const NEW_SET: [&str; 5] = ["C One", "C Two", "C Three", "C Four", "C Six"];
/// Who approves the new set.
const APPROVERS: [&str; 3] = ["C One", "C Two", "C Six"];

/// One card in the reader at a time, as in the room.
struct Reader<'a> {
    h: &'a mut Harness,
    current: Option<u32>,
}

impl Reader<'_> {
    fn insert(&mut self, name: &str) {
        let serial = serial_of(name);
        if self.current == Some(serial) {
            return;
        }
        tokio::task::block_in_place(|| {
            if let Some(old) = self.current.take() {
                self.h.remove(old);
            }
            self.h.insert(name, serial, 0);
        });
        self.current = Some(serial);
    }

    fn pull_out(&mut self) {
        if let Some(old) = self.current.take() {
            tokio::task::block_in_place(|| self.h.remove(old));
        }
    }
}

async fn enrol(s: &Session, reader: &mut Reader<'_>) {
    let name = s.attr("#prompt-form", "data-custodian-name").await;
    assert_eq!(name, "C Six");
    reader.insert(&name);
    for (css, v) in [
        ("#enrol-serial", serial_of(&name).to_string()),
        ("#enrol-current-pin", "123456".to_string()),
        ("#enrol-new-pin", YK_PIN.to_string()),
        ("#enrol-new-pin-again", YK_PIN.to_string()),
        ("#enrol-current-puk", "12345678".to_string()),
        ("#enrol-new-puk", YK_PUK.to_string()),
        ("#enrol-new-puk-again", YK_PUK.to_string()),
    ] {
        s.type_into(css, &v).await;
    }
    s.submit_prompt().await;
}

async fn approve(s: &Session, reader: &mut Reader<'_>) {
    let k: usize = s
        .attr("#prompt-form", "data-approved")
        .await
        .parse()
        .unwrap();
    let name = APPROVERS[k];
    reader.insert(name);
    s.check_radio(&format!(
        "#approval-candidates input[data-custodian='yk-{}']",
        serial_of(name)
    ))
    .await;
    s.type_into("#approval-pin", YK_PIN).await;
    s.submit_prompt().await;
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
    let enrolment = quorum_answers(dir, "enrol", &[], &[], &[]);
    let r = tokio::task::block_in_place(|| {
        run_with_cards(&t, &mut h, &script("custodian-enrolment"), &enrolment)
    });
    assert_eq!(r.code, Some(0), "{}{}", r.stdout, r.stderr);

    // The replacement, entirely in the window.
    let mark = events(&data).len();
    let before = records(&data);
    let s = Session::open(&data).await;
    s.start_ceremony(&script("replace-custodian")).await;
    let mut reader = Reader {
        h: &mut h,
        current: None,
    };
    let mut checked_in: std::collections::BTreeMap<String, usize> = Default::default();
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
                reader.insert(&name);
                if opened.is_empty() {
                    s.screenshot("replace-custodian-verify-yubikey").await;
                }
                s.type_into("#share-yubikey-pin", YK_PIN).await;
                s.submit_prompt().await;
                opened.push(name);
            }
            "check-in" => {
                let role = heading.trim_start_matches("Check in: ").to_string();
                let n = checked_in.entry(role.clone()).or_default();
                let name = match role.as_str() {
                    "administrator" => "Ada Admin".to_string(),
                    "witness" => "Wes Witness".to_string(),
                    "auditor" => "Aud Auditor".to_string(),
                    _ => NEW_SET[*n % 5].to_string(),
                };
                *n += 1;
                s.type_into("#checkin-name", &name).await;
                s.submit_prompt().await;
            }
            "clock-confirmation" => {
                s.type_into("#clock-reference", "test clock").await;
                s.submit_prompt().await;
            }
            "enrol-yubikey" => enrol(&s, &mut reader).await,
            "approval" => approve(&s, &mut reader).await,
            "instructions" | "confirm-preflight" | "sign-off" => s.submit_prompt().await,
            "pin" => {
                let pin = if heading.starts_with("SO") {
                    SO_PIN
                } else {
                    USER_PIN
                };
                s.type_into("#pin-input", pin).await;
                s.submit_prompt().await;
            }
            "done" => {
                let summary = s.text("#ceremony-summary").await;
                s.activate("#ceremony-close").await;
                break summary;
            }
            "exception-decision" => panic!(
                "{heading}: {} (opened so far: {opened:?})",
                s.text("dd[data-field='happened']").await
            ),
            other => panic!("unexpected prompt {other}: {heading}"),
        }
    };
    s.close().await;
    reader.pull_out();
    drop(h);

    assert_eq!(opened, NEW_SET);
    assert_eq!(summary, "8 steps completed, 0 skipped, 0 exceptions.");
    assert_eq!(
        verified(&events(&data)[mark..]),
        ["yk-7001", "yk-7002", "yk-7003", "yk-7004", "yk-7006"]
    );
    let v = keyrite(&data, &["journal", "verify"]);
    assert!(v.status.success(), "{}{}", stdout(&v), stderr(&v));
    // Its record passes `keyrite record verify` (exit 0, VALID) and pdfsig.
    verified_record(&data, &before, "replace-custodian");
}
