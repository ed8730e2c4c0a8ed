//! Issue 10's quorum acceptance in a real window: five custodians enrol their virtual
//! YubiKeys through the GUI (the real `yubikey` crate → pcscd → vpcd → piv-sim, each card
//! inserted when its custodian enrols), then the root KEK is rotated through the GUI. The first
//! request gets two approvals on the custodians' cards (one after a wrong PIN, refused with the
//! card's retry count) and is submitted: refused, explained in the exception dialog, retried;
//! the new request gets three approvals and the rotation ends in a signed record. The CLI then
//! sees the rotated root KEK on the token, the approvals and refusals in the journal.
//! Run as root with `xvfb-run cargo test -p keyrite-tests --test gui -- --ignored gui_quorum::`.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_core::journal::{Event, Journal};
use keyrite_core::words::short_words;
use keyrite_testkit::ceremony::run_answered_ok;
use keyrite_testkit::ceremony::{answers, script, SO_PIN, USER_PIN};
use keyrite_testkit::gui::Session;
use keyrite_testkit::piv::Harness;
use keyrite_testkit::quorum::{token_labels, CUSTODIANS, YK_PIN, YK_PUK};
use keyrite_testkit::{keyrite, stderr, stdout, TempData};
use serial_test::serial;
use std::path::{Path, PathBuf};

/// Who approves the rotation, in order: the first two approve the request that is submitted
/// with too few approvals (the first one mistypes the PIN once), all three the next one.
const APPROVERS: [&str; 3] = ["C One", "C Two", "C Four"];
/// The wrong PIN typed once.
const WRONG_PIN: &str = "135790";

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

fn serial_of(name: &str) -> u32 {
    CUSTODIANS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| *s)
        .unwrap_or_else(|| panic!("{name} is not a custodian of the rehearsal"))
}

fn records(data: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(data.join("records"))
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// Names checked in, by role, in order.
fn name_for(role: &str, n: usize) -> String {
    match role {
        "administrator" => "Ada Admin".into(),
        "witness" => "Wes Witness".into(),
        "auditor" => "Aud Auditor".into(),
        _ => CUSTODIANS[n % 5].0.into(),
    }
}

/// The custodians' cards: one in the reader at a time, as in the room.
struct Cards<'a> {
    h: &'a mut Harness,
    current: Option<u32>,
    inserted: Vec<u32>,
}

impl Cards<'_> {
    fn insert(&mut self, name: &str, serial: u32) {
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
        self.inserted.push(serial);
    }

    fn pull_out(&mut self) {
        if let Some(old) = self.current.take() {
            tokio::task::block_in_place(|| self.h.remove(old));
        }
    }
}

#[derive(Default)]
struct Seen {
    checked_in: std::collections::BTreeMap<String, usize>,
    shots: Vec<&'static str>,
    mismatch_refused: bool,
    no_key_refused: bool,
    wrong_pin_refused: bool,
    /// The first request's hash words, once it was submitted with too few approvals.
    too_few: Option<String>,
}

impl Seen {
    async fn shot(&mut self, s: &Session, name: &'static str) {
        if !self.shots.contains(&name) {
            self.shots.push(name);
            s.screenshot(name).await;
        }
    }
}

/// Answers prompts until the ceremony is done; returns the summary.
async fn drive(s: &Session, cards: &mut Cards<'_>, seen: &mut Seen) -> String {
    loop {
        let kind = s.attr("#ceremony-view", "data-kind").await;
        let heading = s.text("#prompt-form h3").await;
        match kind.as_str() {
            "check-in" => {
                let role = heading.trim_start_matches("Check in: ").to_string();
                let n = seen.checked_in.entry(role.clone()).or_default();
                let name = name_for(&role, *n);
                *n += 1;
                s.type_into("#checkin-name", &name).await;
                s.submit_prompt().await;
            }
            "instructions" | "confirm-preflight" | "sign-off" => s.submit_prompt().await,
            "clock-confirmation" => {
                s.type_into("#clock-reference", "test clock").await;
                s.submit_prompt().await;
            }
            "pin" => {
                let pin = if heading.starts_with("SO") {
                    SO_PIN
                } else {
                    USER_PIN
                };
                s.type_into("#pin-input", pin).await;
                s.submit_prompt().await;
            }
            "enrol-yubikey" => enrol(s, cards, seen).await,
            "choose-key" => choose_key(s, seen).await,
            "approval" => approve(s, cards, seen).await,
            "exception-decision" => retry_after_refusal(s, seen).await,
            "verify-share" => {
                // A root KEK rotation's new share, sealed to the custodian's card: they open it.
                let name = heading
                    .split_once(" proves share ")
                    .map(|(n, _)| n.to_string())
                    .unwrap_or_else(|| panic!("heading {heading}"));
                let serial = CUSTODIANS
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, serial)| *serial)
                    .unwrap_or_else(|| panic!("{name} is not a custodian"));
                cards.insert(&name, serial);
                s.type_into("#share-yubikey-pin", YK_PIN).await;
                s.submit_prompt().await;
            }
            "done" => {
                let summary = s.text("#ceremony-summary").await;
                s.activate("#ceremony-close").await;
                s.wait("#script-form").await;
                return summary;
            }
            other => panic!("unexpected prompt {other}: {heading}"),
        }
    }
}

async fn enrol(s: &Session, cards: &mut Cards<'_>, seen: &mut Seen) {
    let name = s.attr("#prompt-form", "data-custodian-name").await;
    let enrolled = CUSTODIANS.iter().position(|(n, _)| *n == name).unwrap();
    assert_eq!(
        s.text("#prompt-form h3").await,
        format!("Enrol the YubiKey of {name} ({} of 5)", enrolled + 1)
    );
    // No serial is offered: the custodian reads it off their own key.
    assert_eq!(s.value("#enrol-serial").await, "");
    let serial = serial_of(&name);
    cards.insert(&name, serial);
    let fields = [
        ("#enrol-serial", serial.to_string()),
        ("#enrol-current-pin", "123456".to_string()),
        ("#enrol-new-pin", YK_PIN.to_string()),
        ("#enrol-new-pin-again", YK_PIN.to_string()),
        ("#enrol-current-puk", "12345678".to_string()),
        ("#enrol-new-puk", YK_PUK.to_string()),
        ("#enrol-new-puk-again", YK_PUK.to_string()),
    ];
    if !seen.mismatch_refused {
        // The confirmation differs: the form says so, sends nothing and empties the PINs.
        for (css, v) in &fields {
            s.type_into(css, v).await;
        }
        s.type_into("#enrol-new-pin-again", "246811").await;
        let before = s.attr("#ceremony-view", "data-render").await;
        s.activate("#prompt-submit").await;
        assert_eq!(
            s.text("#prompt-error-text").await,
            "The two entries of the new PIN differ: type them again."
        );
        assert_eq!(s.attr("#ceremony-view", "data-render").await, before);
        for (css, _) in &fields[1..] {
            assert_eq!(s.value(css).await, "", "{css} kept a secret");
        }
        s.clear_prompt_error().await;
        seen.mismatch_refused = true;
    }
    for (css, v) in &fields {
        s.type_into(css, v).await;
    }
    s.scroll_to_top("#prompt-form").await;
    seen.shot(s, "quorum-enrol").await;
    s.submit_prompt().await;
}

async fn choose_key(s: &Session, seen: &mut Seen) {
    assert_eq!(
        s.text("#prompt-form h3").await,
        "Step rotate-key: choose the key to rotate"
    );
    if !seen.no_key_refused {
        s.activate("#prompt-submit").await;
        assert_eq!(
            s.text("#prompt-error-text").await,
            "Choose a key first (arrow keys move through the list)."
        );
        s.clear_prompt_error().await;
        seen.no_key_refused = true;
    }
    let labels: Vec<String> = {
        let mut v = Vec::new();
        for e in s.all("#key-choices input[type=radio]").await {
            v.push(e.attr("data-label").await.unwrap().unwrap_or_default());
        }
        v.sort();
        v
    };
    assert_eq!(
        labels,
        [
            "keyrite-record-signing",
            "keyrite-root-kek",
            "keyrite-signing-key"
        ],
        "the keys the CLI generated on this token"
    );
    s.check_radio("#key-choices input[data-label='keyrite-root-kek']")
        .await;
    seen.shot(s, "quorum-choose-key").await;
    s.submit_prompt().await;
}

async fn approve(s: &Session, cards: &mut Cards<'_>, seen: &mut Seen) {
    let k: usize = s
        .attr("#prompt-form", "data-approved")
        .await
        .parse()
        .unwrap();
    assert_eq!(s.attr("#prompt-form", "data-needed").await, "3");
    assert_eq!(
        s.text("#approval-progress").await,
        format!("{k} of 3 approvals")
    );
    assert_eq!(
        s.text("#prompt-form h3").await,
        "Approve: rotate of key “keyrite-root-kek”"
    );
    // The words custodians compare are the request's SHA-256 (shown in hex beside them).
    let hex = s.text("dd[data-field='request-sha256']").await;
    assert_eq!(
        s.text("#approval-hash-words").await,
        short_words(&hex::decode(&hex).unwrap(), 4)
    );
    let request = s.text("#approval-request").await;
    assert!(
        request.starts_with("rotate key \"keyrite-root-kek\""),
        "{request}"
    );
    let approved: Vec<String> = {
        let mut v = Vec::new();
        for e in s.all("#approval-approved li").await {
            v.push(e.text().await.unwrap());
        }
        v
    };
    let want: Vec<String> = APPROVERS[..k]
        .iter()
        .map(|n| format!("✔ {n} — YubiKey {}", serial_of(n)))
        .collect();
    assert_eq!(approved, want);
    // Every enrolled custodian who has not approved is a candidate, all checked in.
    let candidates = s.all("#approval-candidates label").await;
    assert_eq!(candidates.len(), 5 - k);
    for c in candidates {
        let t = c.text().await.unwrap().to_lowercase();
        assert!(
            t.ends_with(" checked in") && !t.contains("not checked in"),
            "{t}"
        );
    }

    if k == 2 && seen.too_few.is_none() {
        submit_too_few(s, seen).await;
        return;
    }
    let name = APPROVERS[k];
    let serial = serial_of(name);
    cards.insert(name, serial);
    s.check_radio(&format!(
        "#approval-candidates input[data-custodian='yk-{serial}']"
    ))
    .await;
    assert_eq!(
        s.text("#approval-insert").await,
        format!("Insert the YubiKey of {name} (serial {serial}), then enter the PIN.")
    );
    let refusal = format!("wrong PIN for YubiKey {serial}: 2 tries left before the PIN is blocked");
    if !seen.wrong_pin_refused {
        // A wrong PIN: the card counts a try, the engine refuses, the screen explains; the PIN
        // field is empty again and the same custodian stays chosen.
        s.type_into("#approval-pin", WRONG_PIN).await;
        s.activate("#prompt-submit").await;
        assert_eq!(s.text("#prompt-error-text").await, refusal);
        assert_eq!(
            s.text("#approval-failures li").await,
            format!("yk-{serial}: {refusal}")
        );
        assert_eq!(s.value("#approval-pin").await, "");
        assert_eq!(
            s.text("#approval-insert").await,
            format!("Insert the YubiKey of {name} (serial {serial}), then enter the PIN.")
        );
        assert_eq!(s.text("#approval-progress").await, "0 of 3 approvals");
        s.scroll_to_top("#prompt-error").await;
        seen.shot(s, "quorum-approval-refused").await;
        s.clear_prompt_error().await;
        seen.wrong_pin_refused = true;
    }
    s.type_into("#approval-pin", YK_PIN).await;
    if k == 1 {
        s.scroll_to_top("#prompt-form").await;
        seen.shot(s, "quorum-approval").await;
        s.scroll_to("#approval-insert").await;
        seen.shot(s, "quorum-approval-insert").await;
    }
    s.submit_prompt().await;
    if k + 1 == 3 {
        cards.pull_out();
    }
}

/// "No more approvals: submit" with 2 of 3: the screen warns, then the engine refuses the
/// rotation and raises an exception.
async fn submit_too_few(s: &Session, seen: &mut Seen) {
    seen.too_few = Some(s.text("#approval-hash-words").await);
    s.activate("#approval-finish").await;
    assert_eq!(
        s.text("#approval-finish-warning").await,
        "Only 2 of the 3 approvals needed: the rotate operation will be refused, the refusal journaled, and the step raises an exception."
    );
    s.scroll_to("#approval-finish-box").await;
    seen.shot(s, "quorum-approval-submit").await;
    let before = s.attr("#ceremony-view", "data-render").await;
    s.activate("#approval-finish-confirm").await;
    s.after_render(&before).await;
}

/// The refusal of the first request, explained in the exception dialog; the witness and the
/// administrator retry the step (a new request, approved by three).
async fn retry_after_refusal(s: &Session, seen: &mut Seen) {
    let words = seen.too_few.as_deref().expect("a refused request");
    let happened = s.text("dd[data-field='happened']").await;
    assert!(
        happened.ends_with(&format!(
            "was refused: 2 of the 3 required approvals for request {words}: the operation needs 3 distinct enrolled custodians"
        )),
        "{happened}"
    );
    s.check_radio("#exception-decision input[value='retry']")
        .await;
    for who in ["witness-1", "administrator-1"] {
        s.activate(&format!("#exception-who input[data-participant='{who}']"))
            .await;
    }
    s.type_into(
        "#exception-reason",
        "C Four had stepped out; make a new request and approve with three",
    )
    .await;
    s.submit_prompt().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs root (virtual YubiKeys), an X display and tauri-driver: run under xvfb-run with --ignored"]
#[serial(piv, softhsm)]
async fn custodians_enrol_and_approve_a_root_kek_rotation_with_virtual_yubikeys_in_the_window() {
    let mut h = tokio::task::block_in_place(Harness::start);
    let t = TempData::new();
    let data = t.path();
    // The token, the root KEK (3 of 5) and a backed-up key, through the CLI.
    let base = answers(t.tmp.path());
    for name in [
        "hsm-initialisation",
        "root-key-generation",
        "key-generation-and-backup",
    ] {
        run_answered_ok(&data, &script(name), &base);
    }
    let mark = events(&data).len();
    let cli_records = records(&data);

    let s = Session::open(&data).await;
    let mut cards = Cards {
        h: &mut h,
        current: None,
        inserted: Vec::new(),
    };
    let mut seen = Seen::default();

    // Enrolment: each custodian's card goes in when they enrol, in check-in order.
    s.start_ceremony(&script("custodian-enrolment")).await;
    let summary = drive(&s, &mut cards, &mut seen).await;
    assert_eq!(summary, "5 steps completed, 0 skipped, 0 exceptions.");
    assert_eq!(cards.inserted, CUSTODIANS.map(|(_, n)| n).to_vec());

    // Rotation of the root KEK with three approvals on the custodians' cards.
    cards.pull_out();
    cards.inserted.clear();
    seen.checked_in.clear();
    s.start_ceremony(&script("key-rotation")).await;
    let summary = drive(&s, &mut cards, &mut seen).await;
    assert_eq!(summary, "6 steps completed, 0 skipped, 1 exceptions.");
    assert_eq!(
        cards.inserted,
        [7_001, 7_002, 7_001, 7_002, 7_004, 7_001, 7_002, 7_003, 7_004, 7_005],
        "two approvers' cards for the refused request, three for the approved one, then every \
         custodian's to open their new share"
    );
    assert!(seen.mismatch_refused && seen.no_key_refused && seen.wrong_pin_refused);
    let too_few = seen
        .too_few
        .expect("the request submitted with too few approvals");
    s.close().await;
    drop(cards);
    drop(h);

    // What the window did, as the CLI and the journal see it.
    let labels = token_labels(&data);
    assert!(
        labels.contains(&"keyrite-root-kek-r2".to_string()),
        "{labels:?}"
    );
    assert!(
        !labels.contains(&"keyrite-root-kek".to_string()),
        "{labels:?}"
    );
    let ev = events(&data);
    let enrolled: Vec<(String, u32)> = ev[mark..]
        .iter()
        .filter_map(|e| match e {
            Event::CustodianEnrolled {
                name,
                yubikey_serial,
                ..
            } => Some((name.clone(), *yubikey_serial)),
            _ => None,
        })
        .collect();
    assert_eq!(
        enrolled,
        CUSTODIANS.map(|(n, s)| (n.to_string(), s)).to_vec()
    );
    let granted: Vec<&str> = ev[mark..]
        .iter()
        .filter_map(|e| match e {
            Event::ApprovalGranted { custodian_id, .. } => Some(custodian_id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(granted, ["yk-7001", "yk-7002", "yk-7004"]);
    let refused: Vec<(&str, &str)> = ev[mark..]
        .iter()
        .filter_map(|e| match e {
            Event::ApprovalRefused {
                custodian_id,
                reason,
                ..
            } => Some((custodian_id.as_str(), reason.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(
        refused,
        [
            ("quorum", format!("2 of the 3 required approvals for request {too_few}: the operation needs 3 distinct enrolled custodians").as_str()),
            (
                "yk-7001",
                "attempt failed before the quorum check: wrong PIN for YubiKey 7001: 2 tries left before the PIN is blocked"
            )
        ]
    );
    let v = keyrite(&data, &["journal", "verify"]);
    assert!(v.status.success(), "{}{}", stdout(&v), stderr(&v));

    // Both ceremonies ended in a signed record (PAdES, as poppler reads it); both
    // pass `keyrite record verify` in full.
    let new: Vec<PathBuf> = records(&data)
        .into_iter()
        .filter(|r| !cli_records.contains(r))
        .collect();
    assert_eq!(new.len(), 2, "{new:?}");
    let verify = |r: &Path| {
        let v = keyrite(
            &data,
            &[
                "record",
                "verify",
                r.to_str().unwrap(),
                "--journal",
                data.join("journal.sqlite").to_str().unwrap(),
            ],
        );
        (v.status.success(), stdout(&v))
    };
    for r in &new {
        let sig = std::process::Command::new("pdfsig")
            .arg(r)
            .output()
            .expect("pdfsig (poppler-utils)");
        let sig_out = String::from_utf8_lossy(&sig.stdout);
        assert!(sig_out.contains("Signature is Valid."), "{sig_out}");
        assert!(sig_out.contains("Total document signed"), "{sig_out}");
    }
    let name = |r: &PathBuf| r.file_name().unwrap().to_string_lossy().into_owned();
    let enrolment = new
        .iter()
        .find(|r| name(r).starts_with("custodian-enrolment-"))
        .expect("the enrolment record");
    let (ok, out) = verify(enrolment);
    assert!(ok, "{out}");
    assert!(out.starts_with("VALID: record of ceremony "), "{out}");
    let rotation = new
        .iter()
        .find(|r| name(r).starts_with("key-rotation-"))
        .expect("the rotation record");
    // The rotation record verifies in full, approvals included: each granted approval is
    // checked against the custodian's enrolled 9c key over the canonical request text.
    let (ok, out) = verify(rotation);
    assert!(ok, "{out}");
    assert!(out.starts_with("VALID: record of ceremony "), "{out}");
}
