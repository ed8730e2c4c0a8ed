//! Resuming from the window's list of unfinished ceremonies when no shipped script has the
//! hash journaled at the ceremony's start: the list says so plainly, Resume without a path is
//! refused beside its button (which keeps the focus), and the reviewed copy's path resumes it.
//! (The one-action resume with a shipped script is in `gui_ceremony`.)
//! Run with `xvfb-run cargo test -p keyrite-tests --test gui_resume -- --ignored`.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_core::script::Script;
use keyrite_tests::ceremony::script;
use keyrite_tests::gui::Session;
use keyrite_tests::TempData;

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
    s.wait("#ceremony-pause").await.click().await.unwrap();
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
    resume.click().await.unwrap();
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
    s.wait("#ceremony-unfinished button[data-resume-typed]")
        .await
        .click()
        .await
        .unwrap();
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
    assert!(keyrite_tests::x11::request_close("Keyrite") > 0);
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
    s.wait("#close-keep").await.click().await.unwrap();
    assert!(s.all("#close-confirm").await.is_empty());
    assert_eq!(s.attr("#ceremony-view", "data-kind").await, "check-in");

    // Asked again, closed anyway: the app quits, the ceremony is paused.
    assert!(keyrite_tests::x11::request_close("Keyrite") > 0);
    s.wait("#close-pause").await.click().await.ok();
    s.close().await;
    let st = keyrite_tests::keyrite(&data.path(), &["ceremony", "status"]);
    let text = keyrite_tests::stdout(&st);
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
    resume.click().await.unwrap();
    s.wait("#ceremony-view").await;
    assert!(s
        .text("#ceremony-progress")
        .await
        .starts_with(&format!("Resumed ceremony {id}")));
    assert_eq!(s.all("#ceremony-participants li").await.len(), 1);
    s.close().await;
}
