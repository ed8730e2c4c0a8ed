//! The real app context (capabilities, ACL) on Tauri's mock runtime, no display: every granted
//! command answers, anything else — another command name, a plugin — is refused.

use keyrite_core::hardening::HardeningReport;
use keyrite_desktop::{setup, AppState, LaunchOptions};
use serde_json::{json, Value};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{get_ipc_response, mock_builder, INVOKE_KEY};
use tauri::webview::InvokeRequest;

fn request(cmd: &str, body: Value) -> InvokeRequest {
    InvokeRequest {
        cmd: cmd.into(),
        callback: CallbackFn(0),
        error: CallbackFn(1),
        // The app's origin on Linux.
        url: "tauri://localhost".parse().expect("url"),
        body: InvokeBody::Json(body),
        headers: Default::default(),
        invoke_key: INVOKE_KEY.to_string(),
    }
}

#[test]
fn granted_commands_answer_and_nothing_else_is_allowed() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let state = AppState::open(
        LaunchOptions {
            profile: None,
            data_dir: Some(tmp.path().join("data")),
        },
        HardeningReport {
            core_dumps_disabled: false,
            not_dumpable: false,
            memlock_limit_bytes: None,
        },
    );
    let app = setup(mock_builder(), state)
        .build(tauri::generate_context!())
        .expect("app");
    let webview = tauri::WebviewWindowBuilder::new(&app, "main", Default::default())
        .build()
        .expect("main window");
    let call = |cmd: &str, body: Value| {
        get_ipc_response(&webview, request(cmd, body))
            .map(|b| b.deserialize::<Value>().expect("JSON response"))
    };

    let status = call("app_status", json!({})).expect("app_status");
    assert_eq!(status["mode"], "rehearsal");
    let journal = call("journal_verify", json!({})).expect("journal_verify");
    assert_eq!(journal["exists"], false);
    assert_eq!(
        call("record_verify", json!({"path": ""})).unwrap_err(),
        json!("type the full path of the PDF record")
    );
    assert_eq!(call("ceremony_current", json!({})).unwrap(), Value::Null);
    assert_eq!(
        call("ceremony_share", json!({})).unwrap_err(),
        json!("no ceremony is running in this window")
    );

    for cmd in [
        "delete_everything",
        "plugin:fs|read_file",
        "plugin:shell|execute",
    ] {
        let err = call(cmd, json!({})).unwrap_err();
        let text = err.as_str().unwrap_or_default().to_string();
        assert!(
            text.contains("not allowed") || text.contains("not found"),
            "{cmd}: {err}"
        );
    }
}
