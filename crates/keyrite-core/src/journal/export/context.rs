//! What an exported line needs beyond its own entry: the ceremony it belongs to, who the
//! people named by id are (name, role), and which HSM and key facts an id stands for. The
//! journal records each fact once; a SIEM line must stand alone, so the exporter looks them up.

use serde_json::Value;
use std::collections::HashMap;

/// A person named by an event: participant of a ceremony or enrolled custodian.
#[derive(Debug, Clone, Default)]
pub(super) struct Person {
    pub name: String,
    pub role: String,
}

/// An HSM token as initialised.
#[derive(Debug, Clone, Default)]
pub(super) struct Token {
    pub label: String,
    pub manufacturer: String,
    pub model: String,
}

/// Public facts about a key (never key material: the journal holds none).
#[derive(Debug, Clone, Default)]
pub(super) struct Key {
    pub label: String,
    pub algorithm: String,
    pub token_serial: String,
    pub cka_id: String,
    pub fingerprint: String,
}

/// Facts gathered from entries `0..=to`, so that two exports of one range agree.
#[derive(Debug, Default)]
pub(super) struct Context {
    /// The ceremony still open at the entry being read.
    current: Option<String>,
    /// Ceremony of each entry in the export range, by `seq - from`.
    pub ceremony_of: Vec<Option<String>>,
    /// (ceremony, participant id) → person; participant ids are per ceremony.
    participants: HashMap<(String, String), Person>,
    /// Enrolled custodians by custodian id.
    custodians: HashMap<String, Person>,
    pub tokens: HashMap<String, Token>,
    pub keys: HashMap<String, Key>,
}

fn s(v: &Value, k: &str) -> String {
    v.get(k).and_then(Value::as_str).unwrap_or("").to_string()
}

impl Context {
    /// Reads one entry's body (in journal order).
    pub fn observe(&mut self, body: &Value, in_range: bool) {
        let ev = body.get("event").unwrap_or(&Value::Null);
        let kind = s(ev, "type");
        // Some events name their ceremony in `details` (key_imported, share_verified, …).
        let explicit = [
            s(ev, "ceremony_id"),
            s(body.get("details").unwrap_or(&Value::Null), "ceremony_id"),
        ]
        .into_iter()
        .find(|c| !c.is_empty());
        let ceremony = explicit.clone().or_else(|| self.current.clone());
        if in_range {
            self.ceremony_of.push(ceremony.clone());
        }
        // Events without a ceremony id belong to the ceremony still open: the engine runs one
        // ceremony at a time per data directory, and resume continues under the same id.
        if kind == "ceremony_closed" {
            self.current = None;
        } else if explicit.is_some() {
            self.current = explicit;
        }
        let key_of = |ks: &mut HashMap<String, Key>, id: String| ks.entry(id).or_default().clone();
        match kind.as_str() {
            "participant_checked_in" => {
                if let Some(c) = ceremony {
                    self.participants.insert(
                        (c, s(ev, "participant_id")),
                        Person {
                            name: s(ev, "name"),
                            role: s(ev, "role"),
                        },
                    );
                }
            }
            "custodian_enrolled" => {
                self.custodians.insert(
                    s(ev, "custodian_id"),
                    Person {
                        name: s(ev, "name"),
                        role: "custodian".into(),
                    },
                );
            }
            "hsm_token_initialised" => {
                self.tokens.insert(
                    s(ev, "token_serial"),
                    Token {
                        label: s(ev, "token_label"),
                        manufacturer: s(ev, "manufacturer"),
                        model: s(ev, "model"),
                    },
                );
            }
            "key_generated" | "key_imported" | "key_registered" | "backup_restored" => {
                let id = s(ev, "key_id");
                let mut k = key_of(&mut self.keys, id.clone());
                for (field, slot) in [
                    ("label", &mut k.label),
                    ("algorithm", &mut k.algorithm),
                    ("token_serial", &mut k.token_serial),
                    ("cka_id", &mut k.cka_id),
                ] {
                    let v = s(ev, field);
                    if !v.is_empty() {
                        *slot = v;
                    }
                }
                // key_generated names it public_fingerprint, key_registered fingerprint.
                for field in ["public_fingerprint", "fingerprint"] {
                    let v = s(ev, field);
                    if !v.is_empty() {
                        k.fingerprint = v;
                    }
                }
                self.keys.insert(id, k);
            }
            _ => {}
        }
    }

    /// A person by id within a ceremony, else an enrolled custodian.
    pub fn person(&self, ceremony: Option<&str>, id: &str) -> Option<&Person> {
        ceremony
            .and_then(|c| self.participants.get(&(c.to_string(), id.to_string())))
            .or_else(|| self.custodians.get(id))
    }
}
