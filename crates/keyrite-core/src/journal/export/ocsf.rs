//! OCSF 1.3.0 events: class, activity, status and the required objects per event kind.
//! The mapping table is documented in `docs/formats/siem-export.md`.

use super::context::{Context, Person};
use super::OCSF_VERSION;
use serde_json::{json, Map, Value};

/// Everything one exported line is made from.
pub(super) struct Line<'a> {
    pub origin: &'a str,
    pub seq: u64,
    pub time_ms: i64,
    pub time_text: String,
    pub kind: String,
    pub event: &'a Value,
    pub body_text: &'a str,
    pub ceremony: Option<&'a str>,
    pub entry_hash: String,
    pub prev_hash: String,
    pub head: (u64, String),
    pub hostname: &'a str,
    pub ctx: &'a Context,
}

impl<'a> Line<'a> {
    pub fn field(&self, k: &str) -> &'a str {
        self.event.get(k).and_then(Value::as_str).unwrap_or("")
    }
}

/// OCSF classes used.
const ENTITY_MANAGEMENT: u32 = 3004;
const AUTHENTICATION: u32 = 3002;
const API_ACTIVITY: u32 = 6003;

/// Class, activity and severity of an event kind.
pub(super) struct Class {
    pub class_uid: u32,
    pub activity_id: u32,
    pub severity_id: u32,
}

/// Outcome of the event: refusals and failures are OCSF Failure with the reason.
pub(super) struct Status {
    pub failed: bool,
    pub detail: Option<String>,
}

pub(super) fn classify(l: &Line) -> Class {
    let (class_uid, activity_id, severity_id) = match l.kind.as_str() {
        // Keys, tokens, share sets and custodians' YubiKeys are managed entities (IAM 3004).
        "key_generated"
        | "key_imported"
        | "hsm_token_initialised"
        | "share_set_created"
        | "backup_made"
        | "backup_restored" => (ENTITY_MANAGEMENT, 1, 2),
        "share_verified" => (ENTITY_MANAGEMENT, 2, 1),
        "inventory_dependency_added" | "share_distributed" => (ENTITY_MANAGEMENT, 3, 2),
        "inventory_state_changed" => {
            let (from, to) = (l.field("from"), l.field("to"));
            match to {
                "active" if from == "suspended" => (ENTITY_MANAGEMENT, 13, 3),
                "active" => (ENTITY_MANAGEMENT, 10, 3),
                "deactivated" => (ENTITY_MANAGEMENT, 11, 3),
                "suspended" => (ENTITY_MANAGEMENT, 12, 3),
                "compromised" | "destroyed" => (ENTITY_MANAGEMENT, 3, 4),
                _ => (ENTITY_MANAGEMENT, 3, 3),
            }
        }
        "key_destroyed" => (ENTITY_MANAGEMENT, 4, 4),
        "share_set_voided" => (ENTITY_MANAGEMENT, 9, 4),
        "key_registered" | "custodian_enrolled" => (ENTITY_MANAGEMENT, 6, 2),
        "custodian_retired" => (ENTITY_MANAGEMENT, 7, 3),
        // Identifying a participant at the ceremony is their logon to it.
        "participant_checked_in" => (AUTHENTICATION, 1, 1),
        // The rest are operations of the ceremony engine (API Activity 6003).
        "ceremony_started" | "exception_opened" | "approval_requested" | "checkpoint"
        | "record_produced" | "sign_off" | "note" => (API_ACTIVITY, 1, 1),
        "preflight_result" | "journal_exported" => (API_ACTIVITY, 2, 1),
        _ => (API_ACTIVITY, 3, 1),
    };
    let severity_id = if status(l).failed {
        severity_id.max(4)
    } else {
        severity_id
    };
    Class {
        class_uid,
        activity_id,
        severity_id,
    }
}

pub(super) fn status(l: &Line) -> Status {
    let fail = |d: &str| Status {
        failed: true,
        detail: Some(d.to_string()),
    };
    match l.kind.as_str() {
        "step_failed" => fail(l.field("error")),
        "approval_refused" => fail(l.field("reason")),
        "exception_opened" => fail(l.field("description")),
        "preflight_result" if l.event.get("passed") == Some(&Value::Bool(false)) => {
            fail(&format!("{}: {}", l.field("check"), l.field("detail")))
        }
        "ceremony_closed" if l.field("outcome") != "completed" => {
            fail(&format!("ceremony {}", l.field("outcome")))
        }
        _ => Status {
            failed: false,
            detail: None,
        },
    }
}

/// The person the event is about or by, as an id.
pub(super) fn actor_id(l: &Line) -> String {
    ["participant_id", "custodian_id", "actor"]
        .iter()
        .map(|k| l.field(k))
        .find(|v| !v.is_empty())
        .unwrap_or("")
        .to_string()
}

fn user(id: &str, person: Option<&Person>) -> Value {
    let mut u = json!({"uid": id});
    if let Some(p) = person {
        if !p.name.is_empty() {
            u["name"] = json!(p.name);
        }
        if !p.role.is_empty() {
            // OCSF 1.3 has no role attribute; the ceremony role is the group the person acts in.
            u["groups"] = json!([{"name": p.role, "type": "Keyrite ceremony role"}]);
        }
    }
    u
}

fn actor(l: &Line) -> Value {
    let mut a = json!({"app_name": "Keyrite", "app_uid": l.origin});
    let id = actor_id(l);
    if !id.is_empty() {
        a["user"] = user(&id, l.ctx.person(l.ceremony, &id));
    }
    a
}

/// The HSM the event touches, as the host profile's `device`.
fn device(l: &Line) -> Option<Value> {
    let mut serial = l.field("token_serial").to_string();
    if serial.is_empty() {
        let key = key_id(l);
        serial = l.ctx.keys.get(key).map(|k| k.token_serial.clone())?;
    }
    if serial.is_empty() {
        return None;
    }
    let mut d = json!({"type_id": 99, "type": "HSM", "uid": serial});
    if let Some(t) = l.ctx.tokens.get(&serial) {
        d["name"] = json!(t.label);
        d["desc"] = json!(format!("{} {}", t.manufacturer, t.model));
    }
    Some(d)
}

pub(super) fn key_id<'a>(l: &Line<'a>) -> &'a str {
    match l.field("key_id") {
        "" => l.field("protects_key_id"),
        k => k,
    }
}

fn key_entity(l: &Line, id: &str) -> Value {
    let mut data = Map::new();
    if let Some(k) = l.ctx.keys.get(id) {
        for (name, v) in [
            ("fingerprint", &k.fingerprint),
            ("algorithm", &k.algorithm),
            ("cka_id", &k.cka_id),
            ("token_serial", &k.token_serial),
        ] {
            if !v.is_empty() {
                data.insert(name.into(), json!(v));
            }
        }
    }
    let name = l
        .ctx
        .keys
        .get(id)
        .map(|k| k.label.clone())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| id.to_string());
    json!({"uid": id, "name": name, "type": "Key", "data": data})
}

fn entity(l: &Line) -> Value {
    let e = l.event;
    match l.kind.as_str() {
        "hsm_token_initialised" => json!({
            "uid": l.field("token_serial"), "name": l.field("token_label"), "type": "HSM token",
            "data": {"manufacturer": l.field("manufacturer"), "model": l.field("model")},
        }),
        "backup_made" => {
            let mut b = json!({"uid": l.field("backup_id"), "name": l.field("backup_id"),
                "type": "Wrapped key backup",
                "data": {"key": key_entity(l, l.field("key_id")), "wrapped_by": l.field("wrapped_by"),
                         "blob_sha256": l.field("blob_sha256")}});
            b["data"]["location"] = json!(l.field("location"));
            b
        }
        "share_set_created" | "share_set_voided" => json!({
            "uid": l.field("set_id"), "name": l.field("set_id"), "type": "Shamir share set",
            "data": {"protects_key_id": e.get("protects_key_id"), "threshold": e.get("threshold"),
                     "share_count": e.get("share_count"),
                     "share_fingerprints": e.get("share_fingerprints")},
        }),
        "share_verified" | "share_distributed" => json!({
            "uid": format!("{}/{}", l.field("set_id"), e.get("index").unwrap_or(&Value::Null)),
            "type": "Shamir share",
            "data": {"set_id": l.field("set_id"), "index": e.get("index"),
                     "fingerprint": e.get("fingerprint")},
        }),
        "custodian_enrolled" | "custodian_retired" => {
            let id = l.field("custodian_id");
            json!({"uid": id, "type": "Custodian YubiKey",
                   "user": user(id, l.ctx.person(l.ceremony, id)),
                   "data": {"yubikey_serial": e.get("yubikey_serial"),
                            "signature_fingerprint": e.get("signature_fingerprint"),
                            "key_management_fingerprint": e.get("key_management_fingerprint"),
                            "attested": e.get("attested")}})
        }
        _ => key_entity(l, key_id(l)),
    }
}

fn class_name(uid: u32) -> (&'static str, &'static str) {
    match uid {
        ENTITY_MANAGEMENT => ("Entity Management", "Identity & Access Management"),
        AUTHENTICATION => ("Authentication", "Identity & Access Management"),
        _ => ("API Activity", "Application Activity"),
    }
}

fn activity_name(class_uid: u32, activity_id: u32) -> &'static str {
    match (class_uid, activity_id) {
        (AUTHENTICATION, 1) => "Logon",
        (_, 1) => "Create",
        (_, 2) => "Read",
        (_, 3) => "Update",
        (_, 4) => "Delete",
        (_, 6) => "Enroll",
        (_, 7) => "Unenroll",
        (_, 9) => "Disable",
        (_, 10) => "Activate",
        (_, 11) => "Deactivate",
        (_, 12) => "Suspend",
        (_, 13) => "Resume",
        _ => "Other",
    }
}

fn severity_name(id: u32) -> &'static str {
    match id {
        1 => "Informational",
        2 => "Low",
        3 => "Medium",
        4 => "High",
        _ => "Critical",
    }
}

/// The OCSF event for one entry.
pub(super) fn event(l: &Line) -> Value {
    let c = classify(l);
    let st = status(l);
    let (cname, catname) = class_name(c.class_uid);
    let aname = activity_name(c.class_uid, c.activity_id);
    let mut metadata = json!({
        "version": OCSF_VERSION,
        "product": {"vendor_name": "Keyrite", "name": "Keyrite", "version": env!("CARGO_PKG_VERSION")},
        "uid": format!("{}/{}", l.origin, l.seq),
        "sequence": l.seq,
        "original_time": l.time_text,
        "log_name": "keyrite-journal",
        "log_provider": l.origin,
        "event_code": l.kind,
    });
    if let Some(c) = l.ceremony {
        metadata["correlation_uid"] = json!(c);
    }
    let mut v = json!({
        "class_uid": c.class_uid,
        "class_name": cname,
        "category_uid": c.class_uid / 1000,
        "category_name": catname,
        "activity_id": c.activity_id,
        "activity_name": aname,
        "type_uid": c.class_uid * 100 + c.activity_id,
        "type_name": format!("{cname}: {aname}"),
        "time": l.time_ms,
        "severity_id": c.severity_id,
        "severity": severity_name(c.severity_id),
        "status_id": if st.failed { 2 } else { 1 },
        "status": if st.failed { "Failure" } else { "Success" },
        "message": summary(l),
        "actor": actor(l),
        "unmapped": {
            "seq": l.seq,
            "prev_hash": l.prev_hash,
            "entry_hash": l.entry_hash,
            "body": l.body_text,
            "checkpoint": {"size": l.head.0, "root": l.head.1},
        },
    });
    if let Some(d) = st.detail {
        v["status_detail"] = json!(d);
    }
    match c.class_uid {
        ENTITY_MANAGEMENT => v["entity"] = entity(l),
        AUTHENTICATION => {
            let id = actor_id(l);
            v["user"] = user(&id, l.ctx.person(l.ceremony, &id));
        }
        _ => {
            v["api"] = json!({"operation": l.kind, "service": {"name": "Keyrite ceremony engine",
                              "version": env!("CARGO_PKG_VERSION")}});
            let mut src = json!({"uid": l.origin, "name": "Keyrite"});
            if l.hostname != "-" {
                src["hostname"] = json!(l.hostname);
            }
            v["src_endpoint"] = src;
        }
    }
    if let Some(d) = device(l) {
        v["device"] = d;
        metadata["profiles"] = json!(["host"]);
    }
    v["metadata"] = metadata;
    v
}

/// One line naming the event and its identifying fields; the full body travels separately.
pub(super) fn summary(l: &Line) -> String {
    let mut out = l.kind.replace('_', " ");
    let mut first = true;
    if let Some(m) = l.event.as_object() {
        for (k, v) in m {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => continue,
            };
            if k == "type" {
                continue;
            }
            out.push_str(if first { ": " } else { ", " });
            first = false;
            out.push_str(&format!("{k}={text}"));
        }
    }
    out
}
