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
