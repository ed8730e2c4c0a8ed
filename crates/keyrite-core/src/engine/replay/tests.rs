//! Replaying interrupted actions from the journal.

use super::*;

fn journal_killed_during(action: &str, backup_made: bool) -> (tempfile::TempDir, Journal) {
    let tmp = tempfile::tempdir().unwrap();
    let mut j = Journal::open(&tmp.path().join("journal.sqlite"), &Default::default()).unwrap();
    let id = "c-1".to_string();
    j.append(Event::CeremonyStarted {
        ceremony_id: id.clone(),
        script_name: "s".into(),
        script_sha256: "00".into(),
        mode: "rehearsal".into(),
    })
    .unwrap();
    j.append(Event::StepStarted {
        ceremony_id: id.clone(),
        step: "backup-key".into(),
        title: "Back up".into(),
    })
    .unwrap();
    j.append(Event::ActionIntent {
        ceremony_id: id.clone(),
        step: "backup-key".into(),
        action: action.into(),
        label: Some("k1".into()),
    })
    .unwrap();
    if backup_made {
        j.append(Event::BackupMade {
            backup_id: "k1-c-1".into(),
            key_id: "k1".into(),
            wrapped_by: "kek".into(),
            blob_sha256: "00".into(),
            location: "/elsewhere/k1.krbak".into(),
        })
        .unwrap();
    }
    (tmp, j)
}

#[test]
fn a_backup_killed_before_backup_made_frees_the_file_name() {
    let (tmp, j) = journal_killed_during("backup", false);
    let r = Replayed::read(&j, "c-1").unwrap();
    let [p] = r.pending.as_slice() else {
        panic!("one pending action expected")
    };
    assert_eq!(
        p.remove_file.as_deref(),
        Some(
            tmp.path()
                .join("backups/k1-c-1.krbak")
                .display()
                .to_string()
                .as_str()
        )
    );
    assert_eq!(p.reset_steps, ["backup-key"]);
    assert_eq!(p.destroy_label, None);
}

#[test]
fn a_journaled_backup_location_wins() {
    let (_tmp, j) = journal_killed_during("backup", true);
    let r = Replayed::read(&j, "c-1").unwrap();
    assert_eq!(
        r.pending[0].remove_file.as_deref(),
        Some("/elsewhere/k1.krbak")
    );
}

#[test]
fn an_action_journaled_done_is_not_run_again_until_its_step_is_reset() {
    let (_tmp, mut j) = journal_killed_during("backup", true);
    let (id, step) = ("c-1".to_string(), "backup-key".to_string());
    let action = "backup".to_string();
    let done = Event::ActionDone {
        ceremony_id: id.clone(),
        step: step.clone(),
        action,
    };
    j.append(done).unwrap();
    let r = Replayed::read(&j, "c-1").unwrap();
    assert!(r.pending.is_empty() && r.acted.contains(&step));
    let reason = "test".to_string();
    j.append(Event::StepReset {
        ceremony_id: id,
        step,
        reason,
    })
    .unwrap();
    assert!(Replayed::read(&j, "c-1").unwrap().acted.is_empty());
}

/// A journal where a quorum operation (no intent) made share set `s-9` of 3 shares sealed to
/// YubiKeys and `handed` of them were handed out before the kill.
fn journal_after_a_rotation(handed: u8) -> (tempfile::TempDir, Journal) {
    let tmp = tempfile::tempdir().unwrap();
    let mut j = Journal::open(&tmp.path().join("journal.sqlite"), &Default::default()).unwrap();
    let id = "c-1".to_string();
    j.append(Event::CeremonyStarted {
        ceremony_id: id.clone(),
        script_name: "s".into(),
        script_sha256: "00".into(),
        mode: "rehearsal".into(),
    })
    .unwrap();
    j.append(Event::ShareSetCreated {
        set_id: "s-9".into(),
        protects_key_id: "kek-r2".into(),
        threshold: 2,
        share_count: 3,
        share_fingerprints: vec!["a".into(), "b".into(), "c".into()],
    })
    .unwrap();
    for index in 1..=handed {
        j.append(Event::ShareDistributed {
            ceremony_id: id.clone(),
            set_id: "s-9".into(),
            index,
            custodian_id: format!("yk-700{index}"),
            shown: false,
            sealed_file: Some(format!("/d/shares/s-9/share-{index}.sealed")),
            sealed_sha256: None,
        })
        .unwrap();
    }
    (tmp, j)
}

#[test]
fn a_set_a_quorum_operation_handed_out_is_the_ceremonys_on_resume() {
    let (_tmp, j) = journal_after_a_rotation(3);
    let r = Replayed::read(&j, "c-1").unwrap();
    let set = r.set.expect("the rotation's set");
    assert_eq!(set.set_id, "s-9");
    assert_eq!(set.holders.get(&2).map(String::as_str), Some("yk-7002"));
    assert!(set.undistributed().is_empty() && r.pending.is_empty());
}

#[test]
fn a_rotation_set_cut_short_never_voids_its_kek() {
    let (_tmp, j) = journal_after_a_rotation(2);
    let r = Replayed::read(&j, "c-1").unwrap();
    // The backups are wrapped under the new KEK only: it is kept, and verify-shares names
    // the lost share.
    assert!(r.pending.is_empty(), "{:?}", r.pending);
    assert_eq!(r.set.expect("kept").undistributed(), [3]);
}
