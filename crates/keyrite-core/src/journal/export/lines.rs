//! CEF and RFC 5424 syslog lines.

use super::ocsf::{self, Line};

/// CEF's documented limit for `msg` (characters).
pub(super) const CEF_MSG_MAX: usize = 1023;
/// CEF's documented limit for the `cs1`..`cs6` custom strings (characters).
pub(super) const CEF_CS_MAX: usize = 4000;

/// CEF header fields escape `\` and `|`.
fn cef_header(s: &str) -> String {
    s.replace('\\', "\\\\").replace('|', "\\|")
}

/// CEF extension values escape `\`, `=` and line breaks.
fn cef_value(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('=', "\\=")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}

/// At most `max` characters; a cut text ends in `…` so a reader sees it was cut.
fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut t: String = s.chars().take(max - 1).collect();
    t.push('…');
    t
}

/// Splits into pieces of at most `max` characters (on character boundaries).
fn chunks(s: &str, max: usize) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    chars.chunks(max).map(|c| c.iter().collect()).collect()
}

pub(super) fn cef(l: &Line) -> String {
    let class = ocsf::classify(l);
    let status = ocsf::status(l);
    let mut ext: Vec<(String, String)> = vec![
        ("rt".into(), l.time_ms.to_string()),
        ("externalId".into(), l.seq.to_string()),
        (
            "outcome".into(),
            if status.failed { "failure" } else { "success" }.into(),
        ),
        ("suser".into(), ocsf::actor_id(l)),
        ("reason".into(), status.detail.unwrap_or_default()),
        ("cs1Label".into(), "entryHash".into()),
        ("cs1".into(), l.entry_hash.clone()),
        ("cs2Label".into(), "prevHash".into()),
        ("cs2".into(), l.prev_hash.clone()),
    ];
    if let Some(c) = l.ceremony {
        ext.push(("cs3Label".into(), "ceremonyId".into()));
        ext.push(("cs3".into(), c.into()));
    }
    let key = ocsf::key_id(l);
    if !key.is_empty() {
        ext.push(("cs4Label".into(), "keyId".into()));
        ext.push(("cs4".into(), key.into()));
    }
    ext.push(("cs5Label".into(), "origin".into()));
    ext.push(("cs5".into(), l.origin.into()));
    // The canonical body, which the receiver re-hashes: in cs6, and where it is longer than
    // cs6 may hold, continued in keyriteBody2, keyriteBody3, … (concatenate in order).
    for (i, part) in chunks(l.body_text, CEF_CS_MAX).into_iter().enumerate() {
        if i == 0 {
            ext.push(("cs6Label".into(), "body".into()));
            ext.push(("cs6".into(), part));
        } else {
            ext.push((format!("keyriteBody{}", i + 1), part));
        }
    }
    ext.push(("msg".into(), truncate(&ocsf::summary(l), CEF_MSG_MAX)));
    // An empty value is left out: `key=` followed by a space is ambiguous to parsers.
    let ext: Vec<String> = ext
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", cef_value(&v)))
        .collect();
    format!(
        "CEF:0|Keyrite|Keyrite|{}|{}|{}|{}|{}",
        cef_header(env!("CARGO_PKG_VERSION")),
        cef_header(&l.kind.to_ascii_uppercase()),
        cef_header(&l.kind.replace('_', " ")),
        // OCSF severity 1..5 onto CEF 0..10.
        class.severity_id * 2,
        ext.join(" ")
    )
}

/// RFC 5424 PARAM-VALUE escapes `"`, `\` and `]`. It has no escape for line breaks, which
/// would split the line, so control characters are written as JSON's `\uXXXX` (the body in
/// MSG keeps the exact value).
fn sd_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            ']' => out.push_str("\\]"),
            c if c.is_control() => out.push_str(&format!("\\\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

pub(super) fn syslog(l: &Line, pen: u32) -> String {
    let class = ocsf::classify(l);
    let status = ocsf::status(l);
    // facility 10 (authpriv); severity 6 info, 5 notice, 4 warning, 3 error.
    let sev = match class.severity_id {
        1 | 2 => 6,
        3 => 5,
        4 => 4,
        _ => 3,
    };
    let mut params = vec![
        ("seq", l.seq.to_string()),
        ("hash", l.entry_hash.clone()),
        ("prev", l.prev_hash.clone()),
        ("origin", l.origin.to_string()),
        (
            "outcome",
            if status.failed { "failure" } else { "success" }.to_string(),
        ),
    ];
    if let Some(c) = l.ceremony {
        params.push(("ceremony", c.to_string()));
    }
    let key = ocsf::key_id(l);
    if !key.is_empty() {
        params.push(("key", key.to_string()));
    }
    let sd: String = params
        .iter()
        .map(|(k, v)| format!(" {k}=\"{}\"", sd_value(v)))
        .collect();
    // MSGID: at most 32 printable ASCII characters (the longest event type has 26).
    let msgid: String = l
        .kind
        .to_ascii_uppercase()
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(32)
        .collect();
    // PROCID is `-`: the exporter's pid would make two exports of one range differ, and
    // the process that journaled the event is not recorded. The BOM marks MSG as UTF-8
    // (RFC 5424 §6.4); the body is canonical JSON, so it never holds a raw line break.
    format!(
        "<{}>1 {} {} keyrite - {} [keyrite@{pen}{sd}] \u{feff}{}",
        10 * 8 + sev,
        l.time_text,
        l.hostname,
        if msgid.is_empty() { "-".into() } else { msgid },
        l.body_text,
    )
}
