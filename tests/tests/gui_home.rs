//! The real desktop app in a real window (Xvfb) through tauri-driver and WebKitWebDriver.
//! Run with `xvfb-run cargo test -p keyrite-tests --test gui_home -- --ignored` (the README's
//! test command does).

use fantoccini::{ClientBuilder, Locator};
use keyrite_tests::gui::Driver;
use keyrite_tests::TempData;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs an X display and tauri-driver: run under xvfb-run with --ignored"]
async fn home_screen_shows_rehearsal_banner_and_hsm_panel_lists_the_rehearsal_token() {
    let data = TempData::new();
    let driver = Driver::start(&data.path());
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(Driver::capabilities())
        .connect(&driver.url)
        .await
        .expect("WebDriver session with the desktop app");

    let panel = client
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css("#hsm-panel[data-state='ok']"))
        .await
        .expect("HSM panel loaded");
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

    if let Some(dir) = std::env::var_os("KEYRITE_SCREENSHOT_DIR") {
        // Two frames so the screenshot shows the final paint.
        let _ = client
            .execute_async(
                "const done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(() => done(true)));",
                vec![],
            )
            .await;
        let png = client.screenshot().await.unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(std::path::Path::new(&dir).join("home.png"), png).unwrap();
    }
    client.close().await.unwrap();
}
