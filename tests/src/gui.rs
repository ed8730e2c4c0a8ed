//! Driving the real desktop app: tauri-driver + WebKitWebDriver under the caller's X display.

use crate::{bin, wait_for_port, GroupChild};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Where `tauri-driver` is: `$KEYRITE_TOOLS/bin`, else `~/.cache/keyrite-tools/bin` (where
/// `.ci/setup.sh` installs it), else `PATH`.
pub fn tauri_driver() -> PathBuf {
    let tools = std::env::var_os("KEYRITE_TOOLS")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/keyrite-tools"))
        });
    if let Some(t) = tools {
        let p = t.join("bin/tauri-driver");
        if p.exists() {
            return p;
        }
    }
    PathBuf::from("tauri-driver")
}

/// A running tauri-driver on a free port.
pub struct Driver {
    _proc: GroupChild,
    /// WebDriver URL.
    pub url: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

impl Driver {
    /// Starts tauri-driver with the app's data directory in its environment (the app inherits it).
    pub fn start(data_dir: &Path) -> Self {
        assert!(
            std::env::var_os("DISPLAY").is_some(),
            "GUI tests need an X display: run them under xvfb-run (the README's test command does)"
        );
        let port = free_port();
        let native = free_port();
        let mut cmd = Command::new(tauri_driver());
        cmd.args([
            "--port",
            &port.to_string(),
            "--native-port",
            &native.to_string(),
        ])
        .env("KEYRITE_DATA_DIR", data_dir)
        .env_remove("SOFTHSM2_CONF")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        let proc = GroupChild::spawn(cmd).expect("start tauri-driver (run .ci/setup.sh)");
        assert!(
            wait_for_port(&format!("127.0.0.1:{port}"), Duration::from_secs(20)),
            "tauri-driver did not listen on port {port}"
        );
        Self {
            _proc: proc,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// WebDriver capabilities that launch the desktop app binary.
    pub fn capabilities() -> serde_json::Map<String, serde_json::Value> {
        let app = bin("keyrite-desktop");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "tauri:options".into(),
            serde_json::json!({ "application": app }),
        );
        caps
    }
}

/// A WebDriver session with the desktop app on a data directory, and the helpers the GUI tests
/// share: waiting for elements, navigating, screenshots.
pub struct Session {
    /// The WebDriver client.
    pub client: fantoccini::Client,
    _driver: Driver,
    /// Screens (route and prompt) the accessibility check has passed in this session.
    checked: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

/// axe-core's source, vendored at build time from ui/node_modules (see `tests/build.rs`).
const AXE: &str = include_str!(concat!(env!("OUT_DIR"), "/axe.min.js"));

/// Runs axe-core on the page and gives back its serious and critical violations, one line
/// per element (rule, impact, help, element, what is wrong).
const AXE_RUN: &str = r#"
const done = arguments[arguments.length - 1];
axe.run(document, { resultTypes: ["violations"] }).then((r) => {
  const bad = [];
  for (const v of r.violations) {
    if (v.impact !== "serious" && v.impact !== "critical") continue;
    for (const n of v.nodes) bad.push(`${v.id} (${v.impact}): ${v.help} — ${n.target.join(" ")}: ${(n.failureSummary || "").replace(/\s+/g, " ")}`);
  }
  done(bad);
}, (e) => done([`axe-core failed: ${e}`]));
"#;

impl Session {
    /// Starts tauri-driver and opens the app on `data_dir` (retrying the launch once: under a
    /// loaded X server GTK can fail to start, see research/tauri.md §7).
    pub async fn open(data_dir: &Path) -> Self {
        let driver = Driver::start(data_dir);
        let mut last = None;
        for _ in 0..3 {
            match fantoccini::ClientBuilder::new(
                hyper_util::client::legacy::connect::HttpConnector::new(),
            )
            .capabilities(Driver::capabilities())
            .connect(&driver.url)
            .await
            {
                Ok(client) => {
                    let s = Self {
                        client,
                        _driver: driver,
                        checked: Default::default(),
                    };
                    // The first screen is drawn once the app status has loaded; from then on
                    // the keyboard shortcuts are live.
                    s.wait("main[data-route]:not([data-route=''])").await;
                    return s;
                }
                Err(e) => {
                    last = Some(e);
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            }
        }
        panic!("WebDriver session with the desktop app: {last:?}");
    }

    /// Waits (up to 30 s) for an element matching `css`.
    pub async fn wait(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(30))
            .for_element(fantoccini::Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("waiting for {css}: {e}"))
    }

    /// The text of the first element matching `css` (waiting for it).
    pub async fn text(&self, css: &str) -> String {
        self.wait(css)
            .await
            .text()
            .await
            .unwrap_or_else(|e| panic!("text of {css}: {e}"))
    }

    /// All elements matching `css` (no waiting).
    pub async fn all(&self, css: &str) -> Vec<fantoccini::elements::Element> {
        self.client
            .find_all(fantoccini::Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("find {css}: {e}"))
    }

    /// Presses Alt+`digit` (the screen shortcuts) on the focused element.
    pub async fn shortcut(&self, digit: char) {
        use fantoccini::actions::{InputSource, KeyAction, KeyActions};
        use fantoccini::key::Key;
        let keys = KeyActions::new("keyboard".into())
            .then(KeyAction::Down {
                value: Key::Alt.into(),
            })
            .then(KeyAction::Down { value: digit })
            .then(KeyAction::Up { value: digit })
            .then(KeyAction::Up {
                value: Key::Alt.into(),
            });
        self.client
            .perform_actions(keys)
            .await
            .expect("perform key actions");
    }

    /// Presses and releases `keys` one after the other (WebDriver key actions: what a
    /// keyboard sends to the focused element).
    pub async fn keys(&self, keys: &[char]) {
        use fantoccini::actions::{InputSource, KeyAction, KeyActions};
        let mut a = KeyActions::new("keyboard".into());
        for &k in keys {
            a = a
                .then(KeyAction::Down { value: k })
                .then(KeyAction::Up { value: k });
        }
        self.client
            .perform_actions(a)
            .await
            .expect("perform key actions");
    }

    /// Presses `key` with `modifier` held (Shift+Tab, Ctrl+A).
    pub async fn chord(&self, modifier: fantoccini::key::Key, key: char) {
        use fantoccini::actions::{InputSource, KeyAction, KeyActions};
        let m: char = modifier.into();
        let a = KeyActions::new("keyboard".into())
            .then(KeyAction::Down { value: m })
            .then(KeyAction::Down { value: key })
            .then(KeyAction::Up { value: key })
            .then(KeyAction::Up { value: m });
        self.client
            .perform_actions(a)
            .await
            .expect("perform key actions");
    }

    /// Presses one special key (Enter, Tab, Space, Escape, arrows…).
    pub async fn press(&self, key: fantoccini::key::Key) {
        self.keys(&[key.into()]).await;
    }

    /// Presses `key` when the press may end the app (its answer may never come).
    pub async fn press_unanswered(&self, key: fantoccini::key::Key) {
        use fantoccini::actions::{InputSource, KeyAction, KeyActions};
        let k: char = key.into();
        let a = KeyActions::new("keyboard".into())
            .then(KeyAction::Down { value: k })
            .then(KeyAction::Up { value: k });
        let _ = self.client.perform_actions(a).await;
    }

    /// Whether the focused element matches `css`.
    pub async fn focus_is(&self, css: &str) -> bool {
        self.client
            .execute(
                "const a = document.activeElement; return !!a && a.matches(arguments[0]);",
                vec![serde_json::json!(css)],
            )
            .await
            .expect("read the focus")
            == serde_json::json!(true)
    }

    /// The focused element, for messages: its id, else its tag and text.
    pub async fn focused(&self) -> String {
        self.client
            .execute(
                "const a = document.activeElement; return a ? (a.id || a.tagName + ' ' + (a.textContent || '').slice(0, 40)) : '';",
                vec![],
            )
            .await
            .expect("read the focus")
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Moves the focus to the element `css` with Tab only, as a keyboard user would (waiting
    /// for it first); panics when Tab never reaches it (a keyboard trap or an unreachable
    /// control).
    pub async fn tab_to(&self, css: &str) {
        self.wait(css).await;
        for _ in 0..120 {
            if self.focus_is(css).await {
                return;
            }
            self.press(fantoccini::key::Key::Tab).await;
        }
        panic!(
            "Tab never reached {css} (the focus is on {})",
            self.focused().await
        );
    }

    /// Activates the control `css` by keyboard: Tab to it, then Space for a checkbox or a
    /// radio button, Enter for anything else.
    pub async fn activate(&self, css: &str) {
        use fantoccini::key::Key;
        self.tab_to(css).await;
        let toggle = self
            .focus_is("input[type=checkbox], input[type=radio]")
            .await;
        self.press(if toggle { Key::Space } else { Key::Enter })
            .await;
    }

    /// Checks the radio button `css` by keyboard: Tab into its group, then the arrow keys
    /// (Space when the focus is on it but it is not yet checked).
    pub async fn check_radio(&self, css: &str) {
        use fantoccini::key::Key;
        let e = self.wait(css).await;
        let name = e
            .attr("name")
            .await
            .expect("radio name")
            .unwrap_or_else(|| panic!("{css} has no name"));
        self.tab_to(&format!("input[type=radio][name='{name}']"))
            .await;
        for _ in 0..40 {
            let checked = self
                .client
                .execute(
                    "return document.querySelector(arguments[0]).checked;",
                    vec![serde_json::json!(css)],
                )
                .await
                .expect("read the radio")
                == serde_json::json!(true);
            if checked {
                return;
            }
            if self.focus_is(css).await {
                self.press(Key::Space).await;
            } else {
                self.press(Key::Down).await;
            }
        }
        panic!("the arrow keys never checked {css}");
    }

    /// Types `text` at the focus, one key at a time.
    pub async fn type_text(&self, text: &str) {
        let chars: Vec<char> = text.chars().collect();
        // In chunks: one WebDriver call per 64 characters.
        for c in chars.chunks(64) {
            self.keys(c).await;
        }
    }

    /// Types `text` into the input `css`: Tab to it, select what it holds (Ctrl+A), delete it,
    /// type.
    pub async fn type_into(&self, css: &str, text: &str) {
        use fantoccini::key::Key;
        self.tab_to(css).await;
        self.chord(Key::Control, 'a').await;
        self.press(Key::Backspace).await;
        if !text.is_empty() {
            self.type_text(text).await;
        }
    }

    /// Chooses the option with value `value` in the select `css` by keyboard: Tab to it, then
    /// Home and Down until it is selected.
    pub async fn select(&self, css: &str, value: &str) {
        use fantoccini::key::Key;
        self.tab_to(css).await;
        self.press(Key::Home).await;
        for _ in 0..40 {
            if self.value(css).await == value {
                return;
            }
            self.press(Key::Down).await;
        }
        panic!("the select {css} never showed the option {value}");
    }

    /// Scrolls the first element matching `css` into the middle of the window.
    pub async fn scroll_to(&self, css: &str) {
        let e = self.wait(css).await;
        let arg = serde_json::to_value(&e).expect("element reference");
        self.client
            .execute("arguments[0].scrollIntoView({block: 'center'});", vec![arg])
            .await
            .expect("scroll into view");
    }

    /// Scrolls the first element matching `css` to the top of the window.
    pub async fn scroll_to_top(&self, css: &str) {
        let e = self.wait(css).await;
        let arg = serde_json::to_value(&e).expect("element reference");
        self.client
            .execute("arguments[0].scrollIntoView({block: 'start'});", vec![arg])
            .await
            .expect("scroll into view");
    }

    /// The accessibility check: axe-core, injected through WebDriver, on the page as it is
    /// now; panics listing every serious or critical violation.
    pub async fn check_accessibility(&self, screen: &str) {
        let lines = self.accessibility_violations().await;
        assert!(
            lines.is_empty(),
            "accessibility check on screen {screen}: {} serious or critical violation(s):\n{}",
            lines.len(),
            lines.join("\n")
        );
    }

    /// axe-core's serious and critical violations on the page as it is now, one line each.
    pub async fn accessibility_violations(&self) -> Vec<String> {
        assert!(
            !AXE.is_empty(),
            "axe-core is not installed: run `npm ci` in ui/ (it is a devDependency), then build again"
        );
        let loaded = self
            .client
            .execute("return typeof window.axe === 'object';", vec![])
            .await
            .expect("look for axe-core");
        if loaded != serde_json::json!(true) {
            // Run as WebDriver script (the app's CSP allows no inline script): axe-core's UMD
            // wrapper sets window.axe.
            self.client
                .execute(&format!("{AXE}\n;return true;"), vec![])
                .await
                .expect("inject axe-core");
        }
        let found = self
            .client
            .execute_async(AXE_RUN, vec![])
            .await
            .expect("run axe-core");
        serde_json::from_value(found).expect("axe-core's answer")
    }

    /// Checks the screen as it is now once per session and screen: the route and, on the
    /// ceremony screen, the prompt kind (and any open dialog).
    pub async fn check_screen(&self) {
        let key = self
            .client
            .execute(
                "const m = document.getElementById('screen'); const v = document.getElementById('ceremony-view'); \
                 const d = document.querySelector('.modal'); \
                 return [m ? m.dataset.route : '', v ? v.dataset.kind : '', d ? d.id : ''].join('/');",
                vec![],
            )
            .await
            .expect("which screen")
            .as_str()
            .unwrap_or_default()
            .to_string();
        let new = self
            .checked
            .lock()
            .map(|mut c| c.insert(key.clone()))
            .unwrap_or(true);
        if new {
            self.check_accessibility(&key).await;
        }
    }

    /// Saves a screenshot as `NAME.png` in `$KEYRITE_SCREENSHOT_DIR`, if set; every screen
    /// photographed is also checked for accessibility.
    pub async fn screenshot(&self, name: &str) {
        self.check_accessibility(name).await;
        let Some(dir) = std::env::var_os("KEYRITE_SCREENSHOT_DIR") else {
            return;
        };
        // Two frames so the screenshot shows the final paint (WebDriver can lag one frame).
        let _ = self
            .client
            .execute_async(
                "const done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(() => done(true)));",
                vec![],
            )
            .await;
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(Path::new(&dir).join(format!("{name}.png")), png).expect("write screenshot");
    }

    /// The attribute `name` of the first element matching `css` (waiting for it); empty when
    /// the attribute is absent.
    pub async fn attr(&self, css: &str, name: &str) -> String {
        self.wait(css)
            .await
            .attr(name)
            .await
            .unwrap_or_else(|e| panic!("attribute {name} of {css}: {e}"))
            .unwrap_or_default()
    }

    /// The current value of the input `css`.
    pub async fn value(&self, css: &str) -> String {
        self.wait(css)
            .await
            .prop("value")
            .await
            .unwrap_or_else(|e| panic!("value of {css}: {e}"))
            .unwrap_or_default()
    }

    /// Removes the ceremony screen's error message (so a later one is news).
    pub async fn clear_prompt_error(&self) {
        self.client
            .execute(
                "document.getElementById('prompt-error')?.replaceChildren();",
                vec![],
            )
            .await
            .expect("clear the prompt error");
    }

    /// Waits until the ceremony view was redrawn (its render counter is no longer `before`);
    /// panics with the engine's message if a refusal shows instead.
    pub async fn after_render(&self, before: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(90);
        loop {
            if let Some(e) = self.all("#prompt-error-text").await.first() {
                panic!("the engine refused: {}", e.text().await.unwrap_or_default());
            }
            if let Ok(v) = self
                .client
                .find(fantoccini::Locator::Css("#ceremony-view"))
                .await
            {
                if let Ok(Some(r)) = v.attr("data-render").await {
                    if r != before {
                        self.check_screen().await;
                        return;
                    }
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the ceremony view did not change"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Presses the prompt's submit button (by keyboard) and waits for the next prompt.
    pub async fn submit_prompt(&self) {
        let before = self.attr("#ceremony-view", "data-render").await;
        self.activate("#prompt-submit").await;
        self.after_render(&before).await;
    }

    /// Activates `css` (by keyboard) and waits for the ceremony view to be redrawn.
    pub async fn activate_and_wait(&self, css: &str) {
        let before = self.attr("#ceremony-view", "data-render").await;
        self.activate(css).await;
        self.after_render(&before).await;
    }

    /// Loads the script at `path` on the ceremony screen (Alt+6), checks that its hash in
    /// words is the core's, and starts it.
    pub async fn start_ceremony(&self, path: &Path) {
        let path = path.canonicalize().expect("script path");
        self.shortcut('6').await;
        self.wait("#script-form").await;
        self.type_into("#script-path", path.to_str().expect("utf-8 path"))
            .await;
        self.activate("#script-load").await;
        self.wait("#ceremony-choose[data-state='loaded']").await;
        let expected = keyrite_core::script::Script::load(&path)
            .expect("script")
            .digest
            .words();
        assert_eq!(
            self.text("#script-details dd[data-field='script-words']")
                .await,
            expected
        );
        self.activate("#ceremony-start").await;
        self.wait("#ceremony-view").await;
    }

    /// Ends the session (the app quits).
    pub async fn close(self) {
        let _ = self.client.close().await;
    }
}

/// Journals a small history in `data`: a rehearsal ceremony with two steps, a record and a
/// close, a second ceremony still open, and three keys — one due for rotation now, one within
/// 90 days, one not for years. Returns the number of entries written.
pub fn seed_journal(data: &Path) -> u64 {
    use keyrite_core::inventory::{self, KeyState, KeyType, NewKey};
    use keyrite_core::journal::{Event, Journal};
    use keyrite_core::paths::DataDir;
    let dd = DataDir::open_at(data.to_path_buf()).expect("data dir");
    let mut j = Journal::open_data_dir(&dd).expect("journal");
    let c = |id: &str| id.to_string();
    let events = vec![
        Event::CeremonyStarted {
            ceremony_id: c("root-2026-05"),
            script_name: c("root-key"),
            script_sha256: "ab".repeat(32),
            mode: c("rehearsal").into(),
        },
        Event::StepStarted {
            ceremony_id: c("root-2026-05"),
            step: c("generate"),
            title: c("Generate the root KEK"),
        },
        Event::StepCompleted {
            ceremony_id: c("root-2026-05"),
            step: c("generate"),
        },
        Event::StepStarted {
            ceremony_id: c("root-2026-05"),
            step: c("split"),
            title: c("Split into 5 shares, 3 needed"),
        },
        Event::StepCompleted {
            ceremony_id: c("root-2026-05"),
            step: c("split"),
        },
        Event::RecordProduced {
            ceremony_id: c("root-2026-05"),
            record_sha256: "cd".repeat(32),
            pages: 4,
        },
        Event::CeremonyClosed {
            ceremony_id: c("root-2026-05"),
            outcome: c("completed").into(),
        },
        Event::CeremonyStarted {
            ceremony_id: c("rotate-2026-06"),
            script_name: c("rotate-signing-key"),
            script_sha256: "ef".repeat(32),
            mode: c("rehearsal").into(),
        },
    ];
    for e in events {
        j.append(e).expect("append");
    }
    let key = |id: &str, t: KeyType, days: Option<i64>| NewKey {
        key_id: id.into(),
        label: format!("{id}-label"),
        purpose: "GUI test".into(),
        key_type: t,
        algorithm: "AES-256".into(),
        token_serial: "0123456789".into(),
        cka_id: "01".into(),
        fingerprint: None,
        cryptoperiod_days: days,
        justification: None,
    };
    inventory::register(
        &mut j,
        key("root-kek", KeyType::SymmetricKeyWrapping, None),
        "so",
    )
    .expect("register root-kek");
    inventory::transition(&mut j, "root-kek", KeyState::Active, "ceremony", "so")
        .expect("activate root-kek");
    inventory::register(
        &mut j,
        key("old-dek", KeyType::SymmetricDataEncryption, Some(0)),
        "so",
    )
    .expect("register old-dek");
    inventory::register(
        &mut j,
        key("next-dek", KeyType::SymmetricDataEncryption, Some(30)),
        "so",
    )
    .expect("register next-dek");
    j.head().size
}

/// Changes the body of journal entry `seq` behind Keyrite's back, as an attacker with the
/// database file would (the guard triggers dropped first).
pub fn tamper_entry(data: &Path, seq: u64) {
    let db = keyrite_core::paths::DataDir::open_at(data.to_path_buf())
        .expect("data dir")
        .journal_db();
    let store = keyrite_core::store::Store::open(&db, &Default::default()).expect("store");
    store
        .conn()
        .execute_batch(&format!(
            "DROP TRIGGER IF EXISTS journal_no_update; \
             UPDATE journal_entry SET body = CAST(replace(CAST(body AS TEXT), 'generate', 'gen3rate') AS BLOB) WHERE seq = {seq};"
        ))
        .expect("tamper");
}

/// A signed record PDF (two pages, a transcript attachment) and its signer's certificate
/// (DER), signed with a software key through the core's record module.
pub fn signed_record(site: &str) -> (Vec<u8>, Vec<u8>) {
    use keyrite_core::pdf::{DocInfo, Document, Font, PageSize};
    use keyrite_core::record::{attach_file, sign_pdf};
    use keyrite_core::signer::SoftwareP384Signer;
    let clock = std::time::UNIX_EPOCH + Duration::from_secs(1_779_355_800);
    let mut doc = Document::new(
        &DocInfo {
            title: "Ceremony record root-2026-05".into(),
            author: site.into(),
            created_unix: 1_779_355_800,
        },
        PageSize::A4,
        Some("REHEARSAL"),
    )
    .expect("document");
    for n in 1..=2 {
        let mut p = doc.page();
        p.text(Font::Sans, 14.0, &format!("Root key ceremony — page {n}"));
        p.text(
            Font::Mono,
            10.0,
            "step generate: completed; step split: completed",
        );
        doc.add_page(p).expect("page");
    }
    let pdf = attach_file(
        &doc.save().expect("save"),
        "transcript.json",
        "application/json",
        br#"{"ceremony":"root-2026-05"}"#,
    )
    .expect("attach");
    let signer = SoftwareP384Signer::generate();
    let cert =
        keyrite_core::x509::record_signing_certificate(&signer, site, clock).expect("certificate");
    let signed = sign_pdf(
        &pdf,
        &signer,
        &cert,
        clock,
        "Ceremony record root-2026-05",
        "Vault B",
    )
    .expect("sign");
    (signed, cert)
}
