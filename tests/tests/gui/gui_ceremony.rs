//! The root-key ceremony (HSM initialisation, then root key generation 3 of 5, rehearsal) run
//! entirely through the window on the embedded SoftHSM2: script chosen by path with its hash
//! in words, check-in, instructions, preflight, clock, PINs, share distribution one custodian
//! at a time (shown, typed back, cleared), share verification typed from the screen copies,
//! sign-offs, an exception (clock beyond tolerance, retried), a resume after the app was closed
//! mid-ceremony, and the signed records at the end.
//! Run with `xvfb-run cargo test -p keyrite-tests --test gui -- --ignored gui_ceremony::`.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_core::script::Script;
use keyrite_testkit::ceremony::{script, SO_PIN, USER_PIN};
use keyrite_testkit::gui::Session;
use keyrite_testkit::hsm::keyrite_fds;
use keyrite_testkit::room::{completed, drive as drive_terminal, Site, WRONG_TYPE_BACK};
use keyrite_testkit::{keyrite, stderr, stdout, TempData};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// Names checked in, by role, in order.
fn name_for(role: &str, n: usize) -> String {
    match role {
        "administrator" => "Ada Admin".into(),
        "witness" => "Wes Witness".into(),
        "auditor" => "Aud Auditor".into(),
        _ => ["C One", "C Two", "C Three", "C Four", "C Five"][n % 5].into(),
    }
}

struct Run {
    shares: BTreeMap<u8, String>,
    checked_in: BTreeMap<String, usize>,
    shots: Vec<&'static str>,
    saw_bold: bool,
    /// Whether the witness has already reported a clock beyond tolerance (done once, in the
    /// root-key ceremony, to exercise the exception dialog).
    clock_exception_done: bool,
    /// The result card of the root KEK's generation, as the window showed it.
    root_kek_card: Option<String>,
    /// The data directory (the CLI is asked what the done screen shows).
    data: std::path::PathBuf,
    /// Records the done screen named and verified.
    records_seen: Vec<String>,
    /// Whether a wrong user PIN was typed once (in the first user-PIN prompt).
    wrong_pin_done: bool,
    /// The window's refusal of [`WRONG_TYPE_BACK`], by share index.
    type_back_refusals: BTreeMap<u8, String>,
}

impl Run {
    fn new(data: &Path) -> Self {
        Self {
            data: data.to_path_buf(),
            records_seen: Vec::new(),
            wrong_pin_done: false,
            type_back_refusals: BTreeMap::new(),
            shares: BTreeMap::new(),
            checked_in: BTreeMap::new(),
            shots: Vec::new(),
            saw_bold: false,
            clock_exception_done: false,
            root_kek_card: None,
        }
    }

    /// A screenshot the first time `name` comes up.
    async fn shot(&mut self, s: &Session, name: &'static str) {
        if !self.shots.contains(&name) {
            self.shots.push(name);
            s.screenshot(name).await;
        }
    }
}

async fn attr(s: &Session, css: &str, name: &str) -> String {
    s.wait(css)
        .await
        .attr(name)
        .await
        .unwrap()
        .unwrap_or_default()
}

/// Waits until the ceremony view was redrawn (render counter changed) or an error shows.
async fn after(s: &Session, before: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let errs = s.all("#prompt-error-text").await;
        if let Some(e) = errs.first() {
            panic!("the engine refused: {}", e.text().await.unwrap());
        }
        if let Ok(Some(r)) = match s
            .client
            .find(fantoccini::Locator::Css("#ceremony-view"))
            .await
        {
            Ok(v) => v.attr("data-render").await,
            Err(_) => Ok(None),
        } {
            if r != before {
                s.check_screen().await;
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the ceremony view did not change"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn submit(s: &Session) {
    let before = attr(s, "#ceremony-view", "data-render").await;
    s.activate("#prompt-submit").await;
    after(s, &before).await;
}

/// Loads `path` on the ceremony screen and checks the hash words against the core's.
async fn choose_script(s: &Session, path: &Path) {
    let path = &path.canonicalize().unwrap();
    s.shortcut('6').await;
    s.wait("#script-form").await;
    s.type_into("#script-path", path.to_str().unwrap()).await;
    s.activate("#script-load").await;
    s.wait("#ceremony-choose[data-state='loaded']").await;
    let expected = Script::load(path).unwrap().digest.words();
    assert_eq!(
        s.text("#script-details dd[data-field='script-words']")
            .await,
        expected
    );
    // `keyrite ceremony validate --json` prints the same core view of the script.
    let o = std::process::Command::new(keyrite_testkit::bin("keyrite"))
        .args(["ceremony", "validate", "--json", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["words"], expected.as_str());
    assert_eq!(
        v["steps"].as_array().map(Vec::len),
        Some(s.all("#script-steps li").await.len())
    );
}

/// Answers prompts until the ceremony is done (or `stop_after_checkins` check-ins were
/// given); returns the summary text, or None when stopped early.
async fn drive(s: &Session, run: &mut Run, stop_after_checkins: Option<usize>) -> Option<String> {
    let mut checkins = 0;
    loop {
        let kind = attr(s, "#ceremony-view", "data-kind").await;
        let heading = s.text("#prompt-form h3").await;
        match kind.as_str() {
            "check-in" => {
                if stop_after_checkins == Some(checkins) {
                    return None;
                }
                let role = heading.trim_start_matches("Check in: ").to_string();
                let n = run.checked_in.entry(role.clone()).or_default();
                let name = name_for(&role, *n);
                *n += 1;
                s.type_into("#checkin-name", &name).await;
                run.shot(s, "ceremony-check-in").await;
                submit(s).await;
                checkins += 1;
            }
            "instructions" => {
                // The script's Markdown is rendered as DOM nodes: numbered lists, bold.
                s.wait("#step-instructions ol li").await;
                if !s.all("#step-instructions strong").await.is_empty() {
                    run.saw_bold = true;
                }
                run.shot(s, "ceremony-step").await;
                submit(s).await;
            }
            "confirm-preflight" => {
                s.wait("#preflight-checks li").await;
                run.shot(s, "ceremony-preflight").await;
                submit(s).await;
            }
            "clock-confirmation" => {
                // The system clock on screen is live: it moves while the witness compares.
                let first = s.text("#clock-utc").await;
                tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
                let later = s.text("#clock-utc").await;
                assert!(
                    later > first,
                    "the clock did not move: {first} then {later}"
                );
                s.type_into("#clock-reference", "test clock").await;
                if run.shares.is_empty() && run.checked_in.len() > 3 && !run.clock_exception_done {
                    // The witness's clock disagrees by five minutes: an exception.
                    s.type_into("#clock-offset", "300").await;
                    run.clock_exception_done = true;
                }
                submit(s).await;
            }
            "new-pins" => {
                for (id, pin) in [
                    ("#new-so", SO_PIN),
                    ("#new-so-again", SO_PIN),
                    ("#new-user", USER_PIN),
                    ("#new-user-again", USER_PIN),
                ] {
                    s.type_into(id, pin).await;
                }
                submit(s).await;
            }
            "pin" => {
                let pin = if heading.starts_with("SO") {
                    SO_PIN
                } else {
                    USER_PIN
                };
                if pin == USER_PIN && !run.wrong_pin_done {
                    wrong_pin_once(s, run).await;
                }
                s.type_into("#pin-input", pin).await;
                submit(s).await;
            }
            "show-share" => {
                let look = s.text("#share-look-away").await;
                assert!(look.starts_with("Everyone except "), "{look}");
                run.shot(s, "ceremony-share-look-away").await;
                let index: u8 = heading
                    .trim_start_matches("Share ")
                    .split(' ')
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap();
                // Focus is on the heading, not on the reveal button: a stray Enter shows
                // nothing.
                let focused = s
                    .client
                    .execute(
                        "return document.activeElement && document.activeElement.id",
                        vec![],
                    )
                    .await
                    .unwrap();
                assert_eq!(focused, serde_json::json!("share-heading"));
                // The banner says whose share this is, in the core's words.
                let who = heading.rsplit(" for ").next().unwrap().to_string();
                assert_eq!(
                    s.text("#banner-share").await,
                    format!("share {index} of 5 · {who}")
                );
                s.activate("#share-show").await;
                let share = s.text("#share-human").await;
                s.wait("#share-qr").await;
                run.shot(s, "ceremony-share-shown").await;
                // The QR on screen decodes (zbarimg, on a screenshot of the window) to the same
                // share. (WebKit's element screenshots of a canvas come out black.)
                s.scroll_to("#share-qr").await;
                let png = s.client.screenshot().await.unwrap();
                let qr_file = tempfile::NamedTempFile::new().unwrap();
                std::fs::write(qr_file.path(), png).unwrap();
                let z = std::process::Command::new("zbarimg")
                    .args(["--raw", "-q"])
                    .arg(qr_file.path())
                    .output()
                    .expect("zbarimg (zbar-tools)");
                assert_eq!(
                    String::from_utf8_lossy(&z.stdout).trim(),
                    format!(
                        "KEYRITE-SHARE:{}",
                        share.split_whitespace().collect::<String>()
                    )
                );
                let groups: Vec<&str> = share.split_whitespace().collect();
                assert!(groups.len() > 4, "{share}");
                // A wrong check first: refused, the share stays.
                s.type_into("#share-check", WRONG_TYPE_BACK).await;
                s.activate("#share-confirm").await;
                let err = s.text("#prompt-error-text").await;
                assert_eq!(
                    err,
                    format!("the check characters do not match share {index}: compare your copy with the screen, character by character, and type its last two groups again")
                );
                // The core's refusal, word for word; the terminal's answer to the same slip
                // is compared with it at the end (`faces_refuse_a_wrong_type_back_alike`).
                assert_eq!(
                    err,
                    keyrite_core::shares::typeback::TypeBackMismatch { index }.to_string()
                );
                run.type_back_refusals.insert(index, err);
                s.client
                    .execute(
                        "document.getElementById('prompt-error').replaceChildren();",
                        vec![],
                    )
                    .await
                    .unwrap();
                let check = groups[groups.len() - 2..].join(" ").to_lowercase();
                s.type_into("#share-check", &check).await;
                let before = attr(s, "#ceremony-view", "data-render").await;
                s.activate("#share-confirm").await;
                after(s, &before).await;
                // Cleared from the screen.
                assert!(s.all("#share-human").await.is_empty());
                run.shares.insert(index, share);
            }
            "verify-share" => {
                let index: u8 = heading.rsplit(' ').next().unwrap().parse().unwrap();
                let share = run
                    .shares
                    .get(&index)
                    .expect("share copied earlier")
                    .clone();
                assert!(
                    s.text("#banner-share")
                        .await
                        .starts_with(&format!("share {index} of 5 · ")),
                    "the banner names the share being verified"
                );
                s.type_into("#share-text", &share).await;
                submit(s).await;
            }
            "sign-off" => {
                if heading.ends_with("generate-root-kek") && run.root_kek_card.is_none() {
                    run.root_kek_card = Some(s.text("#step-result").await);
                }
                submit(s).await
            }
            "exception-decision" => {
                // The clock exception: expected / happened shown, the witness decides to retry
                // after resetting the reference clock.
                let expected = s.text("dd[data-field='expected']").await;
                assert_eq!(expected, "the system clock within 120 s of the reference");
                let happened = s.text("dd[data-field='happened']").await;
                assert!(happened.contains("300"), "{happened}");
                s.check_radio("#exception-decision input[value='retry']")
                    .await;
                for who in ["witness-1", "administrator-1"] {
                    s.activate(&format!("#exception-who input[data-participant='{who}']"))
                        .await;
                }
                s.type_into(
                    "#exception-reason",
                    "reference watch was set to the wrong zone; reset and compare again",
                )
                .await;
                run.shot(s, "ceremony-exception").await;
                submit(s).await;
            }
            "done" => {
                let summary = s.text("#ceremony-summary").await;
                done_screen(s, run).await;
                run.shot(s, "ceremony-done").await;
                s.activate("#ceremony-close").await;
                s.wait("#script-form").await;
                return Some(summary);
            }
            other => panic!("unexpected prompt {other}"),
        }
    }
}

/// A wrong user PIN: the token rejects it once, the window says so beside the emptied field
/// (which keeps the focus), and the PIN is asked for again, never re-sent.
async fn wrong_pin_once(s: &Session, run: &mut Run) {
    run.wrong_pin_done = true;
    let token = |data: &Path| {
        let o = keyrite(data, &["hsm", "info", "--json"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        v["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["label"] == "keyrite-rehearsal")
            .unwrap()
            .clone()
    };
    let before = token(&run.data);
    assert_eq!(before["flags"]["user_pin_count_low"], false, "{before}");
    let serial = before["serial"].as_str().unwrap().to_string();
    s.type_into("#pin-input", "wrong-pin-0000").await;
    submit(s).await;
    assert_eq!(attr(s, "#ceremony-view", "data-kind").await, "pin");
    let why = format!(
        "the user PIN was rejected by token \"keyrite-rehearsal\" (serial {serial}): \
         CKR_PIN_INCORRECT (the PIN is wrong); the token does not say how many tries are left \
         (it reports CKF_USER_PIN_COUNT_LOW: a wrong PIN was given since the last good one); \
         the PIN was dropped and nothing more was sent to the token: give it again"
    );
    assert_eq!(s.text("#pin-rejected").await, why);
    // Beside the field (its next sibling), announced with it, nothing at the top of the form.
    let beside = s
        .client
        .execute(
            "const i = document.getElementById('pin-input'); \
             return [i.nextElementSibling && i.nextElementSibling.id, i.value, \
             document.activeElement && document.activeElement.id, \
             i.getAttribute('aria-invalid'), i.getAttribute('aria-describedby')];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        beside,
        serde_json::json!([
            "pin-rejected",
            "",
            "pin-input",
            "true",
            "pin-rejected pin-input-hint"
        ])
    );
    assert!(s.all("#prompt-error-text").await.is_empty());
    // The token saw one wrong PIN: SoftHSM2 now reports CKF_USER_PIN_COUNT_LOW.
    let after_wrong = token(&run.data);
    assert_eq!(
        after_wrong["flags"]["user_pin_count_low"], true,
        "{after_wrong}"
    );
    run.shot(s, "ceremony-pin-rejected").await;
    // Leaving the screen and coming back sends nothing: the PIN is asked for again, with why.
    s.shortcut('1').await;
    s.shortcut('6').await;
    assert_eq!(attr(s, "#ceremony-view", "data-kind").await, "pin");
    assert_eq!(s.text("#pin-rejected").await, {
        let short = why
            .split("; the PIN was dropped")
            .next()
            .unwrap()
            .to_string();
        format!("{short}. Type it again.")
    });
    assert_eq!(s.value("#pin-input").await, "");
}

/// The done screen: a completed outcome (green), the record's path, the closing checkpoint as
/// the CLI sees it, and Verify giving `keyrite record verify`'s verdict.
async fn done_screen(s: &Session, run: &mut Run) {
    assert_eq!(attr(s, "#prompt-form", "data-outcome").await, "completed");
    assert_eq!(attr(s, "#ceremony-outcome", "class").await, "ok");
    // Focus is on the next thing to do: Verify.
    let focused = s
        .client
        .execute(
            "return document.activeElement && document.activeElement.id;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(focused, serde_json::json!("done-verify-button"));
    let record = s.text("#prompt-form dd[data-field='record-path']").await;
    assert!(Path::new(&record).is_file(), "no record at {record}");
    assert!(
        record.starts_with(run.data.join("records").to_str().unwrap()),
        "{record}"
    );
    // The closing checkpoint, as the CLI knows it: `ceremony status --json` names its size
    // for this ceremony, and the journal verifies against its file (same size, same root).
    let id = s
        .text(".ceremony-status dd[data-field='ceremony-id']")
        .await;
    let size = s
        .text("#prompt-form dd[data-field='checkpoint-size']")
        .await;
    let words = s
        .text("#prompt-form dd[data-field='checkpoint-words']")
        .await;
    let root = s.text("#prompt-form dd[data-field='checkpoint-hex']").await;
    let st = keyrite(&run.data, &["ceremony", "status", "--json"]);
    assert!(st.status.success(), "{}", stderr(&st));
    let st: serde_json::Value = serde_json::from_str(&stdout(&st)).unwrap();
    let mine = st
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["ceremony_id"] == id.as_str())
        .unwrap_or_else(|| panic!("{id} not in {st}"));
    assert_eq!(mine["closing_checkpoint"].to_string(), size);
    let file = s
        .text("#prompt-form dd[data-field='checkpoint-file']")
        .await;
    let jv = keyrite(
        &run.data,
        &["journal", "verify", "--checkpoint", &file, "--json"],
    );
    assert!(jv.status.success(), "{}{}", stdout(&jv), stderr(&jv));
    let jv: serde_json::Value = serde_json::from_str(&stdout(&jv)).unwrap();
    assert_eq!(jv["checkpoint"][0].to_string(), size);
    assert_eq!(jv["checkpoint"][1].as_str().unwrap(), root);
    assert_eq!(
        keyrite_core::words::to_words(&hex::decode(&root).unwrap()),
        words
    );
    // Verify: the same verdict line as `keyrite record verify --journal`.
    s.activate("#done-verify-button").await;
    s.wait("#done-verify[data-verdict]").await;
    let shown = s.text("#done-verify #record-verdict-text").await;
    let cli = keyrite(
        &run.data,
        &[
            "record",
            "verify",
            &record,
            "--journal",
            run.data.join("journal.sqlite").to_str().unwrap(),
        ],
    );
    assert!(cli.status.success(), "{}{}", stdout(&cli), stderr(&cli));
    assert_eq!(stdout(&cli).lines().next().unwrap(), shown);
    assert!(shown.starts_with("VALID: "), "{shown}");
    assert_eq!(attr(s, "#done-verify", "data-verdict").await, "valid");
    // Valid, but the signer was not pinned: amber, not green.
    assert_eq!(
        attr(s, "#done-verify #record-verdict-text", "class").await,
        "warn"
    );
    s.scroll_to_top("#done-verify").await;
    run.shot(s, "ceremony-done-verified").await;
    s.scroll_to("#ceremony-outcome").await;
    run.records_seen.push(record);
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs an X display and tauri-driver: run under xvfb-run with --ignored"]
#[serial_test::serial(softhsm)]
async fn root_key_ceremony_runs_entirely_through_the_window_and_resumes_after_a_restart() {
    let data = TempData::new();
    let mut run = Run::new(&data.path());

    // HSM initialisation: two check-ins, then the app is closed mid-ceremony.
    let s = Session::open(&data.path()).await;
    choose_script(&s, &script("hsm-initialisation")).await;
    s.scroll_to("#script-details h3").await;
    s.screenshot("ceremony-choose").await;
    s.activate("#ceremony-start").await;
    s.wait("#ceremony-view").await;
    assert_eq!(drive(&s, &mut run, Some(2)).await, None);
    s.close().await;

    // Restarted: the unfinished ceremony is listed with the shipped script that has the hash
    // journaled at its start, and resumes with one action: no path is typed.
    let s = Session::open(&data.path()).await;
    s.shortcut('6').await;
    let resume = s.wait("#ceremony-unfinished button[data-resume]").await;
    assert_eq!(s.value("#script-path").await, "");
    assert_eq!(
        s.text("#ceremony-unfinished dd[data-field='resume-script']")
            .await,
        "hsm-initialisation.toml"
    );
    assert_eq!(
        s.text("#ceremony-unfinished dd[data-field='resume-script-words']")
            .await,
        Script::load(&script("hsm-initialisation"))
            .unwrap()
            .digest
            .words()
    );
    let id = resume.attr("data-resume").await.unwrap().unwrap();
    s.screenshot("ceremony-resume").await;
    s.activate(&format!("#ceremony-unfinished button[data-resume='{id}']"))
        .await;
    s.wait("#ceremony-view").await;
    assert!(s
        .text("#ceremony-progress")
        .await
        .starts_with(&format!("Resumed ceremony {id}")));
    assert_eq!(s.all("#ceremony-participants li").await.len(), 2);
    let summary = drive(&s, &mut run, None).await.unwrap();
    assert_eq!(summary, "7 steps completed, 0 skipped, 0 exceptions.");

    // Root key generation, 3 of 5.
    run.checked_in.clear();
    choose_script(&s, &script("root-key-generation")).await;
    s.activate("#ceremony-start").await;
    s.wait("#ceremony-view").await;
    // Leaving the screen mid-ceremony: Home says the HSM belongs to the ceremony, and coming
    // back shows the same prompt.
    s.shortcut('1').await;
    s.wait("#hsm-panel[data-state='error']").await;
    assert_eq!(
        s.text("#hsm-error").await,
        "the HSM is in use by the ceremony running in this window; its token status shows on the ceremony screen"
    );
    s.shortcut('6').await;
    assert_eq!(attr(&s, "#ceremony-view", "data-kind").await, "check-in");
    let summary = drive(&s, &mut run, None).await.unwrap();
    assert_eq!(summary, "8 steps completed, 0 skipped, 1 exceptions.");
    assert!(run.clock_exception_done);
    assert_eq!(run.shares.len(), 5);
    // The root KEK's result card: what the witness reads aloud before signing off.
    let card = run
        .root_kek_card
        .clone()
        .expect("generate-root-kek sign-off screen seen");
    for x in [
        "keyrite-root-kek (aes-256)",
        "sensitive yes, extractable no",
        keyrite_core::engine::HOST_COPY_ERASED,
    ] {
        assert!(card.contains(x), "the result card lacks \"{x}\": {card}");
    }
    assert!(
        run.saw_bold,
        "**bold** in the scripts' instructions was not rendered as <strong>"
    );
    s.close().await;

    // What the window did is what the CLI sees: the journal verifies, the ceremonies are
    // closed, and the root KEK and the record-signing key are on the token.
    let v = keyrite(&data.path(), &["journal", "verify"]);
    assert!(v.status.success(), "{}", stderr(&v));
    let st = keyrite(&data.path(), &["ceremony", "status"]);
    let text = stdout(&st);
    assert_eq!(text.matches("  completed  ").count(), 2, "{text}");
    assert!(!text.contains("UNFINISHED"), "{text}");
    let o = keyrite_fds(
        &data.path(),
        &["hsm", "keys", "--json", "--pin-fd", "3"],
        &[],
        &[(3, USER_PIN)],
        "",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let keys = stdout(&o);
    assert!(keys.contains("keyrite-root-kek"), "{keys}");
    assert!(keys.contains("keyrite-record-signing"), "{keys}");
    // Each ceremony ended in a signed record that `keyrite record verify` (with the journal)
    // and poppler's pdfsig accept.
    let records: Vec<_> = std::fs::read_dir(data.path().join("records"))
        .expect("records written")
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(run.records_seen.len(), 2);
    for r in &run.records_seen {
        assert!(
            records.contains(&std::path::PathBuf::from(r)),
            "{r} not in {records:?}"
        );
    }
    for r in &records {
        let v = keyrite(
            &data.path(),
            &[
                "record",
                "verify",
                r.to_str().unwrap(),
                "--journal",
                data.path().join("journal.sqlite").to_str().unwrap(),
            ],
        );
        assert!(v.status.success(), "{}{}", stdout(&v), stderr(&v));
        assert!(
            stdout(&v).starts_with("VALID: record of ceremony "),
            "{}",
            stdout(&v)
        );
        let sig = std::process::Command::new("pdfsig")
            .arg(r)
            .output()
            .expect("pdfsig");
        let sig_out = String::from_utf8_lossy(&sig.stdout);
        assert!(sig_out.contains("Signature is Valid."), "{sig_out}");
        assert!(sig_out.contains("Total document signed"), "{sig_out}");
    }
    // Every share copied from the screen is a valid share of the set, as the CLI reads it.
    let dir = data.scratch("shares");
    std::fs::create_dir_all(&dir).unwrap();
    let mut set_ids = std::collections::BTreeSet::new();
    for (i, sh) in &run.shares {
        let p = dir.join(format!("share-{i}.txt"));
        std::fs::write(&p, sh).unwrap();
        let sv = keyrite(&data.path(), &["shares", "verify", p.to_str().unwrap()]);
        assert!(
            sv.status.success(),
            "share {i}: {}{}",
            stdout(&sv),
            stderr(&sv)
        );
        // --json names the share, never echoes it.
        let js = keyrite(
            &data.path(),
            &["shares", "verify", "--json", p.to_str().unwrap()],
        );
        assert!(js.status.success(), "{}", stderr(&js));
        let text = stdout(&js);
        let first_group = sh.split_whitespace().next().unwrap();
        assert!(!text.contains(first_group), "{text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["index"], *i);
        assert_eq!(
            (v["count"].as_u64(), v["threshold"].as_u64()),
            (Some(5), Some(3))
        );
        set_ids.insert(v["set_id"].as_str().unwrap().to_string());
    }
    assert_eq!(set_ids.len(), 1, "{set_ids:?}");
    faces_agree_on_the_record_signing_key_and_the_backup_policy(&data.path(), &run);
    faces_refuse_a_wrong_type_back_alike(&run);
}

/// The share type-back rule of the core (`shares::typeback::check_typed_back`) before both
/// faces (issue 16): the same wrong tail ([`WRONG_TYPE_BACK`]) typed back for the first share
/// shown, in the window above and at the terminal of `keyrite ceremony run` (a production
/// site's root-key-generation through a pseudo-terminal, `keyrite_testkit::room`), is refused
/// in the same words. A share exists only inside its ceremony, so each face gets its own
/// ceremony and the same slip.
fn faces_refuse_a_wrong_type_back_alike(run: &Run) {
    let site = Site::delivered();
    let seen = drive_terminal(
        site.ceremony("hsm-initialisation"),
        &BTreeMap::new(),
        None,
        false,
    );
    completed(&site, "hsm-initialisation", &seen);
    let seen = drive_terminal(
        site.ceremony("root-key-generation"),
        &BTreeMap::new(),
        None,
        true,
    );
    completed(&site, "root-key-generation", &seen);
    let (index, terminal) = seen
        .type_back_refusal
        .expect("the terminal was given a wrong type-back");
    let window = run
        .type_back_refusals
        .get(&index)
        .unwrap_or_else(|| panic!("the window refused no type-back of share {index}"));
    assert_eq!(
        &terminal, window,
        "share {index}: the terminal and the window refuse the same slip in different words"
    );
}

/// Two rules of the core both faces call (issue 16), given the same token and journal after
/// the window's ceremonies: the record-signing key found by its one label
/// (`record::RECORD_SIGNING_LABEL`), and the policy a backup records
/// (`operations::choose_backup_policy`).
fn faces_agree_on_the_record_signing_key_and_the_backup_policy(data: &Path, run: &Run) {
    let verdict = |pdf: &Path, trust: Option<&Path>| {
        let mut args = vec!["record", "verify", pdf.to_str().unwrap(), "--json"];
        if let Some(t) = trust {
            args.extend(["--trust", t.to_str().unwrap()]);
        }
        let o = keyrite(data, &args);
        serde_json::from_str::<serde_json::Value>(&stdout(&o)).expect("JSON verdict")
    };
    // The window's engine signed root-key-generation's record with the key labelled
    // keyrite-record-signing; `keyrite record produce` opens the key and its certificate by the
    // same label: its record of the same ceremony has the same signer, and the certificate it
    // writes pins the window's record.
    let window = Path::new(&run.records_seen[1]);
    let w = verdict(window, None);
    assert_eq!(w["valid"], true, "{w}");
    let id = w["ceremony_id"].as_str().unwrap();
    let produced = run.data.join("cli-record.pdf");
    let cert = run.data.join("record-signing.der");
    let o = keyrite_fds(
        data,
        &[
            "record",
            "produce",
            "--ceremony",
            id,
            "--out",
            produced.to_str().unwrap(),
            "--cert-out",
            cert.to_str().unwrap(),
            "--pin-fd",
            "3",
        ],
        &[],
        &[(3, USER_PIN)],
        "",
    );
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let c = verdict(&produced, Some(&cert));
    assert_eq!(c["valid"], true, "{c}");
    assert_eq!(c["ceremony_id"], id);
    for field in ["signer_subject", "spki_fingerprint"] {
        assert!(w[field].is_string(), "{w}");
        assert_eq!(c[field], w[field], "{field}");
    }
    let pinned = verdict(window, Some(&cert));
    assert_eq!(pinned["valid"], true, "{pinned}");
    assert_eq!(pinned["trust"], "pinned", "{pinned}");

    // The window's backup step and `keyrite hsm backup` of the same key on the same token, no
    // policy named: the same policy, the one journaled when the key was made (the
    // record-signing key satisfies the general P-384 signing policy too).
    let location = keyrite_testkit::ceremony::events(data)
        .into_iter()
        .find_map(|e| match e {
            keyrite_core::journal::Event::BackupMade {
                key_id, location, ..
            } if key_id == "keyrite-record-signing" => Some(location),
            _ => None,
        })
        .expect("the window's ceremony backed up the record-signing key");
    let text = std::fs::read_to_string(&location).unwrap();
    let window_policy = text
        .lines()
        .find_map(|l| l.strip_prefix("policy: "))
        .unwrap_or_else(|| panic!("no policy line in {location}"));
    let out = run.data.join("record-signing.krbak");
    let o = keyrite_fds(
        data,
        &[
            "hsm",
            "backup",
            "--label",
            "keyrite-record-signing",
            "--kek-label",
            "keyrite-root-kek",
            "--out",
            out.to_str().unwrap(),
            "--pin-fd",
            "3",
            "--json",
        ],
        &[],
        &[(3, USER_PIN)],
        "",
    );
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let b: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(b["backup"]["policy"], window_policy);
    assert_eq!(window_policy, "record-signing");
}
