//! The real desktop app in a real window (Xvfb) through tauri-driver and WebKitWebDriver.
//! Run with `xvfb-run cargo test -p keyrite-tests --test gui -- --ignored gui_home::` (the README's
//! test command does).
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use fantoccini::Locator;
use keyrite_testkit::gui::Session;
use keyrite_testkit::TempData;

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs an X display and tauri-driver: run under xvfb-run with --ignored"]
async fn home_screen_shows_rehearsal_banner_and_hsm_panel_lists_the_rehearsal_token() {
    let data = TempData::new();
    let s = Session::open(&data.path()).await;
    let client = &s.client;

    let panel = s.wait("#hsm-panel[data-state='ok']").await;
    let token = panel
        .find(Locator::Css(
            "article.token[data-token-label='keyrite-rehearsal']",
        ))
        .await
        .expect("rehearsal token listed in the HSM panel");
    assert_eq!(
        token.attr("data-software").await.unwrap().as_deref(),
        Some("true")
    );
    let manufacturer = token
        .find(Locator::Css("dd[data-field='manufacturer']"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(manufacturer, "SoftHSM project");

    // The profile's token and the identity check's verdict on it: the core's sentence, the one
    // `keyrite hsm info` prints for the same data directory (amber: rehearsal, not pinned).
    let cli = keyrite_testkit::keyrite(&data.path(), &["hsm", "info"]);
    let cli = keyrite_testkit::stdout(&cli);
    let line = cli
        .lines()
        .find_map(|l| l.strip_prefix("Profile's token: "))
        .unwrap_or_else(|| panic!("no profile token line in:\n{cli}"));
    assert!(line.contains("is used without a pinned identity"), "{line}");
    assert_eq!(s.text("#hsm-profile-token").await, line);
    let verdict = s.wait("#hsm-profile-token").await;
    assert_eq!(
        verdict.attr("data-verdict").await.unwrap().as_deref(),
        Some("unpinned")
    );
    assert_eq!(
        verdict.attr("class").await.unwrap().as_deref(),
        Some("warn")
    );

    // "Skip to the screen" moves focus into the current screen and keeps the route (it used
    // to follow its #screen link to Home).
    s.shortcut('2').await;
    s.wait("main[data-route]:not([data-route='home'])").await;
    let route = s.attr("main", "data-route").await;
    // The skip link is the first thing Tab reaches from the top of the page.
    client
        .execute(
            "document.activeElement && document.activeElement.blur();",
            vec![],
        )
        .await
        .unwrap();
    s.activate("a.skip").await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(s.attr("main", "data-route").await, route);
    let inside = client
        .execute(
            "return document.getElementById('screen').contains(document.activeElement);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(inside, serde_json::json!(true));
    s.shortcut('1').await;
    s.wait("main[data-route='home']").await;

    let banner = client.find(Locator::Id("mode-banner")).await.unwrap();
    assert_eq!(
        banner.attr("data-mode").await.unwrap().as_deref(),
        Some("rehearsal")
    );
    assert!(banner
        .text()
        .await
        .unwrap()
        .starts_with("REHEARSAL — SOFTWARE HSM"));

    // The CSP forbids inline scripts: an injected one must not run.
    let ran: serde_json::Value = client
        .execute(
            "const s = document.createElement('script'); s.textContent = 'window.__inj = 1'; \
             document.body.appendChild(s); return window.__inj === 1;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(ran, serde_json::Value::Bool(false));

    // A fresh data directory has no journal yet, and says so.
    s.wait("#journal-panel .verdict[data-verdict='empty']")
        .await;
    s.wait("#ceremonies-panel[data-state='ok']").await;
    s.screenshot("home-fresh").await;

    // The accessibility check can fail: a button without a name is a critical violation.
    client
        .execute(
            "const b = document.createElement('button'); b.id = 'axe-control'; \
             document.getElementById('screen').append(b);",
            vec![],
        )
        .await
        .unwrap();
    let found = s.accessibility_violations().await;
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].starts_with(
            "button-name (critical): Buttons must have discernible text — #axe-control: "
        ),
        "{found:#?}"
    );
    client
        .execute("document.getElementById('axe-control').remove();", vec![])
        .await
        .unwrap();
    assert_eq!(s.accessibility_violations().await, Vec::<String>::new());
    s.close().await;
}
