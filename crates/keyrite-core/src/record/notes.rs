//! What the first page states about the HSM data a ceremony ran with: a weaker key protection
//! (a module without trusted keys, or a root KEK the module cannot fully protect), and which
//! vendor quirks and key policies were in force (built-in and site files, by SHA-256).

use super::RecordTranscript;
use serde_json::Value;

/// The first page's lines, in order; empty when there is nothing to state.
pub(super) fn first_page_notes(t: &RecordTranscript) -> Vec<String> {
    let mut out = Vec::new();
    let mut labels: Vec<&str> = Vec::new();
    let mut statements: Vec<String> = Vec::new();
    for k in &t.keys {
        let found: Vec<String> = match &k.protection {
            Some(Value::String(s)) if s.starts_with("weaker") => vec![s.clone()],
            Some(Value::Object(m)) if m.get("level").and_then(Value::as_str) == Some("weaker") => m
                .get("weaknesses")
                .and_then(Value::as_array)
                .map(|w| {
                    w.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            _ => continue,
        };
        labels.push(&k.label);
        for s in found {
            if !statements.contains(&s) {
                statements.push(s);
            }
        }
    }
    if !labels.is_empty() {
        out.push(format!(
            "WEAKER KEY PROTECTION (keys {}): {}.",
            labels.join(", "),
            statements.join("; ")
        ));
    }
    if let Some(d) = &t.header.hsm_data {
        out.push(format!(
            "Vendor quirks: {}. Key policies: {}.",
            data_file(d.get("vendor_quirks")),
            data_file(d.get("key_policies"))
        ));
    }
    out
}

fn data_file(v: Option<&Value>) -> String {
    let s = |v: Option<&Value>, k: &str| {
        v.and_then(|v| v.get(k))
            .and_then(Value::as_str)
            .unwrap_or("—")
            .to_string()
    };
    let builtin = format!("built-in SHA-256 {}", s(v, "builtin_sha256"));
    match v.and_then(|v| v.get("site")).filter(|x| !x.is_null()) {
        Some(site) => format!(
            "{builtin} with site file {} SHA-256 {}",
            s(Some(site), "file"),
            s(Some(site), "sha256")
        ),
        None => builtin,
    }
}
