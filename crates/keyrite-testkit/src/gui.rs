//! Driving the real desktop app: tauri-driver + WebKitWebDriver under the caller's X display.

use crate::{bin, wait_for_port, GroupChild};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

mod axe;
pub mod drive;
mod keys;
mod records;

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
        Self::start_with(data_dir, &[])
    }

    /// Starts tauri-driver as [`Driver::start`] does, with `env` added to its environment (the
    /// app inherits it: e.g. `SOFTHSM2_CONF`, `PKCS11SPY`, `CUPS_SERVER`).
    pub fn start_with(data_dir: &Path, env: &[(&str, &str)]) -> Self {
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
        .envs(env.iter().copied())
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
        Self::capabilities_with(&[])
    }

    /// Capabilities that launch the desktop app binary with `args` (e.g. `--profile FILE`).
    pub fn capabilities_with(args: &[&str]) -> serde_json::Map<String, serde_json::Value> {
        let app = bin("keyrite-desktop");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "tauri:options".into(),
            serde_json::json!({ "application": app, "args": args }),
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

impl Session {
    /// Starts tauri-driver and opens the app on `data_dir` (retrying the launch once: under a
    /// loaded X server GTK can fail to start, see research/tauri.md §7).
    pub async fn open(data_dir: &Path) -> Self {
        Self::open_with(data_dir, &[], &[]).await
    }

    /// Opens the app as [`Session::open`] does, started with `args` and with `env` added to
    /// its environment.
    pub async fn open_with(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let driver = Driver::start_with(data_dir, env);
        let mut last = None;
        for _ in 0..3 {
            match fantoccini::ClientBuilder::new(
                hyper_util::client::legacy::connect::HttpConnector::new(),
            )
            .capabilities(Driver::capabilities_with(args))
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
