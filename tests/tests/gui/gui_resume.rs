//! Resuming from the window's list of unfinished ceremonies when no shipped script has the
//! hash journaled at the ceremony's start: the list says so plainly, Resume without a path is
//! refused beside its button (which keeps the focus), and the reviewed copy's path resumes it.
//! (The one-action resume with a shipped script is in `gui_ceremony`.)
//! Run with `xvfb-run cargo test -p keyrite-tests --test gui -- --ignored gui_resume::`.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_core::script::Script;
use keyrite_testkit::ceremony::script;
use keyrite_testkit::gui::Session;
use keyrite_testkit::TempData;

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs an X display and tauri-driver: run under xvfb-run with --ignored"]
#[serial_test::serial(softhsm)]
async fn a_ceremony_from_a_script_that_is_not_shipped_says_so_and_resumes_by_path() {
    let data = TempData::new();
    // A reviewed local copy that differs from the shipped script (one comment more).
    let copy = data.scratch("local-hsm-initialisation.toml");
    let mut text = std::fs::read_to_string(script("hsm-initialisation")).unwrap();
    text.push_str("\n# local copy, reviewed 2026-12-07\n");
    std::fs::write(&copy, text).unwrap();
    let words = Script::load(&copy).unwrap().digest.words();

    let s = Session::open(&data.path()).await;
    s.start_ceremony(&copy).await;
    s.type_into("#checkin-name", "Ada Admin").await;
    s.submit_prompt().await;
    s.activate("#ceremony-pause").await;
    s.close().await;

    let s = Session::open(&data.path()).await;
    s.shortcut('6').await;
    let resume = s
        .wait("#ceremony-unfinished button[data-resume-typed]")
        .await;
    let id = resume.attr("data-resume-typed").await.unwrap().unwrap();
    assert!(s
        .all("#ceremony-unfinished button[data-resume]")
        .await
        .is_empty());
    assert_eq!(
        s.text("#ceremony-unfinished dd[data-field='resume-script-words']")
            .await,
        words
    );
    let hex = Script::load(&copy).unwrap().digest.hex();
    assert_eq!(
        s.text("#resume-not-shipped-0").await,
        format!(
            "no script shipped with this Keyrite has the SHA-256 ceremony {id} started from \
             ({words}; {hex}): resume it with the path of the reviewed copy it started from"
        )
    );
    assert_eq!(
        s.attr("#resume-not-shipped-0", "class").await,
        "warn",
        "said in amber, not green"
    );
    s.screenshot("ceremony-resume-not-shipped").await;
    // Without a path: refused beside the button, the button keeps the focus, the list stays.
    s.activate("#ceremony-unfinished button[data-resume-typed]")
        .await;
    assert_eq!(
        s.text("#resume-error-text-0").await,
        "type the full path of the ceremony script"
    );
    let focused = s
        .client
        .execute(
            "return document.activeElement && document.activeElement.dataset.resumeTyped;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(focused, serde_json::json!(id));
    // With the reviewed copy's path typed: resumed where it stopped.
    s.type_into(
        "#script-path",
        copy.canonicalize().unwrap().to_str().unwrap(),
    )
    .await;
    s.activate("#ceremony-unfinished button[data-resume-typed]")
        .await;
    s.wait("#ceremony-view").await;
    assert!(s
        .text("#ceremony-progress")
        .await
        .starts_with(&format!("Resumed ceremony {id}")));
    assert_eq!(s.all("#ceremony-participants li").await.len(), 1);
    s.close().await;
}

/// Closing the window mid-ceremony asks first; "Keep working" keeps it; closing anyway pauses
/// the ceremony, which the next start lists and resumes with one action (its shipped script).
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs an X display and tauri-driver: run under xvfb-run with --ignored"]
#[serial_test::serial(softhsm)]
async fn closing_the_window_mid_ceremony_asks_and_closing_anyway_pauses_it() {
    let data = TempData::new();
    let s = Session::open(&data.path()).await;
    s.start_ceremony(&script("hsm-initialisation")).await;
    s.type_into("#checkin-name", "Ada Admin").await;
    s.submit_prompt().await;
    let id = s
        .text(".ceremony-status dd[data-field='ceremony-id']")
        .await;

    // The close button (as a window manager sends it): held, the window asks.
    assert!(keyrite_testkit::x11::request_close("Keyrite") > 0);
    s.wait("#close-confirm").await;
    assert_eq!(
        s.text("#close-confirm-title").await,
        "Close Keyrite in the middle of a ceremony?"
    );
    let text = s.text("#close-confirm-text").await;
    assert!(
        text.starts_with(&format!("Ceremony {id} (HSM initialisation)")),
        "{text}"
    );
    assert!(text.contains("Closing pauses it"), "{text}");
    let focused = s
        .client
        .execute("return document.activeElement.id;", vec![])
        .await
        .unwrap();
    assert_eq!(
        focused,
        serde_json::json!("close-keep"),
        "the safe answer has the focus"
    );
    s.screenshot("ceremony-close-confirm").await;
    s.activate("#close-keep").await;
    assert!(s.all("#close-confirm").await.is_empty());
    assert_eq!(s.attr("#ceremony-view", "data-kind").await, "check-in");

    // Asked again, closed anyway: the app quits, the ceremony is paused.
    assert!(keyrite_testkit::x11::request_close("Keyrite") > 0);
    // "Pause the ceremony and close" quits the app: the key press may not get its answer.
    s.tab_to("#close-pause").await;
    s.press_unanswered(fantoccini::key::Key::Enter).await;
    s.close().await;
    let st = keyrite_testkit::keyrite(&data.path(), &["ceremony", "status"]);
    let text = keyrite_testkit::stdout(&st);
    assert!(
        text.contains(&format!("{id}  hsm-initialisation  UNFINISHED")),
        "{text}"
    );

    // Started again: listed, resumed with one action, no path typed.
    let s = Session::open(&data.path()).await;
    s.shortcut('6').await;
    let resume = s
        .wait(&format!("#ceremony-unfinished button[data-resume='{id}']"))
        .await;
    assert_eq!(s.value("#script-path").await, "");
    drop(resume);
    s.activate(&format!("#ceremony-unfinished button[data-resume='{id}']"))
        .await;
    s.wait("#ceremony-view").await;
    assert!(s
        .text("#ceremony-progress")
        .await
        .starts_with(&format!("Resumed ceremony {id}")));
    assert_eq!(s.all("#ceremony-participants li").await.len(), 1);
    s.close().await;
}

/// An aborted ceremony's done screen is amber, never green, and says it did not complete.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs an X display and tauri-driver: run under xvfb-run with --ignored"]
#[serial_test::serial(softhsm)]
async fn an_aborted_ceremony_is_never_shown_in_green() {
    let data = TempData::new();
    let s = Session::open(&data.path()).await;
    s.start_ceremony(&script("hsm-initialisation")).await;
    let mut seen = Vec::new();
    loop {
        let kind = s.attr("#ceremony-view", "data-kind").await;
        seen.push(kind.clone());
        assert!(seen.len() < 40, "no end: {seen:?}");
        match kind.as_str() {
            "check-in" => {
                let role = s.text("#prompt-form h3").await;
                let name = match role.trim_start_matches("Check in: ") {
                    "administrator" => "Ada Admin",
                    "witness" => "Wes Witness",
                    _ => "Aud Auditor",
                };
                s.type_into("#checkin-name", name).await;
                s.submit_prompt().await;
            }
            "clock-confirmation" => {
                s.type_into("#clock-reference", "test clock").await;
                s.type_into("#clock-offset", "300").await;
                s.submit_prompt().await;
            }
            "exception-decision" => {
                s.check_radio("#exception-decision input[value='abort']")
                    .await;
                for who in ["witness-1", "administrator-1"] {
                    s.activate(&format!("#exception-who input[data-participant='{who}']"))
                        .await;
                }
                s.type_into("#exception-reason", "the clock cannot be trusted today")
                    .await;
                s.submit_prompt().await;
            }
            "pin" => {
                // Closing after the abort: the token has no record-signing key yet, so the
                // administrator closes without a closing checkpoint, as the engine allows.
                let hint = s.text("#pin-proceed-without-hint").await;
                assert!(
                    hint.starts_with(
                        "Without the PIN, Keyrite will close without a closing checkpoint"
                    ),
                    "{hint}"
                );
                let before = s.attr("#ceremony-view", "data-render").await;
                s.activate("#pin-proceed-without").await;
                s.after_render(&before).await;
            }
            "done" => break,
            _ => s.submit_prompt().await,
        }
    }
    assert_eq!(s.attr("#prompt-form", "data-outcome").await, "aborted");
    assert_eq!(s.attr("#ceremony-outcome", "class").await, "warn");
    let said = s.text("#ceremony-outcome").await;
    assert!(said.contains("was ABORTED: it did not complete"), "{said}");
    assert_eq!(
        s.text("#prompt-form dd[data-field='checkpoint-unavailable']")
            .await,
        "the administrator closed the ceremony without the user PIN, so the record-signing key \
         could not sign a closing checkpoint"
    );
    // Nothing on the done screen is in a green box.
    assert!(s.all("#ceremony-view .ok").await.is_empty());
    s.scroll_to("#ceremony-outcome").await;
    s.screenshot("ceremony-done-aborted").await;
    s.close().await;
}

/// The journal's events of `data` (type and fields), in order.
fn journal_events(data: &std::path::Path) -> Vec<serde_json::Value> {
    let j = keyrite_core::journal::Journal::open_read_only(
        &data.join("journal.sqlite"),
        &Default::default(),
    )
    .unwrap();
    (0..j.head().size)
        .map(|s| j.entry(s).unwrap().body_json().unwrap())
        .collect()
}

/// Stop, Raise an exception and Abort, by keyboard from the ceremony screen, under the sticky
/// banner: a raised exception ends in the engine's decision prompt (as the CLI's `!raise`,
/// `ceremony_by_hand`), Stop pauses it resumably, Abort asks first with "Keep working"
/// focused; each leaves its journal entries.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs an X display and tauri-driver: run under xvfb-run with --ignored"]
#[serial_test::serial(softhsm)]
async fn stop_raise_and_abort_by_hand_under_the_banner() {
    use fantoccini::key::Key;
    let data = TempData::new();
    let s = Session::open(&data.path()).await;
    s.start_ceremony(&script("hsm-initialisation")).await;
    assert_eq!(s.text("#banner-mode").await, "REHEARSAL");
    assert_eq!(s.text("#banner-script").await, "HSM initialisation");
    assert_eq!(s.text("#banner-step").await, "Check-in before step 1 of 7");
    assert_eq!(s.attr("#ceremony-banner", "data-mode").await, "rehearsal");
    // No step yet: nothing to raise an exception in; stop and abort are there.
    assert!(s.all("#ceremony-raise").await.is_empty());
    s.wait("#ceremony-pause").await;
    s.wait("#ceremony-abort").await;
    for name in ["Ada Admin", "Wes Witness", "Aud Auditor"] {
        s.type_into("#checkin-name", name).await;
        s.submit_prompt().await;
    }
    let id = s
        .text(".ceremony-status dd[data-field='ceremony-id']")
        .await;
    assert_eq!(s.attr("#ceremony-view", "data-kind").await, "instructions");
    assert_eq!(
        s.text("#banner-step").await,
        "Step 1 of 7 · Check the air gap"
    );
    // The banner stays at the top of the window while the screen scrolls.
    assert_eq!(
        s.client
            .execute(
                "return getComputedStyle(document.getElementById('ceremony-banner')).position;",
                vec![]
            )
            .await
            .unwrap(),
        serde_json::json!("sticky")
    );
    s.screenshot("ceremony-banner-instructions").await;

    // Raise an exception: refused without a reason (said beside the field, focus there).
    s.activate("#ceremony-raise").await;
    s.wait("#raise-dialog").await;
    assert!(s.focus_is("#raise-reason").await, "{}", s.focused().await);
    s.press(Key::Enter).await;
    assert_eq!(
        s.text("#raise-error").await,
        "the answer does not fit: raising an exception needs a reason: say what is wrong"
    );
    assert!(s.focus_is("#raise-reason").await);
    s.type_text("the air-gap checklist is missing").await;
    s.select("#raise-who", "witness-1").await;
    s.screenshot("ceremony-raise-dialog").await;
    s.activate_and_wait("#raise-confirm").await;
    assert!(s.all("#raise-dialog").await.is_empty());
    assert_eq!(
        s.attr("#ceremony-view", "data-kind").await,
        "exception-decision"
    );
    assert_eq!(
        s.text("#prompt-form dd[data-field='happened']").await,
        "exception raised by hand by Wes Witness (witness-1): the air-gap checklist is missing"
    );
    assert_eq!(
        s.text("#prompt-form dd[data-field='expected']").await,
        "Check the air gap (preflight) succeeds"
    );
    // Retry: back to where the step was (its instructions).
    s.activate("#exception-who input[data-participant='administrator-1']")
        .await;
    s.type_into("#exception-reason", "the checklist was found")
        .await;
    s.submit_prompt().await;
    assert_eq!(s.attr("#ceremony-view", "data-kind").await, "instructions");

    // Stop: the list of unfinished ceremonies, saying where it stopped.
    s.activate("#ceremony-pause").await;
    assert_eq!(
        s.text("#ceremony-paused").await,
        format!(
            "Ceremony {id} paused during step \"preflight\" (Check the air gap). Nothing more \
             is done until it is resumed; the journal holds everything so far."
        )
    );
    s.activate(&format!("#ceremony-unfinished button[data-resume='{id}']"))
        .await;
    s.wait("#ceremony-view").await;

    // Abort: "Keep working" has the focus; Enter in the reason field does not abort.
    s.activate("#ceremony-abort").await;
    s.wait("#abort-dialog").await;
    assert!(s.focus_is("#abort-keep").await, "{}", s.focused().await);
    s.press(Key::Enter).await;
    assert!(s.all("#abort-dialog").await.is_empty());
    assert_eq!(s.attr("#ceremony-view", "data-kind").await, "instructions");
    s.activate("#ceremony-abort").await;
    s.type_into("#abort-reason", "the bag's seal is broken")
        .await;
    s.press(Key::Enter).await;
    s.wait("#abort-dialog").await;
    s.screenshot("ceremony-abort-confirm").await;
    s.activate_and_wait("#abort-confirm").await;
    // Closing: the administrator closes without a closing checkpoint (no key yet).
    s.activate_and_wait("#pin-proceed-without").await;
    assert_eq!(s.attr("#prompt-form", "data-outcome").await, "aborted");
    s.close().await;

    let ev: Vec<serde_json::Value> = journal_events(&data.path())
        .into_iter()
        .map(|b| b["event"].clone())
        .filter(|e| {
            let t = e["type"].as_str().unwrap_or_default();
            t.starts_with("exception") || t == "note" || t == "ceremony_closed"
        })
        .collect();
    let kinds: Vec<&str> = ev.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "exception_opened",
            "exception_decided",
            "note",
            "exception_opened",
            "exception_decided",
            "ceremony_closed",
            "note"
        ],
        "{ev:#?}"
    );
    assert_eq!(ev[1]["decision"], "retry");
    assert_eq!(ev[2]["kind"], "ceremony_paused");
    assert_eq!(
        ev[3]["description"],
        "expected: Check the air gap (preflight) succeeds; happened: the ceremony was aborted \
         by hand by Ada Admin (administrator-1) during step \"preflight\" (Check the air gap): \
         the bag's seal is broken"
    );
    assert_eq!(ev[4]["decision"], "abort");
    assert_eq!(ev[5]["outcome"], "aborted");
}

/// The script picker: the shipped scripts and a chosen folder's, each with its hash in the
/// words `keyrite ceremony validate` prints, roles, steps and the core's pre-start checklist;
/// a shipped script starts with no path typed.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs an X display and tauri-driver: run under xvfb-run with --ignored"]
#[serial_test::serial(softhsm)]
async fn the_picker_shows_each_script_with_its_checklist_and_starts_a_shipped_one() {
    let data = TempData::new();
    let folder = data.scratch("usb");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::copy(script("key-rotation"), folder.join("key-rotation.toml")).unwrap();
    std::fs::write(folder.join("notes.toml"), "title = 3\n").unwrap();

    let s = Session::open(&data.path()).await;
    s.shortcut('6').await;
    s.wait("#ceremony-picker[data-state='ok']").await;
    assert_eq!(
        s.all("#picker-shipped button[data-choose]").await.len(),
        keyrite_core::script::shipped::SHIPPED.len()
    );
    s.activate("#picker-shipped button[data-choose='root-key-generation.toml']")
        .await;
    s.wait("#picker-details[data-state='chosen']").await;
    assert!(s.focus_is("#picker-title").await, "{}", s.focused().await);
    // The same words as `keyrite ceremony validate`.
    let o = keyrite_testkit::keyrite(
        &data.path(),
        &[
            "ceremony",
            "validate",
            script("root-key-generation").to_str().unwrap(),
        ],
    );
    let words = keyrite_testkit::stdout(&o)
        .lines()
        .find_map(|l| l.strip_prefix("Words:").map(|w| w.trim().to_string()))
        .unwrap();
    assert_eq!(
        s.text("#picker-details dd[data-field='picker-words']")
            .await,
        words
    );
    let checks = s.all("#picker-checklist li").await;
    let mut lines = Vec::new();
    for c in &checks {
        lines.push((
            c.attr("data-state").await.unwrap().unwrap_or_default(),
            c.text().await.unwrap(),
        ));
    }
    assert!(
        lines.contains(&(
            "bring".to_string(),
            "CHECK In the room, identity checked: 5 custodians (any 3 of the 5 rebuild or approve)"
                .to_string()
        )),
        "{lines:#?}"
    );
    let token = lines.last().unwrap();
    assert_eq!(token.0, "ready", "{lines:#?}");
    assert!(
        token.1.starts_with("READY Token \"keyrite-rehearsal\""),
        "{lines:#?}"
    );
    s.screenshot("ceremony-picker").await;

    // A folder: its valid script listed, the other file refused with its problem.
    s.type_into("#folder-path", "usb").await;
    s.activate("#folder-list").await;
    assert_eq!(
        s.text("#folder-error").await,
        "\"usb\" is not a full path: start it with / (e.g. /media/usb)"
    );
    s.type_into("#folder-path", folder.to_str().unwrap()).await;
    s.activate("#folder-list").await;
    s.wait("#picker-folder[data-state='ok']").await;
    let listed = folder.join("key-rotation.toml");
    s.wait(&format!(
        "#picker-folder button[data-choose='{}']",
        listed.display()
    ))
    .await;
    let refused = s.text("#picker-folder .warn").await;
    assert!(
        refused.starts_with(&format!("{}: ", folder.join("notes.toml").display())),
        "{refused}"
    );

    // A shipped script starts with one action.
    s.activate("#picker-shipped button[data-choose='hsm-initialisation.toml']")
        .await;
    s.wait("#picker-title").await;
    s.activate("#picker-start").await;
    s.wait("#ceremony-view").await;
    assert_eq!(s.text("#banner-script").await, "HSM initialisation");
    assert_eq!(s.attr("#ceremony-view", "data-kind").await, "check-in");
    s.close().await;
}
