//! A realistic ceremony written through the Journal API, shared by the core's record tests and
//! the CLI's record tests.

use keyrite_core::journal::{Event, Journal};
use keyrite_core::quorum::{ApprovalRequest, KeyRef, Operation};
use keyrite_core::record::ceremony_environment;
use p256::ecdsa::signature::Signer as _;
use p256::pkcs8::EncodePublicKey;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// What the test later looks for in the record.
pub struct Ceremony {
    /// The ceremony id.
    pub id: String,
    /// The participants' names, in check-in order.
    pub names: Vec<String>,
    /// The steps' titles, in order.
    pub step_titles: Vec<String>,
    /// The generated key's fingerprint.
    pub key_fingerprint: String,
    /// The share set's fingerprints.
    pub share_fingerprints: Vec<String>,
}

fn h(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// Writes ceremony `id` with `steps` steps (at least 4) into `j`: check-ins, preflight, steps
/// with sign-offs, an exception, the key (with `evidence`, the HSM read-back), a share set, a
/// backup, a quorum approval with real P-256 signatures, inventory, close. No checkpoint.
pub fn write(j: &mut Journal, id: &str, steps: usize, evidence: Value, key_fp: &str) -> Ceremony {
    let mut d = ceremony_environment("root-key-rehearsal", "3", "Lab West");
    d["hsm"] = json!("SoftHSM2");
    j.append_with_details(
        Event::CeremonyStarted {
            ceremony_id: id.into(),
            script_name: "Unattended root-key rehearsal".into(),
            script_sha256: h(b"script v3"),
            mode: "rehearsal".into(),
        },
        d,
    )
    .unwrap();
    let people = [
        ("ada", "Ada Lovelace", "custodian"),
        ("grace", "Grace Hopper", "custodian"),
        ("alan", "Alan Turing", "internal-witness"),
    ];
    let mut keys = Vec::new();
    for (pid, name, role) in people {
        let sk = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
        let spki = sk.verifying_key().to_public_key_der().unwrap().to_vec();
        j.append_with_details(
            Event::ParticipantCheckedIn {
                ceremony_id: id.into(),
                participant_id: pid.into(),
                name: name.into(),
                role: role.into(),
                credential_fingerprint: Some(h(&spki)),
            },
            json!({ "signature_spki": hex::encode(&spki) }),
        )
        .unwrap();
        keys.push((pid, sk));
    }
    for (check, detail) in [
        ("air-gap", "no network interfaces up besides lo"),
        (
            "clock",
            "witness reference 2026-05-21T09:00:00Z, offset +0.4 s",
        ),
    ] {
        j.append(Event::PreflightResult {
            ceremony_id: id.into(),
            check: check.into(),
            passed: true,
            detail: detail.into(),
        })
        .unwrap();
    }
    j.append(Event::HsmTokenInitialised {
        token_serial: "5a1e0001".into(),
        token_label: "keyrite-rehearsal".into(),
        manufacturer: "SoftHSM project".into(),
        model: "SoftHSM v2".into(),
    })
    .unwrap();
    let mut titles = Vec::new();
    let share_fps: Vec<String> = (1..=3u8).map(|i| h(&[i; 7])).collect();
    for n in 1..=steps {
        let step = n.to_string();
        let title = match n {
            1 => "Verify the HSM identity".to_string(),
            2 => "Generate the root key".to_string(),
            3 => "Split the root KEK into shares".to_string(),
            4 => "Approve and back up".to_string(),
            _ => format!("Routine check number {n}"),
        };
        titles.push(title.clone());
        j.append_with_details(
            Event::StepStarted {
                ceremony_id: id.into(),
                step: step.clone(),
                title,
            },
            json!({ "actor": "ada" }),
        )
        .unwrap();
        match n {
            1 => {
                j.append(Event::ExceptionOpened {
                    ceremony_id: id.into(),
                    exception_id: "EX-1".into(),
                    step: step.clone(),
                    description: "tamper-evident bag number differs by one digit from the log"
                        .into(),
                })
                .unwrap();
                j.append(Event::ExceptionDecided {
                    ceremony_id: id.into(),
                    exception_id: "EX-1".into(),
                    decision: "continue".into(),
                    decided_by: vec!["alan".into(), "ada".into()],
                    reason: "transcription error in the log; bag intact".into(),
                })
                .unwrap();
            }
            2 => {
                j.append(Event::KeyGenerated {
                    key_id: "root-2026".into(),
                    label: "root-2026".into(),
                    cka_id: "01ab".into(),
                    token_serial: "5a1e0001".into(),
                    algorithm: "EC P-384".into(),
                    public_fingerprint: Some(key_fp.into()),
                    evidence: evidence.clone(),
                })
                .unwrap();
                j.append(Event::KeyRegistered {
                    key_id: "root-2026".into(),
                    label: "root-2026".into(),
                    purpose: "root CA".into(),
                    key_type: "private signature".into(),
                    algorithm: "EC P-384".into(),
                    token_serial: "5a1e0001".into(),
                    cka_id: "01ab".into(),
                    fingerprint: Some(key_fp.into()),
                    cryptoperiod_days: 3650,
                    nist_suggested_days: 1095,
                    justification: Some("offline root".into()),
                })
                .unwrap();
            }
            3 => {
                j.append(Event::ShareSetCreated {
                    set_id: "SS-1".into(),
                    protects_key_id: "root-kek".into(),
                    threshold: 2,
                    share_count: 3,
                    share_fingerprints: share_fps.clone(),
                })
                .unwrap();
                for (i, who) in [(1u8, "ada"), (2, "grace")] {
                    j.append(Event::ShareVerified {
                        set_id: "SS-1".into(),
                        index: i,
                        fingerprint: share_fps[usize::from(i) - 1].clone(),
                        custodian_id: who.into(),
                    })
                    .unwrap();
                }
            }
            4 => {
                let req = ApprovalRequest::new(
                    Operation::Recover,
                    KeyRef {
                        label: "root-kek".into(),
                        cka_id: vec![1, 2],
                        fingerprint: vec![0x5a; 32],
                    },
                    "5a1e0001",
                    id,
                    4,
                    j.head().root,
                    4_000_000_000,
                )
                .unwrap();
                let text = String::from_utf8(req.canonical_bytes()).unwrap();
                j.append_with_details(
                    Event::ApprovalRequested {
                        request_id: "REQ-1".into(),
                        request_sha256: hex::encode(req.sha256()),
                        operation: "recover".into(),
                        key_id: Some("root-kek".into()),
                        required: 2,
                    },
                    json!({ "request": text }),
                )
                .unwrap();
                for (pid, sk) in keys.iter().take(2) {
                    let sig: p256::ecdsa::Signature = sk.sign(&req.canonical_bytes());
                    let der = sig.to_der().as_bytes().to_vec();
                    j.append_with_details(
                        Event::ApprovalGranted {
                            request_id: "REQ-1".into(),
                            custodian_id: pid.to_string(),
                            signature_sha256: h(&der),
                        },
                        json!({ "signature": hex::encode(&der) }),
                    )
                    .unwrap();
                }
                j.append(Event::BackupMade {
                    backup_id: "BK-1".into(),
                    key_id: "root-2026".into(),
                    wrapped_by: "root-kek".into(),
                    blob_sha256: h(b"wrapped blob"),
                    location: "safe 2, bag 118-22".into(),
                })
                .unwrap();
                j.append_with_details(
                    Event::Note {
                        kind: "video_reference".into(),
                    },
                    json!({ "ceremony_id": id, "camera": "cam-2", "timecode": "00:41:10" }),
                )
                .unwrap();
            }
            _ => {}
        }
        for (pid, role) in [("ada", "custodian"), ("alan", "internal-witness")] {
            j.append(Event::SignOff {
                ceremony_id: id.into(),
                step: step.clone(),
                participant_id: pid.into(),
                role: role.into(),
                signature_sha256: None,
            })
            .unwrap();
        }
        j.append(Event::StepCompleted {
            ceremony_id: id.into(),
            step,
        })
        .unwrap();
    }
    j.append(Event::CeremonyClosed {
        ceremony_id: id.into(),
        outcome: "completed".into(),
    })
    .unwrap();
    Ceremony {
        id: id.into(),
        names: people.iter().map(|p| p.1.to_string()).collect(),
        step_titles: titles,
        key_fingerprint: key_fp.into(),
        share_fingerprints: share_fps,
    }
}
