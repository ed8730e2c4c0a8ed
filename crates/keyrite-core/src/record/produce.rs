//! Producing the signed record of a ceremony: transcript from the journal, render, attach the
//! canonical transcript, sign with the record-signing key.

use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

use super::{attach_file, render_record, sign_pdf, RecordError, RecordTranscript};
use crate::hsm::certificate::read_certificate;
use crate::hsm::session::TokenSession;
use crate::journal::{Journal, UtcTime};
use crate::pdf::PageSize;
use crate::signer::Signer;

/// Name of the embedded canonical transcript.
pub const TRANSCRIPT_ATTACHMENT: &str = "transcript.json";

/// Produces the signed record of `ceremony_id` from `journal`: the transcript closes with the
/// latest checkpoint signed since the ceremony started (see [`RecordTranscript::from_journal`]).
/// `signer` is the record-signing key and `cert_der` its certificate. The signing time is the
/// checkpoint's time (the ceremony clock).
pub fn produce_record(
    journal: &Journal,
    ceremony_id: &str,
    signer: &dyn Signer,
    cert_der: &[u8],
    page_size: PageSize,
) -> Result<Vec<u8>, RecordError> {
    let t = RecordTranscript::from_journal(journal, ceremony_id)?;
    produce_from_transcript(&t, signer, cert_der, page_size)
}

/// Renders, attaches and signs an already built transcript.
pub fn produce_from_transcript(
    t: &RecordTranscript,
    signer: &dyn Signer,
    cert_der: &[u8],
    page_size: PageSize,
) -> Result<Vec<u8>, RecordError> {
    let pdf = render_record(t, page_size)?;
    let pdf = attach_file(
        &pdf,
        TRANSCRIPT_ATTACHMENT,
        "application/json",
        &t.canonical_json(),
    )?;
    let when = ceremony_clock(&t.checkpoint.time);
    let reason = format!("Keyrite ceremony record {}", t.header.ceremony_id);
    let location = t.header.site.clone().unwrap_or_default();
    Ok(sign_pdf(&pdf, signer, cert_der, when, &reason, &location)?)
}

fn ceremony_clock(time: &str) -> SystemTime {
    let ms = UtcTime::parse(time).map(|t| t.0).unwrap_or(0).max(0) as u64;
    SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
}

/// The record-signing key's certificate as the token holds it. Read only: the ceremony that
/// made the key stored it (a journaled step, `engine::keyops::certify_record_signing`), and
/// Keyrite changes a token only inside a ceremony, so producing a record never writes one.
pub fn record_certificate(session: &TokenSession, label: &str) -> Result<Vec<u8>, RecordError> {
    read_certificate(session, label).map_err(|e| match e {
        crate::hsm::HsmError::KeyNotFound { .. } => RecordError::NoCertificate {
            label: label.into(),
            token: session.name(),
        },
        other => RecordError::CertificateRead(Box::new(other)),
    })
}

/// The `details` the engine journals with `ceremony_started` so the record can name the
/// software: app version, SHA-256 of the running executable, OS, and the given script id,
/// version and site.
pub fn ceremony_environment(script_id: &str, script_version: &str, site: &str) -> Value {
    // Hashed once per binary, cached in the data directory (crate::environment).
    let binary = crate::environment::executable_sha256();
    let os_release = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_string())
        })
        .unwrap_or_default();
    json!({
        "script_id": script_id,
        "script_version": script_version,
        "site": site,
        "app_version": env!("CARGO_PKG_VERSION"),
        "binary_sha256": binary,
        "os": format!("{} {} {}", std::env::consts::OS, std::env::consts::ARCH, os_release).trim().to_string(),
    })
}
