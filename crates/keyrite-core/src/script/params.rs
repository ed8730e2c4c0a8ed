//! The parameters of a step's action: types, names, policies, and what they imply.

use super::action::{Action, ActionKind, ParamKind, DEFAULT_CLOCK_TOLERANCE_SECONDS};
use super::error::ProblemKind;
use super::locate::KeyPath;
use super::validate::Ctx;
use std::collections::HashMap;

pub(super) fn describe(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) if s.is_empty() => "an empty string".into(),
        toml::Value::String(s) => format!("a string of {} bytes", s.len()),
        toml::Value::Integer(i) => format!("the integer {i}"),
        toml::Value::Float(f) => format!("the number {f}"),
        toml::Value::Boolean(b) => format!("{b}"),
        toml::Value::Datetime(_) => "a date-time".into(),
        toml::Value::Array(_) => "an array".into(),
        toml::Value::Table(_) => "a table".into(),
    }
}

enum Param {
    Text(String),
    Seconds(u32),
    Flag(bool),
}

fn known_policy(name: &str) -> bool {
    crate::hsm::policy::PolicySet::builtin().is_ok_and(|s| s.get(name).is_ok())
}

/// What a parameter holding a name is called in messages; `None` for parameters that are not
/// names (policy names are checked against the policy set instead).
fn name_param(param: &str) -> Option<&'static str> {
    match param {
        "label" => Some("key label"),
        "key" => Some("key label or id"),
        "wrap_key" => Some("wrapping key label"),
        "token_label" => Some("token label"),
        _ => None,
    }
}

pub(super) fn check_params(
    cx: &mut Ctx<'_>,
    path: &KeyPath,
    step: &str,
    kind: ActionKind,
    params: &toml::Table,
) -> Option<Action> {
    let specs = kind.params();
    let ppath = path.key("params");
    let mut ok = true;
    for key in params.keys() {
        if !specs.iter().any(|s| s.name == key) {
            let allowed = if specs.is_empty() {
                "no parameters".to_string()
            } else {
                specs.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
            };
            cx.report(
                &ppath.key(key),
                ProblemKind::ParamUnknown {
                    step: step.to_string(),
                    action: kind.name(),
                    param: key.clone(),
                    allowed,
                },
            );
            ok = false;
        }
    }
    let mut values: HashMap<&'static str, Param> = HashMap::new();
    for spec in specs {
        let Some(v) = params.get(spec.name) else {
            if spec.required {
                cx.report(
                    &ppath,
                    ProblemKind::ParamMissing {
                        step: step.to_string(),
                        action: kind.name(),
                        param: spec.name,
                        kind: spec.kind.describe(),
                    },
                );
                ok = false;
            }
            continue;
        };
        let parsed = match (spec.kind, v) {
            (ParamKind::Label, toml::Value::String(s))
                if !s.trim().is_empty() && s.len() <= 128 =>
            {
                Some(Param::Text(s.clone()))
            }
            (ParamKind::TokenLabel, toml::Value::String(s))
                if !s.trim().is_empty() && s.len() <= 32 =>
            {
                Some(Param::Text(s.clone()))
            }
            (ParamKind::Seconds, toml::Value::Integer(i)) if (1..=3600).contains(i) => {
                Some(Param::Seconds(*i as u32))
            }
            (ParamKind::Flag, toml::Value::Boolean(b)) => Some(Param::Flag(*b)),
            _ => None,
        };
        match parsed {
            // A policy this build does not know would only fail mid-ceremony: refuse it now.
            Some(Param::Text(name)) if spec.name == "policy" && !known_policy(&name) => {
                cx.report(
                    &ppath.key(spec.name),
                    ProblemKind::UnknownPolicy {
                        step: step.to_string(),
                        policy: name,
                        known: crate::hsm::policy::PolicySet::builtin()
                            .map(|s| s.names().join(", "))
                            .unwrap_or_default(),
                    },
                );
                ok = false;
            }
            // Labels become PKCS#11 labels, inventory ids and file names: one check for all.
            Some(Param::Text(name))
                if name_param(spec.name).is_some_and(|what| {
                    let bad = crate::names::check_label(what, &name).err();
                    if let Some(source) = bad.clone() {
                        cx.report(
                            &ppath.key(spec.name),
                            ProblemKind::BadName {
                                step: step.to_string(),
                                param: spec.name,
                                source,
                            },
                        );
                    }
                    bad.is_some()
                }) =>
            {
                ok = false;
            }
            Some(p) => {
                values.insert(spec.name, p);
            }
            None => {
                cx.report(
                    &ppath.key(spec.name),
                    ProblemKind::ParamWrongKind {
                        step: step.to_string(),
                        action: kind.name(),
                        param: spec.name,
                        expected: spec.kind.describe(),
                        found: describe(v),
                    },
                );
                ok = false;
            }
        }
    }
    if !ok {
        return None;
    }
    let compromised = matches!(values.get("compromised"), Some(Param::Flag(true)));
    let tolerance_seconds = match values.get("tolerance_seconds") {
        Some(Param::Seconds(s)) => *s,
        _ => DEFAULT_CLOCK_TOLERANCE_SECONDS,
    };
    let mut text = |k: &str| match values.remove(k) {
        Some(Param::Text(s)) => Some(s),
        _ => None,
    };
    let action = match kind {
        ActionKind::Preflight => Action::Preflight,
        ActionKind::ClockCheck => Action::ClockCheck { tolerance_seconds },
        ActionKind::HsmInit => Action::HsmInit {
            token_label: text("token_label")?,
        },
        ActionKind::EnrolCustodian => Action::EnrolCustodian,
        ActionKind::GenerateAndSplitRootKek => Action::GenerateAndSplitRootKek {
            label: text("label")?,
        },
        ActionKind::DistributeShare => Action::DistributeShare,
        ActionKind::VerifyShares => Action::VerifyShares,
        ActionKind::GenerateKey => Action::GenerateKey {
            policy: text("policy")?,
            label: text("label")?,
        },
        ActionKind::Backup => Action::Backup {
            key: text("key")?,
            wrap_key: text("wrap_key")?,
        },
        ActionKind::Rotate => {
            let key = text("key");
            let policy = text("policy");
            Action::Rotate {
                key,
                policy,
                compromised,
            }
        }
        ActionKind::Destroy => Action::Destroy {
            key: text("key"),
            compromised,
        },
        ActionKind::Recover => Action::Recover {
            label: text("label")?,
        },
        ActionKind::ReplaceCustodian => Action::ReplaceCustodian,
        ActionKind::Checkpoint => Action::Checkpoint,
        ActionKind::SignRecord => Action::SignRecord,
        ActionKind::Manual => Action::Manual,
    };
    Some(action)
}
