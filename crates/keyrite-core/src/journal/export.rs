//! SIEM export: OCSF-shaped JSON lines, CEF and RFC 5424 syslog, each with a manifest
//! (range, hashes, head) so the receiver can detect gaps. See `docs/formats/siem-export.md`.

use super::{Entry, Journal, JournalError};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::io::Write;

/// OCSF schema version the JSON lines follow.
pub const OCSF_VERSION: &str = "1.3.0";
/// Private Enterprise Number in RFC 5424 SD-IDs. 32473 is the documentation PEN (RFC 5612);
/// sites with their own PEN set [`ExportOptions::pen`].
pub const DEFAULT_PEN: u32 = 32473;

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// OCSF-shaped JSON, one object per line.
    Jsonl,
    /// ArcSight Common Event Format, one event per line.
    Cef,
    /// RFC 5424 syslog messages, one per line.
    Syslog,
}

impl std::str::FromStr for ExportFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "jsonl" => Ok(Self::Jsonl),
            "cef" => Ok(Self::Cef),
            "syslog" => Ok(Self::Syslog),
            other => Err(format!(
                "unknown export format \"{other}\": use jsonl, cef or syslog"
            )),
        }
    }
}

/// What to export.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// Format.
    pub format: ExportFormat,
    /// First sequence number.
    pub from: u64,
    /// Last sequence number (default: the last entry).
    pub to: Option<u64>,
    /// HOSTNAME field of syslog lines.
    pub hostname: String,
    /// Private Enterprise Number for the syslog SD-ID.
    pub pen: u32,
}

/// Describes an export file so the receiver can check it and detect gaps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format of the file.
    pub format: ExportFormat,
    /// Journal origin.
    pub origin: String,
    /// First exported sequence number.
    pub first_seq: u64,
    /// Last exported sequence number.
    pub last_seq: u64,
    /// Number of events.
    pub count: u64,
    /// `prev_hash` of the first exported entry: equals the last hash of the previous export.
    pub first_prev_hash: String,
    /// `entry_hash` of the last exported entry.
    pub last_entry_hash: String,
    /// The journal's tree head when exported.
    pub head_size: u64,
    /// Root of that head (hex).
    pub head_root: String,
    /// SHA-256 of the export file.
    pub file_sha256: String,
}

/// Export errors.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Nothing in the range.
    #[error("the journal has no entries from {from} to {to}; it holds {size} entries")]
    EmptyRange {
        /// First requested.
        from: u64,
        /// Last requested.
        to: u64,
        /// Entries in the journal.
        size: u64,
    },
    /// Reading the journal failed.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// Writing failed.
    #[error("writing the export failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Writes entries `from..=to` to `out` in `format`; returns the manifest.
pub fn export(
    journal: &Journal,
    opts: &ExportOptions,
    out: &mut dyn Write,
) -> Result<Manifest, ExportError> {
    let head = journal.head();
    let to = opts
        .to
        .unwrap_or(head.size.saturating_sub(1))
        .min(head.size.saturating_sub(1));
    if head.size == 0 || opts.from > to {
        return Err(ExportError::EmptyRange {
            from: opts.from,
            to: opts.to.unwrap_or(head.size),
            size: head.size,
        });
    }
    let mut hasher = Sha256::new();
    let mut first_prev = None;
    let mut last_hash = [0u8; 32];
    let mut count = 0u64;
    let mut io_err = None;
    journal.for_each_entry(opts.from, to, |e| {
        let line = render(journal.origin(), opts, e, (head.size, head.root))?;
        hasher.update(line.as_bytes());
        hasher.update(b"\n");
        if let Err(err) = writeln!(out, "{line}") {
            io_err = Some(err);
        }
        first_prev.get_or_insert(e.prev_hash);
        last_hash = e.entry_hash;
        count += 1;
        Ok(())
    })?;
    if let Some(e) = io_err {
        return Err(e.into());
    }
    out.flush()?;
    Ok(Manifest {
        format: opts.format,
        origin: journal.origin().to_string(),
        first_seq: opts.from,
        last_seq: to,
        count,
        first_prev_hash: hex::encode(first_prev.unwrap_or_default()),
        last_entry_hash: hex::encode(last_hash),
        head_size: head.size,
        head_root: hex::encode(head.root),
        file_sha256: hex::encode(hasher.finalize()),
    })
}

/// OCSF class and activity for an event type.
fn ocsf_class(kind: &str) -> (u32, u32, u8) {
    // (class_uid, activity_id, severity_id)
    match kind {
        "key_generated" | "key_imported" | "share_set_created" | "backup_made"
        | "key_registered" => (3004, 1, 2),
        "inventory_state_changed" | "backup_restored" | "inventory_dependency_added" => {
            (3004, 3, 3)
        }
        "key_destroyed" => (3004, 4, 4),
        "step_failed" | "exception_opened" | "approval_refused" => (6003, 99, 4),
        _ => (6003, 99, 1),
    }
}

fn render(
    origin: &str,
    opts: &ExportOptions,
    e: &Entry,
    head: (u64, [u8; 32]),
) -> Result<String, JournalError> {
    let body = e.body_json()?;
    let event = body.get("event").cloned().unwrap_or(Value::Null);
    let kind = event
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_string();
    let ceremony = event
        .get("ceremony_id")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let key = event
        .get("key_id")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let body_text = String::from_utf8_lossy(&e.body).into_owned();
    let (class, activity, severity) = ocsf_class(&kind);
    let entry_hash = hex::encode(e.entry_hash);
    let prev_hash = hex::encode(e.prev_hash);
    Ok(match opts.format {
        ExportFormat::Jsonl => json!({
            "class_uid": class,
            "category_uid": class / 1000,
            "activity_id": activity,
            "type_uid": class * 100 + activity,
            "time": e.time.0,
            "severity_id": severity,
            "status_id": 1,
            "message": kind,
            "metadata": {
                "version": OCSF_VERSION,
                "product": {"vendor_name": "Keyrite", "name": "Keyrite", "version": env!("CARGO_PKG_VERSION")},
                "uid": format!("{origin}/{}", e.seq),
                "correlation_uid": ceremony,
            },
            "unmapped": {
                "seq": e.seq,
                "prev_hash": prev_hash,
                "entry_hash": entry_hash,
                "body": body_text,
                "checkpoint": {"size": head.0, "root": hex::encode(head.1)},
            },
        })
        .to_string(),
        ExportFormat::Cef => format!(
            "CEF:0|Keyrite|Keyrite|{}|{}|{}|{}|rt={} externalId={} cs1Label=entryHash cs1={} cs2Label=prevHash cs2={} cs3Label=ceremonyId cs3={} cs4Label=keyId cs4={} cs5Label=origin cs5={} msg={}",
            cef_header(env!("CARGO_PKG_VERSION")),
            cef_header(&kind.to_ascii_uppercase()),
            cef_header(&kind.replace('_', " ")),
            (severity as u32) * 2,
            e.time.0,
            e.seq,
            entry_hash,
            prev_hash,
            cef_value(&ceremony),
            cef_value(&key),
            cef_value(origin),
            cef_value(&body_text),
        ),
        ExportFormat::Syslog => {
            // facility 10 (authpriv); severity: 6 info, 5 notice, 4 warning.
            let sev = match severity { 1 | 2 => 6, 3 => 5, _ => 4 };
            format!(
                "<{}>1 {} {} keyrite {} {} [keyrite@{} seq=\"{}\" hash=\"{}\" prev=\"{}\" origin=\"{}\" ceremony=\"{}\" key=\"{}\"] {}",
                10 * 8 + sev,
                e.time.to_rfc3339(),
                syslog_name(&opts.hostname),
                std::process::id(),
                syslog_name(&kind.to_ascii_uppercase()).chars().take(32).collect::<String>(),
                opts.pen,
                e.seq,
                entry_hash,
                prev_hash,
                sd_value(origin),
                sd_value(&ceremony),
                sd_value(&key),
                body_text,
            )
        }
    })
}

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

/// RFC 5424 PARAM-VALUE escapes `"`, `\` and `]`.
fn sd_value(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace(']', "\\]")
}

/// RFC 5424 header names: printable US-ASCII without spaces, `-` when empty.
fn syslog_name(s: &str) -> String {
    let t: String = s
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(255)
        .collect();
    if t.is_empty() {
        "-".into()
    } else {
        t
    }
}
