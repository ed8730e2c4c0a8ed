//! `keyrite ceremony validate|show` through the real binary.

use std::process::Command;

fn keyrite(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_keyrite"))
        .args(args)
        .output()
        .expect("run keyrite");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn script(name: &str) -> String {
    format!(
        "{}/../../ceremony-scripts/{name}.toml",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn validate_accepts_a_shipped_script_and_prints_its_hash() {
    let path = script("root-key-generation");
    let (code, out, _) = keyrite(&["ceremony", "validate", &path]);
    assert_eq!(code, 0);
    let bytes = std::fs::read(&path).expect("read");
    let digest = keyrite_core::script::ScriptDigest::of(&bytes);
    assert!(
        out.contains(&format!("SHA-256: {}\n", digest.hex())),
        "{out}"
    );
    assert!(
        out.contains(&format!("Words:   {}\n", digest.words())),
        "{out}"
    );
}

#[test]
fn validate_refuses_with_the_precise_error() {
    let tmp = tempfile::tempdir().expect("tmp");
    let bad = tmp.path().join("bad.toml");
    let text = std::fs::read_to_string(script("key-rotation"))
        .expect("read")
        .replace("threshold = 3, total = 5", "threshold = 6, total = 5");
    std::fs::write(&bad, text).expect("write");
    let (code, out, err) = keyrite(&["ceremony", "validate", bad.to_str().expect("utf8 path")]);
    assert_eq!(code, 1);
    assert_eq!(out, "");
    assert_eq!(
        err,
        format!(
            "keyrite: error: {}:17:28: roles.custodians.threshold: threshold 6 is larger than the 5 custodians: the root key could never be rebuilt; use a threshold of at most 5\n",
            bad.display()
        )
    );
}

#[test]
fn show_lists_roles_steps_and_quorum() {
    let (code, out, _) = keyrite(&["ceremony", "show", &script("key-destruction")]);
    assert_eq!(code, 0);
    assert!(out.starts_with("Key destruction (quorum)\n"), "{out}");
    assert!(
        out.contains("  custodians:    5 (any 3 of the 5 rebuild or approve)\n"),
        "{out}"
    );
    assert!(
        out.contains("[destroy-key] — destroy by administrator, QUORUM\n"),
        "{out}"
    );
    let (code, json, _) = keyrite(&["ceremony", "show", "--json", &script("key-destruction")]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(v["roles"]["custodians"]["k"], 3);
    assert_eq!(v["digest"]["sha256"].as_str().map(str::len), Some(64));
}
