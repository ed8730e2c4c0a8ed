//! The result card: what the current step's action did, in the words the script asks people
//! to read aloud and check (HSM identity, key attributes, fingerprint and check value words,
//! "host copy erased", "share N verifies", backup and checkpoint words, "key no longer on the
//! token"). It is read back from the step's own journal entries, so it shows what was
//! recorded, the same in both faces and after a resume.

use super::run::CeremonyRun;
use crate::journal::Event;
use crate::words::short_words;
use serde::Serialize;
use serde_json::Value;
use ts_rs::TS;

/// Words shown for a fingerprint or hash: the CLI's `hsm keys` length, one length everywhere.
pub const FINGERPRINT_WORDS: usize = 8;

/// What the script quotes for a root KEK whose laptop copy has been zeroized.
pub const HOST_COPY_ERASED: &str = "host copy erased";
/// What the script quotes for a destroyed key that a fresh search no longer finds.
pub const KEY_GONE: &str = "key no longer on the token";
/// What the script quotes for a share sealed to its custodian's YubiKey ("sealed to NAME's
/// YubiKey (serial N)").
const SEALED_TO: &str = "sealed to";

/// The texts a result card shows for a step whose action is `kind` and which scripts may quote
/// in bold ("the screen says **\"…\"**"); `N` stands for a share number. A test checks every
/// shipped script against this list, and the result-card tests check each text is shown.
pub fn promised_texts(kind: crate::script::ActionKind) -> &'static [&'static str] {
    use crate::script::ActionKind as K;
    match kind {
        K::GenerateAndSplitRootKek => &[HOST_COPY_ERASED],
        K::DistributeShare => &[SEALED_TO],
        K::VerifyShares => &["share N verifies", "no new share set"],
        K::Destroy => &[KEY_GONE],
        _ => &[],
    }
}

/// One line of a result card: what it is, and its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct ResultLine {
    /// What the line shows ("Key", "Attributes", "Fingerprint", …).
    pub label: String,
    /// Its value, as it is read aloud.
    pub value: String,
}

fn line(label: &str, value: impl Into<String>) -> ResultLine {
    ResultLine {
        label: label.into(),
        value: value.into(),
    }
}

/// Hex digest as words (empty when it is not hex).
fn words_of(hex_digest: &str) -> String {
    hex::decode(hex_digest)
        .map(|b| short_words(&b, FINGERPRINT_WORDS))
        .unwrap_or_default()
}

/// "yes"/"no" for the attributes people are asked to read, in the script's words.
fn attribute_summary(evidence: &Value) -> Option<String> {
    let attrs = evidence.get("attributes")?.as_array()?;
    let said = |name: &str, shown: &str| {
        attrs
            .iter()
            .find(|a| a.get("attribute").and_then(Value::as_str) == Some(name))
            .and_then(|a| a.get("actual").and_then(Value::as_str))
            .map(|v| {
                let v = match v {
                    "true" => "yes",
                    "false" => "no",
                    other => other,
                };
                format!("{shown} {v}")
            })
    };
    let shown: Vec<String> = [
        ("CKA_SENSITIVE", "sensitive"),
        ("CKA_EXTRACTABLE", "extractable"),
        ("CKA_PRIVATE", "private"),
        ("CKA_MODIFIABLE", "modifiable"),
    ]
    .iter()
    .filter_map(|(a, s)| said(a, s))
    .collect();
    let mismatched: Vec<&str> = attrs
        .iter()
        .filter(|a| a.get("ok").and_then(Value::as_bool) == Some(false))
        .filter_map(|a| a.get("attribute").and_then(Value::as_str))
        .collect();
    let checked = if mismatched.is_empty() {
        format!("all {} read back as the policy requires", attrs.len())
    } else {
        format!("NOT as the policy requires: {}", mismatched.join(", "))
    };
    Some(format!("{}; {checked}", shown.join(", ")))
}

fn key_lines(out: &mut Vec<ResultLine>, label: &str, algorithm: &str, cka_id: &str, ev: &Value) {
    out.push(line(
        "Key",
        format!("{label} ({algorithm}), CKA_ID {cka_id}"),
    ));
    if let Some(a) = attribute_summary(ev) {
        out.push(line("Attributes", a));
    }
    if let Some(spki) = ev.get("spki_sha256").and_then(Value::as_str) {
        out.push(line("Public key fingerprint", words_of(spki)));
    }
    if let Some(kcv) = ev.get("kcv").and_then(Value::as_str) {
        out.push(line("Key check value", kcv.to_string()));
    }
}

/// The lines one journal entry of the step contributes (`details` is the entry's free part).
fn lines_of(event: &Event, details: &Value, out: &mut Vec<ResultLine>) {
    match event {
        Event::HsmTokenInitialised {
            token_serial,
            token_label,
            manufacturer,
            model,
        } => {
            out.push(line(
                "HSM",
                format!("{manufacturer} {model}, serial {token_serial}"),
            ));
            out.push(line("Token label", token_label.clone()));
        }
        Event::KeyGenerated {
            label,
            cka_id,
            algorithm,
            evidence,
            ..
        } => key_lines(out, label, algorithm, cka_id, evidence),
        Event::KeyImported {
            label,
            cka_id,
            algorithm,
            ..
        } => key_lines(
            out,
            label,
            algorithm,
            cka_id,
            details.get("evidence").unwrap_or(&Value::Null),
        ),
        Event::ShareSetCreated {
            set_id,
            threshold,
            share_count,
            ..
        } => out.push(line(
            "Share set",
            format!(
                "{set_id} ({}): any {threshold} of {share_count} shares rebuild the key",
                details
                    .get("set_words")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
            ),
        )),
        Event::ActionDone { action, .. } if action == "generate-and-split-root-kek" => {
            out.push(line("Laptop copy", HOST_COPY_ERASED));
        }
        Event::ShareDistributed {
            index,
            custodian_id,
            sealed_file,
            shown,
            ..
        } => {
            let card = details.get("printed_card");
            if *shown || sealed_file.is_some() || card.is_none() {
                out.push(line(
                    &format!("Share {index}"),
                    match (
                        sealed_file,
                        details.get("yubikey_serial").and_then(Value::as_u64),
                    ) {
                        (Some(f), Some(serial)) => format!(
                            "{SEALED_TO} {}'s YubiKey (serial {serial}) into {f}",
                            details
                                .get("custodian_name")
                                .and_then(Value::as_str)
                                .unwrap_or(custodian_id)
                        ),
                        (Some(f), None) => format!("sealed for {custodian_id} to {f}"),
                        (None, _) => format!("shown to {custodian_id}"),
                    },
                ));
            }
            if let Some(card) = card {
                let field = |k: &str| card.get(k).and_then(Value::as_str).unwrap_or("?");
                out.push(line(
                    &format!("Share {index} card"),
                    format!(
                        "printed for {custodian_id} on queue {}, job {}, card SHA-256 {}",
                        field("queue"),
                        field("job_id"),
                        field("card_sha256")
                    ),
                ));
            }
        }
        Event::ShareVerified {
            index,
            custodian_id,
            ..
        } => out.push(line(
            &format!("Share {index}"),
            format!(
                "{} ({custodian_id})",
                promised_texts(crate::script::ActionKind::VerifyShares)[0]
                    .replace('N', &index.to_string())
            ),
        )),
        Event::Note { kind } if kind == super::handout::NO_NEW_SET_NOTE => out.push(line(
            "Shares",
            details
                .get("reason")
                .and_then(Value::as_str)
                .unwrap_or(super::handout::NO_NEW_SET_REASON),
        )),
        Event::BackupMade {
            key_id,
            blob_sha256,
            location,
            ..
        } => {
            out.push(line("Backup", format!("{key_id} → {location}")));
            out.push(line("Backup SHA-256", words_of(blob_sha256)));
        }
        Event::BackupRestored {
            backup_id, key_id, ..
        } => out.push(line(
            "Restored",
            format!("{key_id} from backup {backup_id}"),
        )),
        Event::KeyDestroyed { key_id, proof, .. } => {
            // The proof records a search after the destroy; only an empty one says "gone".
            let found = |k: &str| proof.get(k).and_then(Value::as_u64);
            let gone = matches!(
                (found("remaining_with_label"), found("remaining_with_id")),
                (Some(0), Some(0))
            );
            out.push(line(
                "Destroyed",
                if gone {
                    format!("{key_id}: {KEY_GONE}")
                } else {
                    format!("{key_id}: the search after the destroy did not prove it gone")
                },
            ));
        }
        Event::RecordProduced {
            record_sha256,
            pages,
            ..
        } => out.push(line(
            "Record",
            format!("{pages} page(s), SHA-256 {}", words_of(record_sha256)),
        )),
        Event::Checkpoint { size, root, .. } => out.push(line(
            "Checkpoint",
            format!("size {size}, root {}", words_of(root)),
        )),
        _ => {}
    }
}

impl CeremonyRun {
    /// The current step's result card, from its journal entries since it last started
    /// (empty before its action ran, and for steps that record nothing to read aloud).
    pub(super) fn step_result(&self) -> Vec<ResultLine> {
        let step = self.step_id();
        let Ok(Some(from)) = self.journal.ceremony_start(&self.id) else {
            return Vec::new();
        };
        let size = self.journal.head().size;
        let mut entries: Vec<(Event, Value)> = Vec::new();
        let read = self
            .journal
            .for_each_entry(from, size.saturating_sub(1), |e| {
                let body = e.body_json()?;
                let event = e.event()?;
                let started = matches!(&event, Event::StepStarted { ceremony_id, step: s, .. }
                if *ceremony_id == self.id && *s == step);
                if started {
                    entries.clear();
                } else {
                    entries.push((event, body.get("details").cloned().unwrap_or(Value::Null)));
                }
                Ok(())
            });
        if read.is_err() {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (event, details) in &entries {
            lines_of(event, details, &mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests;
