//! Every shipped ceremony script validates, and each has the shape its ceremony needs.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_core::script::{Action, ActionKind, Role, Script, SignOffCount};
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../ceremony-scripts")
}

fn load(name: &str) -> Script {
    let path = dir().join(format!("{name}.toml"));
    match Script::load(&path) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    }
}

fn kinds(s: &Script) -> Vec<ActionKind> {
    s.steps.iter().map(|st| st.action.kind()).collect()
}

#[test]
fn every_shipped_script_validates() {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir()).expect("ceremony-scripts/ exists") {
        let path = entry.expect("dir entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let script = Script::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        assert_eq!(script.id.as_str(), stem, "script id matches file name");
        for step in &script.steps {
            assert!(
                step.instructions.trim().len() > 40,
                "{}: instructions too thin",
                step.id
            );
            assert!(
                !step.compliance.is_empty(),
                "{}: no compliance reference",
                step.id
            );
        }
        assert_eq!(
            script.steps.first().map(|s| s.action.kind()),
            Some(ActionKind::Preflight)
        );
        names.push(stem.to_string());
    }
    names.sort();
    assert_eq!(
        names,
        [
            "custodian-enrolment",
            "emergency-rotation",
            "hsm-initialisation",
            "key-destruction",
            "key-generation-and-backup",
            "key-rotation",
            "replace-custodian",
            "root-key-generation",
            "root-key-recovery",
        ]
    );
}

#[test]
fn root_key_generation_is_three_of_five_and_verifies_every_share() {
    let s = load("root-key-generation");
    let t = s.roles.custodians.expect("custodians declared");
    assert_eq!((t.k(), t.n()), (3, 5));
    let k = kinds(&s);
    let pos = |a| k.iter().position(|x| *x == a).expect("action present");
    assert!(pos(ActionKind::Preflight) < pos(ActionKind::ClockCheck));
    assert!(pos(ActionKind::ClockCheck) < pos(ActionKind::GenerateAndSplitRootKek));
    assert!(pos(ActionKind::GenerateAndSplitRootKek) < pos(ActionKind::DistributeShare));
    assert!(pos(ActionKind::DistributeShare) < pos(ActionKind::VerifyShares));
    assert!(pos(ActionKind::VerifyShares) < pos(ActionKind::SignRecord));
    assert_eq!(k.last(), Some(&ActionKind::SignRecord));
    let verify = &s.steps[pos(ActionKind::VerifyShares)];
    assert!(verify
        .sign_offs
        .iter()
        .any(|so| so.role == Role::Custodian && so.needed(&s.roles) == 5));
    let backup = &s.steps[pos(ActionKind::Backup)];
    assert_eq!(
        backup.action,
        Action::Backup {
            key: "keyrite-record-signing".into(),
            wrap_key: "keyrite-root-kek".into()
        }
    );
    assert_eq!(s.digest.hex().len(), 64);
    assert_eq!(s.digest.words().split(' ').count(), 32);
}

#[test]
fn quorum_scripts_need_quorum() {
    for (name, kind) in [
        ("key-rotation", ActionKind::Rotate),
        ("key-destruction", ActionKind::Destroy),
        ("emergency-rotation", ActionKind::Rotate),
        ("replace-custodian", ActionKind::ReplaceCustodian),
        ("root-key-recovery", ActionKind::Recover),
    ] {
        let s = load(name);
        let step = s
            .steps
            .iter()
            .find(|st| st.action.kind() == kind)
            .unwrap_or_else(|| panic!("{name} has no {kind} step"));
        assert!(step.quorum, "{name}: {kind} without quorum");
    }
}

#[test]
fn emergency_rotation_marks_the_old_key_compromised() {
    let s = load("emergency-rotation");
    assert!(s.steps.iter().any(|st| matches!(
        st.action,
        Action::Rotate {
            compromised: true,
            ..
        }
    )));
}

#[test]
fn replace_custodian_reverifies_the_new_share_set() {
    let s = load("replace-custodian");
    let k = kinds(&s);
    let r = k.iter().position(|a| *a == ActionKind::ReplaceCustodian);
    let v = k.iter().rposition(|a| *a == ActionKind::VerifyShares);
    assert!(matches!((r, v), (Some(r), Some(v)) if r < v));
    let verify = s
        .steps
        .iter()
        .rfind(|st| st.action.kind() == ActionKind::VerifyShares)
        .expect("verify step");
    assert!(verify
        .sign_offs
        .iter()
        .any(|so| so.role == Role::Custodian && so.count == SignOffCount::All));
}

/// Every text a shipped script says the screen shows (`**"…"**` in a step's instructions) is
/// one the result card of that step's action shows (`engine::promised_texts`; the engine's
/// result-card tests and the root-key ceremony test check each is shown).
#[test]
fn every_screen_text_a_script_quotes_is_shown_by_its_step() {
    let mut quoted = 0;
    for entry in std::fs::read_dir(dir()).expect("ceremony-scripts/ exists") {
        let path = entry.expect("dir entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let script = Script::load(&path).unwrap_or_else(|e| panic!("{e}"));
        for step in &script.steps {
            let mut rest = step.instructions.as_str();
            while let Some(at) = rest.find("**\"") {
                let after = &rest[at + 3..];
                let Some(end) = after.find("\"**") else {
                    panic!(
                        "{}: step {}: unclosed **\"",
                        path.display(),
                        step.id.as_str()
                    );
                };
                let text = &after[..end];
                let promised = keyrite_core::engine::promised_texts(step.action.kind());
                assert!(
                    promised.contains(&text),
                    "{}: step \"{}\" ({}) says the screen shows \"{text}\"; its result card shows {promised:?}",
                    path.display(),
                    step.id.as_str(),
                    step.action.kind()
                );
                quoted += 1;
                rest = &after[end + 3..];
            }
        }
    }
    assert!(quoted >= 5, "only {quoted} quoted screen texts found");
}

/// Every shipped script that rotates a key has every custodian open their new share (when the
/// root KEK was rotated) in a verify-shares step right after the rotation, before anything
/// else is done with the keys.
#[test]
fn every_rotation_is_followed_by_a_verify_step_of_every_custodian() {
    for name in ["key-rotation", "emergency-rotation"] {
        let s = load(name);
        let k = kinds(&s);
        let rotate = k
            .iter()
            .position(|x| *x == ActionKind::Rotate)
            .expect("a rotate step");
        assert_eq!(k.get(rotate + 1), Some(&ActionKind::VerifyShares), "{name}");
        let n = s.roles.custodians.expect("custodians declared").n();
        assert!(
            s.steps[rotate + 1]
                .sign_offs
                .iter()
                .any(|so| so.role == Role::Custodian && so.needed(&s.roles) == n),
            "{name}"
        );
    }
}
