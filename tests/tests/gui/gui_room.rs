//! What the room does around the steps, in the window, on a SoftHSM2 store of the test's own
//! reached through OpenSC's PKCS#11 spy (the site profile's `hsm.module` is the spy;
//! `PKCS11SPY` names SoftHSM2, `PKCS11SPY_OUTPUT` the log the desktop writes every PKCS#11 call
//! to), printing on a private CUPS scheduler:
//! - a check-in corrected: the auditor's name typed ahead onto the witness's seat is put right
//!   with "Correct a check-in…" (a refusal beside the name field first), offered until the
//!   token's initialisation and not after; the signed record lists the correction;
//! - the done screen: the closing checkpoint's QR code scanned from a screenshot is the
//!   checkpoint's signed text (and `keyrite journal verify --checkpoint` accepts the scan);
//!   "Print the record" says why it cannot print without a queue, then prints the signed PDF
//!   byte for byte on CUPS's default destination, naming the queue and job;
//! - one wrong PIN costs one failed login: in the root-key generation a wrong user PIN is typed
//!   once, the window clears the field and asks again with the token's words on the tries
//!   left, then the right one. The spy's log holds exactly one `C_Login` that did not return
//!   `CKR_OK` — `CKR_PIN_INCORRECT` — and the rejected PIN appears in it once: never re-sent.
//!
//! Run with `xvfb-run cargo test --workspace --test gui_room -- --ignored` (as root: the
//! private cupsd runs its copying backend as root).
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_testkit::ceremony::{script, SO_PIN, USER_PIN};
use keyrite_testkit::cups::PrivateCups;
use keyrite_testkit::gui::Session;
use keyrite_testkit::hsm::{keyrite_fds, softhsm_store};
use keyrite_testkit::{stderr, stdout, TempData};
use std::path::{Path, PathBuf};

/// OpenSC's PKCS#11 spy (Debian's `opensc-pkcs11`).
const SPY: &str = "/usr/lib/x86_64-linux-gnu/pkcs11-spy.so";
const SOFTHSM2: &str = "/usr/lib/softhsm/libsofthsm2.so";
/// The SO PIN the token has before the ceremony (set by `keyrite hsm init`).
const OLD_SO: &str = "so-Old-48151";
const OLD_USER: &str = "us-Old-48151";
const WRONG: &str = "wrong-pin-0000";
/// The private CUPS scheduler's queue (made CUPS's default destination mid-test).
const QUEUE: &str = "keyrite-records";

/// A site: the token store, a profile reaching SoftHSM2 through the spy (the window's) and one
/// reaching it directly (the test's own CLI calls, so the spy's log holds only the window's
/// calls).
struct Site {
    t: TempData,
    conf: PathBuf,
    spied: PathBuf,
    direct: PathBuf,
    log: PathBuf,
}

impl Site {
    fn new() -> Self {
        let t = TempData::new();
        let conf = softhsm_store(t.tmp.path());
        let profile = |name: &str, module: &str| {
            let p = t.scratch(name);
            std::fs::write(
                &p,
                format!(
                    "version = 1\n[site]\nname = \"Spy lab\"\nmode = \"rehearsal\"\n[hsm]\n\
                     module = \"{module}\"\ntoken_label = \"keyrite\"\n"
                ),
            )
            .unwrap();
            p
        };
        let spied = profile("spied.toml", SPY);
        let direct = profile("direct.toml", SOFTHSM2);
        let log = t.scratch("pkcs11-spy.log");
        Site {
            conf,
            spied,
            direct,
            log,
            t,
        }
    }

    fn data(&self) -> PathBuf {
        self.t.path()
    }

    /// `keyrite --profile direct.toml ARGS` with the PINs `pins` on their descriptors.
    fn cli(&self, args: &[&str], pins: &[(i32, &str)]) -> std::process::Output {
        let mut all = vec!["--profile", self.direct.to_str().unwrap()];
        all.extend_from_slice(args);
        let lines: Vec<(i32, String)> = pins.iter().map(|(f, s)| (*f, format!("{s}\n"))).collect();
        let refs: Vec<(i32, &str)> = lines.iter().map(|(f, s)| (*f, s.as_str())).collect();
        let env = [("SOFTHSM2_CONF", self.conf.to_str().unwrap())];
        keyrite_fds(&self.data(), &all, &env, &refs, "")
    }

    /// The token's serial and whether it reports a wrong user PIN since the last good one.
    fn token(&self) -> (String, bool) {
        let o = self.cli(&["hsm", "info", "--json"], &[]);
        assert!(o.status.success(), "{}", stderr(&o));
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        let t = v["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["label"] == "keyrite")
            .unwrap_or_else(|| panic!("no token \"keyrite\" in {v}"))
            .clone();
        (
            t["serial"].as_str().unwrap().to_string(),
            t["flags"]["user_pin_count_low"].as_bool().unwrap(),
        )
    }

    async fn open(&self, cups: &PrivateCups) -> Session {
        let server = cups.server();
        let env = [
            ("CUPS_SERVER", server.to_str().unwrap()),
            ("SOFTHSM2_CONF", self.conf.to_str().unwrap()),
            ("PKCS11SPY", SOFTHSM2),
            ("PKCS11SPY_OUTPUT", self.log.to_str().unwrap()),
        ];
        Session::open_with(
            &self.data(),
            &["--profile", self.spied.to_str().unwrap()],
            &env,
        )
        .await
    }

    /// The spy's log: every `C_Login` with what it returned, and how often `pin` was sent.
    fn logins(&self, pin: &str) -> (Vec<String>, usize) {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut logins = Vec::new();
        let mut in_login = false;
        for line in log.lines() {
            if line.contains(": C_") {
                in_login = line.ends_with(": C_Login");
            } else if in_login && line.starts_with("Returned:") {
                logins.push(line.trim_start_matches("Returned:").trim().to_string());
                in_login = false;
            }
        }
        // The spy dumps a PIN as hex and as text, on one line for a PIN of up to 16 bytes.
        (logins, log.matches(pin).count())
    }
}

/// A name for the `n`-th check-in of `role`.
fn name_for(role: &str, n: usize) -> String {
    match role {
        "administrator" => "Ada Admin".into(),
        "witness" => "Wes Witness".into(),
        "auditor" => "Aud Auditor".into(),
        _ => ["C One", "C Two", "C Three", "C Four", "C Five"][n % 5].into(),
    }
}

/// Where [`drive`] stopped.
#[derive(Debug, PartialEq, Eq)]
enum Stop {
    Done,
    UserPin,
}

/// Answers prompts until the done screen or (with `user_pin`) the first user-PIN prompt.
/// With `correct`, the auditor's name is typed ahead onto the witness's seat and corrected
/// (see [`correct_check_in`]); "Correct a check-in…" is offered until the token is
/// initialised, and not after.
async fn drive(s: &Session, user_pin: bool, correct: bool) -> Stop {
    let mut checked_in: std::collections::BTreeMap<String, usize> = Default::default();
    let mut acted = false;
    loop {
        let kind = s.attr("#ceremony-view", "data-kind").await;
        let heading = s.text("#prompt-form h3").await;
        if correct && kind != "done" && !checked_in.is_empty() {
            assert_eq!(
                s.all("#ceremony-correct").await.len(),
                usize::from(!acted),
                "Correct a check-in… at {kind} ({heading}), token initialised: {acted}"
            );
        }
        match kind.as_str() {
            "done" => return Stop::Done,
            "check-in" if correct && heading == "Check in: witness" => {
                s.type_into("#checkin-name", "Aud Auditor").await;
                checked_in.insert("witness".into(), 1);
            }
            "check-in" if correct && heading == "Check in: auditor" => {
                correct_check_in(s).await;
                s.type_into("#checkin-name", "Aud Auditor").await;
                checked_in.insert("auditor".into(), 1);
            }
            "check-in" => {
                let role = heading.trim_start_matches("Check in: ").to_string();
                let n = checked_in.entry(role.clone()).or_default();
                s.type_into("#checkin-name", &name_for(&role, *n)).await;
                *n += 1;
            }
            "clock-confirmation" => s.type_into("#clock-reference", "test clock").await,
            "current-so-pin" => s.type_into("#current-so-pin", OLD_SO).await,
            "new-pins" => {
                // The token is initialised once these are submitted: its first HSM action.
                acted = true;
                for (id, pin) in [
                    ("#new-so", SO_PIN),
                    ("#new-so-again", SO_PIN),
                    ("#new-user", USER_PIN),
                    ("#new-user-again", USER_PIN),
                ] {
                    s.type_into(id, pin).await;
                }
            }
            // A PIN refused here would be a mistake of this driver: stop at once rather than
            // send it again.
            "pin" if !s.all("#pin-rejected").await.is_empty() => {
                panic!("{}", s.text("#pin-rejected").await)
            }
            "pin" if heading.starts_with("SO") => s.type_into("#pin-input", SO_PIN).await,
            "pin" if user_pin => return Stop::UserPin,
            "pin" => s.type_into("#pin-input", USER_PIN).await,
            "instructions" | "confirm-preflight" | "sign-off" => {}
            other => panic!("unexpected prompt {other} ({heading})"),
        }
        s.submit_prompt().await;
    }
}

/// The witness's seat holds the auditor's name (typed ahead): "Correct a check-in…" by
/// keyboard, a refusal beside the name field (the administrator cannot also be the witness),
/// then the right name with a reason; the status panel shows it.
async fn correct_check_in(s: &Session) {
    s.activate("#ceremony-correct").await;
    s.wait("#correct-dialog").await;
    assert!(
        s.focus_is("#correct-seat").await,
        "the dialog opens on the seat"
    );
    s.select("#correct-seat", "witness-1").await;
    s.type_into("#correct-name", "Ada Admin").await;
    s.type_into("#correct-reason", "the auditor's name was typed ahead")
        .await;
    s.screenshot("ceremony-correct-dialog").await;
    s.activate("#correct-confirm").await;
    assert_eq!(
        s.text("#correct-error").await,
        "the answer does not fit: \"Ada Admin\" has already checked in as administrator-1 \
         (administrator); one person holds one role unless the script allows the combination \
         ([roles] combine = [[\"administrator\", \"witness\"]]), and this script does not: \
         check in another witness"
    );
    assert!(
        s.focus_is("#correct-name").await,
        "the refused field has the focus"
    );
    s.type_into("#correct-name", "Wes Witness").await;
    let before = s.attr("#ceremony-view", "data-render").await;
    s.activate("#correct-confirm").await;
    s.after_render(&before).await;
    assert!(s.all("#correct-dialog").await.is_empty());
    assert_eq!(
        s.text("#ceremony-progress").await,
        "Check-in corrected: witness-1 is Wes Witness."
    );
    assert_eq!(
        s.text("#ceremony-participants li[data-participant='witness-1']")
            .await,
        "Wes Witness — witness-1"
    );
    assert_eq!(s.attr("#ceremony-view", "data-kind").await, "check-in");
}

fn init_token(site: &Site) {
    let o = site.cli(
        &[
            "hsm",
            "init",
            "--label",
            "keyrite",
            "--so-pin-fd",
            "3",
            "--pin-fd",
            "4",
        ],
        &[(3, OLD_SO), (4, OLD_USER)],
    );
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs an X display and tauri-driver: run under xvfb-run with --ignored"]
#[serial_test::serial(softhsm)]
async fn one_wrong_pin_is_one_failed_login_and_is_never_sent_again() {
    assert!(Path::new(SPY).exists(), "{SPY} (Debian's opensc-pkcs11)");
    let site = Site::new();
    init_token(&site);
    let cups = PrivateCups::start().unwrap_or_else(|why| panic!("the private cupsd: {why}"));
    cups.add_raw_queue(QUEUE)
        .unwrap_or_else(|why| panic!("adding queue {QUEUE}: {why}\n{}", cups.logs()));
    let s = site.open(&cups).await;

    // HSM initialisation (the new user PIN is used as set: nothing asks it), to its done
    // screen: the checkpoint's QR code and printing the record.
    s.start_ceremony(&script("hsm-initialisation")).await;
    assert_eq!(drive(&s, true, true).await, Stop::Done);
    done_screen(&s, &site, &cups).await;
    s.activate("#ceremony-close").await;
    s.wait("#script-form").await;

    // Root key generation, up to its first user PIN.
    s.start_ceremony(&script("root-key-generation")).await;
    assert_eq!(drive(&s, true, false).await, Stop::UserPin);
    let (serial, low) = site.token();
    assert!(!low, "no wrong PIN was given yet");
    let (before, sent) = site.logins(WRONG);
    assert!(
        !before.iter().any(|r| r.contains("CKR_PIN_INCORRECT")),
        "{before:?}"
    );
    assert!(!before.is_empty(), "the window logs in through the spy");
    assert_eq!(sent, 0);

    // The wrong PIN: rejected once, the field emptied and asked again with the tries left.
    s.type_into("#pin-input", WRONG).await;
    s.submit_prompt().await;
    assert_eq!(s.attr("#ceremony-view", "data-kind").await, "pin");
    assert_eq!(
        s.text("#pin-rejected").await,
        format!(
            "the user PIN was rejected by token \"keyrite\" (serial {serial}): CKR_PIN_INCORRECT \
             (the PIN is wrong); the token does not say how many tries are left (it reports \
             CKF_USER_PIN_COUNT_LOW: a wrong PIN was given since the last good one); the PIN was \
             dropped and nothing more was sent to the token: give it again"
        )
    );
    assert_eq!(s.value("#pin-input").await, "");
    assert!(site.token().1, "the token counts one wrong PIN");
    let (after_wrong, sent) = site.logins(WRONG);
    assert_eq!(
        after_wrong
            .iter()
            .filter(|r| r.contains("CKR_PIN_INCORRECT"))
            .count(),
        1,
        "{after_wrong:?}"
    );
    assert_eq!(sent, 1, "the wrong PIN reached the token once");

    // The right one: accepted (the token's count is cleared), and the ceremony goes on.
    s.type_into("#pin-input", USER_PIN).await;
    s.submit_prompt().await;
    assert_ne!(s.attr("#ceremony-view", "data-kind").await, "pin");
    assert!(!site.token().1, "a good login clears the count");
    s.close().await;

    let (logins, sent) = site.logins(WRONG);
    let failed: Vec<&String> = logins.iter().filter(|r| !r.ends_with("CKR_OK")).collect();
    assert_eq!(
        failed,
        ["160 CKR_PIN_INCORRECT"],
        "every C_Login through the spy: {logins:?}"
    );
    assert_eq!(sent, 1, "the rejected PIN was never sent again");
}

/// The done screen of the HSM initialisation: the closing checkpoint's QR code decodes to the
/// checkpoint's signed text (the file the CLI verifies the journal against), and "Print the
/// record" says why it cannot print without a queue, then prints the signed PDF byte for byte
/// on CUPS's default queue.
async fn done_screen(s: &Session, site: &Site, cups: &PrivateCups) {
    assert_eq!(s.attr("#prompt-form", "data-outcome").await, "completed");
    let file = s
        .text("#prompt-form dd[data-field='checkpoint-file']")
        .await;
    let text = std::fs::read_to_string(&file).unwrap();
    s.scroll_to("#checkpoint-qr").await;
    let png = s.client.screenshot().await.unwrap();
    let shot = site.t.scratch("done.png");
    std::fs::write(&shot, png).unwrap();
    let z = std::process::Command::new("zbarimg")
        .args(["--raw", "-q"])
        .arg(&shot)
        .output()
        .expect("zbarimg (zbar-tools)");
    let scanned = String::from_utf8_lossy(&z.stdout).to_string();
    assert_eq!(scanned.trim_end(), text.trim_end());
    // What was scanned is what the CLI verifies the journal against.
    let scan = site.t.scratch("scanned.txt");
    std::fs::write(&scan, &scanned).unwrap();
    let v = site.cli(
        &[
            "journal",
            "verify",
            "--checkpoint",
            scan.to_str().unwrap(),
            "--json",
        ],
        &[],
    );
    assert!(v.status.success(), "{}{}", stdout(&v), stderr(&v));
    let v: serde_json::Value = serde_json::from_str(&stdout(&v)).unwrap();
    assert_eq!(
        v["checkpoint"][0].to_string(),
        s.text("#prompt-form dd[data-field='checkpoint-size']")
            .await
    );
    s.scroll_to("#ceremony-outcome").await;
    s.screenshot("ceremony-done-qr").await;

    // No queue yet: the cause, beside the button; nothing printed.
    s.activate("#done-print-button").await;
    s.wait("#done-print[data-state='error']").await;
    assert_eq!(
        s.text("#done-print-text").await,
        "no print queue: the site profile names none ([printing] share_cards) and CUPS has no \
         default destination (lpstat -d said: no system default destination); set one with \
         `lpadmin -d QUEUE`"
    );
    assert_eq!(
        s.attr("#done-print-button", "aria-describedby").await,
        "done-print"
    );
    // CUPS's default destination: printed there, the signed PDF byte for byte.
    cups.client("lpadmin", &["-d", QUEUE]).unwrap();
    s.activate("#done-print-button").await;
    s.wait("#done-print[data-state='printed']").await;
    let jobs = cups
        .wait_for_jobs(1, std::time::Duration::from_secs(60))
        .unwrap();
    let [job] = jobs.as_slice() else {
        panic!("one job expected: {jobs:?}")
    };
    let n = job
        .file_stem()
        .unwrap()
        .to_str()
        .unwrap()
        .trim_start_matches("job-")
        .to_string();
    assert_eq!(
        s.text("#done-print-text").await,
        format!("Sent to print queue {QUEUE} as job {QUEUE}-{n}.")
    );
    let record = s.text("#prompt-form dd[data-field='record-path']").await;
    assert_eq!(std::fs::read(job).unwrap(), std::fs::read(&record).unwrap());
    // The record verifies and lists the check-in corrected in the window.
    let journal = site.data().join("journal.sqlite");
    let v = site.cli(
        &[
            "record",
            "verify",
            &record,
            "--journal",
            journal.to_str().unwrap(),
        ],
        &[],
    );
    assert!(v.status.success(), "{}{}", stdout(&v), stderr(&v));
    let text = std::process::Command::new("pdftotext")
        .args([record.as_str(), "-"])
        .output()
        .expect("pdftotext (poppler-utils)");
    let text = String::from_utf8_lossy(&text.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        text.contains(
            "Check-in corrections witness-1 (witness seat 1): checked in as \"Aud Auditor\", \
             corrected to \"Wes Witness\" at "
        ),
        "{text}"
    );
    assert!(
        text.contains("reason: the auditor's name was typed ahead"),
        "{text}"
    );
    s.screenshot("ceremony-done-printed").await;
}
