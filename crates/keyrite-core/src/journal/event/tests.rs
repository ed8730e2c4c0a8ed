//! The journal's typed field values against the strings journals hold.

use super::*;

/// The event's bytes as the journal hashes them (`journal::canonical`).
fn canonical(ev: &Event) -> String {
    let v = serde_json::to_value(ev).unwrap();
    String::from_utf8(crate::journal::canonical::encode(&v).unwrap()).unwrap()
}

/// The strings journals hold today decode to the typed values and encode back to the
/// same canonical bytes (the hashed format is unchanged).
#[test]
fn todays_field_strings_decode_and_encode_unchanged() {
    let bodies = [
        r#"{"ceremony_id":"c-1","mode":"rehearsal","script_name":"root-key","script_sha256":"ab","type":"ceremony_started"}"#,
        r#"{"ceremony_id":"c-1","mode":"production","script_name":"root-key","script_sha256":"ab","type":"ceremony_started"}"#,
        r#"{"ceremony_id":"c-1","outcome":"completed","type":"ceremony_outcome"}"#,
        r#"{"ceremony_id":"c-1","outcome":"aborted","type":"ceremony_closed"}"#,
        r#"{"ceremony_id":"c-1","credential_fingerprint":null,"name":"Ada","participant_id":"custodian-1","role":"custodian","type":"participant_checked_in"}"#,
        r#"{"ceremony_id":"c-1","participant_id":"witness-1","role":"witness","signature_sha256":null,"step":"s1","type":"sign_off"}"#,
        r#"{"ceremony_id":"c-1","decided_by":["witness-1"],"decision":"skip","exception_id":"x1","reason":"r","type":"exception_decided"}"#,
        r#"{"ceremony_id":"c-1","check":"NetworkInterfaces","detail":"d","passed":true,"type":"preflight_result"}"#,
        r#"{"ceremony_id":"c-1","check":"RemovableMedia","detail":"d","passed":false,"type":"preflight_result"}"#,
        r#"{"ceremony_id":"c-1","check":"clock","detail":"d","passed":true,"type":"preflight_result"}"#,
    ];
    for body in bodies {
        let ev: Event = serde_json::from_str(body).unwrap();
        assert_eq!(canonical(&ev), body);
    }
    let ev: Event = serde_json::from_str(bodies[0]).unwrap();
    assert!(matches!(
        ev,
        Event::CeremonyStarted {
            mode: CeremonyMode::Rehearsal,
            ..
        }
    ));
    let ev: Event = serde_json::from_str(bodies[3]).unwrap();
    assert!(matches!(
        ev,
        Event::CeremonyClosed {
            outcome: CeremonyOutcome::Aborted,
            ..
        }
    ));
    let ev: Event = serde_json::from_str(bodies[4]).unwrap();
    assert!(matches!(
        ev,
        Event::ParticipantCheckedIn {
            role: ParticipantRole::Custodian,
            ..
        }
    ));
    let ev: Event = serde_json::from_str(bodies[6]).unwrap();
    assert!(matches!(
        ev,
        Event::ExceptionDecided {
            decision: ExceptionDecision::Skip,
            ..
        }
    ));
    let ev: Event = serde_json::from_str(bodies[7]).unwrap();
    assert!(matches!(
        ev,
        Event::PreflightResult {
            check: PreflightCheck::NetworkInterfaces,
            ..
        }
    ));
    let ev: Event = serde_json::from_str(bodies[9]).unwrap();
    assert!(matches!(
        ev,
        Event::PreflightResult {
            check: PreflightCheck::Clock,
            ..
        }
    ));
}

/// A value this version does not know (an older writer's, or a test's) is kept as
/// written, so old journals still decode and verify.
#[test]
fn unknown_values_are_kept_byte_for_byte() {
    let body = r#"{"ceremony_id":"c-1","decided_by":["w"],"decision":"continue","exception_id":"x1","reason":"r","type":"exception_decided"}"#;
    let ev: Event = serde_json::from_str(body).unwrap();
    assert!(matches!(
        &ev,
        Event::ExceptionDecided { decision: ExceptionDecision::Other(d), .. } if d == "continue"
    ));
    assert_eq!(canonical(&ev), body);
    assert_eq!(
        ParticipantRole::from("internal-witness").as_str(),
        "internal-witness"
    );
}

/// The engine's own values map to the strings it has always written.
#[test]
fn engine_values_map_to_todays_strings() {
    assert_eq!(
        CeremonyMode::from(crate::profile::Mode::Production),
        "production"
    );
    assert_eq!(
        CeremonyMode::from(crate::profile::Mode::Rehearsal),
        CeremonyMode::Rehearsal
    );
    assert_eq!(
        ParticipantRole::from(crate::script::Role::Auditor),
        ParticipantRole::Auditor
    );
    assert_eq!(
        PreflightCheck::from(crate::preflight::CheckKind::DefaultRoute),
        PreflightCheck::DefaultRoute
    );
    assert_eq!(
        PreflightCheck::from(crate::preflight::CheckKind::Wireless).as_str(),
        "Wireless"
    );
    for (d, s) in [
        (ExceptionDecision::Retry, "retry"),
        (ExceptionDecision::Skip, "skip"),
        (ExceptionDecision::Abort, "abort"),
    ] {
        assert_eq!(d.to_string(), s);
        assert_eq!(ExceptionDecision::from(s), d);
    }
    assert_eq!(
        CeremonyOutcome::from("completed"),
        CeremonyOutcome::Completed
    );
}
