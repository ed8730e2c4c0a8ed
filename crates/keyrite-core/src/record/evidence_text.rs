//! The sentences the record prints for a step's evidence, the HSM, exceptions, destruction
//! proofs and key protection: text only, laid out by `render`.

use super::RecordTranscript;

/// An optional value as printed: the value, or a dash where it is absent.
pub(super) fn or_dash(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("—")
}

/// The HSM the ceremony used: initialised tokens with their identity, else the token serials
/// its keys and backups name.
pub(super) fn hsm_line(t: &RecordTranscript) -> String {
    if !t.hsm.is_empty() {
        let tokens: Vec<String> = t
            .hsm
            .iter()
            .map(|x| {
                format!(
                    "{} {} token \"{}\" serial {}",
                    x.manufacturer, x.model, x.token_label, x.token_serial
                )
            })
            .collect();
        return format!("HSM: {}", tokens.join("; "));
    }
    let mut serials: Vec<&str> = t.keys.iter().map(|k| k.token_serial.as_str()).collect();
    serials.extend(t.backups.iter().filter_map(|b| b.token_serial.as_deref()));
    serials.extend(t.destructions.iter().map(|d| d.token_serial.as_str()));
    serials.sort_unstable();
    serials.dedup();
    if serials.is_empty() {
        "HSM: no token change recorded in this ceremony".into()
    } else {
        format!("HSM token serial: {}", serials.join(", "))
    }
}

/// Exceptions with their decisions, and, in rehearsal, failed preflight checks (rehearsal
/// records them and goes on; production refuses to start).
pub(super) fn exception_summary(t: &RecordTranscript, rehearsal: bool) -> Vec<String> {
    let mut out: Vec<String> = t
        .exceptions
        .iter()
        .map(|x| {
            format!(
                "{} in step {}: {} — decision: {}{}",
                x.exception_id,
                x.step,
                x.description,
                or_dash(&x.decision),
                if x.decided_by.is_empty() {
                    String::new()
                } else {
                    format!(" by {}", x.decided_by.join(", "))
                }
            )
        })
        .collect();
    for r in t.preflight.iter().filter(|r| !r.passed) {
        out.push(if rehearsal && r.check != "clock" {
            format!(
                "Preflight check {} failed: {} — an exception rehearsal mode allows (recorded, \
                 the ceremony went on); production refuses to start a ceremony with this finding",
                r.check, r.detail
            )
        } else {
            format!("Preflight check {} failed: {}", r.check, r.detail)
        });
    }
    out
}

/// One line per output a step's entries produced.
pub(super) fn step_evidence(t: &RecordTranscript, seqs: &[u64]) -> Vec<String> {
    let has = |seq: u64| seqs.contains(&seq);
    let mut out = Vec::new();
    for r in t.preflight.iter().filter(|r| has(r.seq)) {
        out.push(format!(
            "{} {}: {}",
            if r.passed { "PASS" } else { "FAIL" },
            r.check,
            r.detail
        ));
    }
    for k in t.keys.iter().filter(|k| has(k.seq)) {
        let bad = k
            .attributes
            .iter()
            .chain(&k.public_attributes)
            .filter(|a| !a.ok)
            .count();
        let n = k.attributes.len() + k.public_attributes.len();
        out.push(format!(
            "key {} ({}) {}{}{}; {n} attributes read back, {}",
            k.key_id,
            k.algorithm,
            k.origin,
            k.fingerprint
                .as_ref()
                .map(|f| format!(", fingerprint {f}"))
                .unwrap_or_default(),
            k.kcv
                .as_ref()
                .map(|v| format!(", KCV {v}"))
                .unwrap_or_default(),
            if bad == 0 {
                "all as the policy requires".to_string()
            } else {
                format!("{bad} NOT as the policy requires")
            }
        ));
    }
    for s in t.share_sets.iter().filter(|s| has(s.seq)) {
        out.push(format!(
            "share set {} ({} of {}) protecting {}",
            s.set_id, s.threshold, s.share_count, s.protects_key_id
        ));
    }
    for b in t.backups.iter().filter(|b| has(b.seq)) {
        out.push(format!(
            "backup {} {}{}",
            b.backup_id,
            b.action,
            b.blob_sha256
                .as_ref()
                .map(|h| format!(", blob SHA-256 {h}"))
                .unwrap_or_default()
        ));
    }
    for d in t.destructions.iter().filter(|d| has(d.seq)) {
        out.push(format!(
            "key {} destroyed: {}",
            d.key_id,
            destruction_text(&d.proof)
        ));
    }
    for a in t.approvals.iter().filter(|a| has(a.seq)) {
        let granted = a.decisions.iter().filter(|d| d.granted).count();
        out.push(format!(
            "approval request {} ({}): {granted} of {} needed granted",
            a.request_id, a.operation, a.required
        ));
    }
    out
}

/// The destruction proof in words: what was destroyed and what the re-enumeration found.
pub(super) fn destruction_text(proof: &serde_json::Value) -> String {
    let n = |k: &str| {
        proof
            .get(k)
            .and_then(serde_json::Value::as_u64)
            .map(|v| v.to_string())
            .unwrap_or_else(|| "?".into())
    };
    let classes: Vec<&str> = proof
        .get("destroyed")
        .and_then(serde_json::Value::as_array)
        .map(|a| a.iter().filter_map(serde_json::Value::as_str).collect())
        .unwrap_or_default();
    format!(
        "destroyed {}; the token enumerated again: {} objects before, {} after, {} left with \
         the label, {} left with the CKA_IDs",
        if classes.is_empty() {
            "(classes not recorded)".to_string()
        } else {
            classes.join(", ")
        },
        n("objects_before"),
        n("objects_after"),
        n("remaining_with_label"),
        n("remaining_with_id")
    )
}

/// The key protection as journaled: a string as is, an object as `key: value` pairs.
pub(super) fn protection_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Object(m) => m
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k}: {s}"),
                other => format!("{k}: {other}"),
            })
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}
