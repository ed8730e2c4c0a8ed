//! Checking a record offline: the PDF signature, the embedded transcript, the closing
//! checkpoint, the approvals' signatures and, with a journal, that the journal agrees.

use sha2::{Digest, Sha256};

use super::produce::TRANSCRIPT_ATTACHMENT;
use super::transcript::RecordTranscript;
use super::{verify_pdf, PdfInputError, Rejection, Trust, VerifiedRecord};
use crate::journal::Journal;
use crate::quorum::ApprovalRequest;
use crate::signer::{verify, SignatureAlgorithm};

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Passed.
    Pass,
    /// Failed: the record is not valid.
    Fail,
    /// Not run (an earlier check failed, or no journal was given).
    Skipped,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckLine {
    /// What was checked.
    pub check: &'static str,
    /// Result.
    pub outcome: Outcome,
    /// What was found.
    pub detail: String,
}

/// What one check found, in the words of its report line.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Finding {
    /// Passed: what was found.
    Pass(String),
    /// Failed: why the record is not valid.
    Fail(String),
}

/// The value of a `Result`, or, from the enclosing check, a failure in the words `$why` gives
/// for its error `$e`.
macro_rules! or_fail {
    ($r:expr, $e:ident => $why:expr) => {
        match $r {
            Ok(v) => v,
            Err($e) => return Finding::Fail($why),
        }
    };
}

/// Everything [`check_record`] found.
#[derive(Debug, Clone)]
pub struct RecordReport {
    /// The checks in order.
    pub lines: Vec<CheckLine>,
    /// The input is not a complete PDF (not a PDF, or cut short).
    pub unreadable: bool,
    /// The transcript, when it could be read.
    pub transcript: Option<RecordTranscript>,
    /// The signature facts, when it verified.
    pub signature: Option<VerifiedRecord>,
}

impl RecordReport {
    /// True when no check failed.
    pub fn is_valid(&self) -> bool {
        !self.unreadable && self.lines.iter().all(|l| l.outcome != Outcome::Fail)
    }

    /// The verdict line: `VALID: …` or `INVALID: <first failure>`.
    pub fn verdict(&self) -> String {
        if let Some(l) = self.lines.iter().find(|l| l.outcome == Outcome::Fail) {
            return format!("INVALID: {}", l.detail);
        }
        let id = self
            .transcript
            .as_ref()
            .map(|t| t.header.ceremony_id.as_str())
            .unwrap_or("?");
        let (who, pinned) = match &self.signature {
            Some(s) => (s.signer_subject.as_str(), s.trust == Trust::Pinned),
            None => ("?", false),
        };
        let journal = self
            .lines
            .iter()
            .any(|l| l.check == "journal" && l.outcome == Outcome::Pass);
        format!(
            "VALID: record of ceremony {id}, signed by {who}{}{}",
            if pinned {
                " (the pinned certificate)"
            } else {
                " (NOT pinned: pass --trust CERT to check who signed)"
            },
            if journal {
                "; the journal agrees"
            } else {
                "; journal not checked"
            }
        )
    }

    fn push(&mut self, check: &'static str, found: Finding) -> bool {
        let (outcome, detail) = match found {
            Finding::Pass(d) => (Outcome::Pass, d),
            Finding::Fail(d) => (Outcome::Fail, d),
        };
        let ok = outcome == Outcome::Pass;
        self.lines.push(CheckLine {
            check,
            outcome,
            detail,
        });
        ok
    }

    fn skip(&mut self, checks: &[&'static str], why: &str) {
        for c in checks {
            self.lines.push(CheckLine {
                check: c,
                outcome: Outcome::Skipped,
                detail: why.to_string(),
            });
        }
    }
}

/// Checks `pdf`. `trust_cert` is the pinned record-signing certificate (DER); `journal` the
/// journal to compare with. Never panics on bad input: every problem is a failed line.
pub fn check_record(
    pdf: &[u8],
    trust_cert: Option<&[u8]>,
    journal: Option<&Journal>,
) -> RecordReport {
    let mut r = RecordReport {
        lines: vec![],
        unreadable: false,
        transcript: None,
        signature: None,
    };
    const LATER: &[&str] = &["transcript", "checkpoint", "approvals", "journal"];
    let vr = match verify_pdf(pdf, trust_cert).into_result() {
        Ok(v) => v,
        Err(e) => {
            r.unreadable = matches!(
                e,
                Rejection::Input(PdfInputError::NotPdf | PdfInputError::Truncated)
            );
            r.push("signature", Finding::Fail(e.to_string()));
            r.skip(LATER, "not checked: the signature failed");
            return r;
        }
    };
    r.push(
        "signature",
        Finding::Pass(format!(
            "PAdES signature by {} (key SPKI SHA-256 {}) covers all {} bytes; {}",
            vr.signer_subject,
            hex::encode(vr.spki_fingerprint),
            vr.signed_len,
            match vr.trust {
                Trust::Pinned => "the signer is the pinned certificate",
                Trust::NotPinned => "no certificate pinned",
            }
        )),
    );
    let fp = vr.spki_fingerprint;
    let transcript = vr
        .attachment(TRANSCRIPT_ATTACHMENT)
        .map_err(|e| e.to_string())
        .and_then(|a| RecordTranscript::from_canonical_json(&a.bytes).map_err(|e| e.to_string()));
    r.signature = Some(vr);
    let t = match transcript {
        Ok(t) => t,
        Err(e) => {
            r.push("transcript", Finding::Fail(e));
            r.skip(&LATER[1..], "not checked: the transcript failed");
            return r;
        }
    };
    r.push(
        "transcript",
        Finding::Pass(format!(
            "the embedded {TRANSCRIPT_ATTACHMENT} is canonical: ceremony {}, {} steps, {} participants",
            t.header.ceremony_id,
            t.steps.len(),
            t.participants.len()
        )),
    );
    let (found, cp) = check_checkpoint(&t, fp);
    r.push("checkpoint", found);
    r.push("approvals", check_approvals(&t));
    match (journal, cp) {
        (None, _) => r.skip(&["journal"], "no journal given (--journal DB)"),
        (Some(_), None) => r.skip(&["journal"], "not checked: the checkpoint failed"),
        (Some(j), Some(cp)) => {
            let res = check_journal(j, &t, &cp, fp, pdf);
            r.push("journal", res);
        }
    }
    r.transcript = Some(t);
    r
}

/// The checkpoint check, and the checkpoint when it passed.
fn check_checkpoint(
    t: &RecordTranscript,
    fp: [u8; 32],
) -> (Finding, Option<crate::journal::Checkpoint>) {
    let fail = |why: String| (Finding::Fail(why), None);
    let cp = match t.parsed_checkpoint() {
        Ok(cp) => cp,
        Err(e) => return fail(e.to_string()),
    };
    if let Err(e) = cp.check_signature(&[fp]) {
        return fail(format!("the record's closing checkpoint: {e}"));
    }
    let c = &t.checkpoint;
    if cp.size != c.size
        || hex::encode(cp.root) != c.root
        || cp.time.to_rfc3339() != c.time
        || hex::encode(cp.signer_fingerprint()) != c.signer_fingerprint
    {
        return fail(
            "the closing checkpoint's size, root, time or signer differ from its signed text"
                .into(),
        );
    }
    let passed = format!(
        "checkpoint of {} entries (root {}) is signed by the record-signing key",
        c.size, c.root
    );
    (Finding::Pass(passed), Some(cp))
}

fn check_approvals(t: &RecordTranscript) -> Finding {
    let mut checked = 0;
    for a in &t.approvals {
        let granted: Vec<_> = a.decisions.iter().filter(|d| d.granted).collect();
        if granted.is_empty() {
            continue;
        }
        let Some(text) = a.request.as_deref() else {
            return Finding::Fail(format!(
                "approval request {} has no canonical request text to check signatures against",
                a.request_id
            ));
        };
        let req = or_fail!(
            ApprovalRequest::from_canonical(text.as_bytes()),
            e => format!("approval request {}: {e}", a.request_id)
        );
        if hex::encode(req.sha256()) != a.request_sha256 {
            return Finding::Fail(format!(
                "approval request {}: its text does not hash to the recorded SHA-256 {}",
                a.request_id, a.request_sha256
            ));
        }
        let mut valid = std::collections::BTreeSet::new();
        for d in granted {
            let who = &d.custodian_id;
            let spki = d
                .signature_spki
                .as_deref()
                .or_else(|| {
                    t.participants
                        .iter()
                        .find(|p| &p.participant_id == who)
                        .and_then(|p| p.signature_spki.as_deref())
                })
                .and_then(|h| hex::decode(h).ok());
            let Some(spki) = spki else {
                return Finding::Fail(format!("approval by {who} on request {}: the transcript lists no enrolled signing key for {who}", a.request_id));
            };
            let Some(sig) = d.signature.as_deref().and_then(|h| hex::decode(h).ok()) else {
                return Finding::Fail(format!(
                    "approval by {who} on request {}: the signature is missing",
                    a.request_id
                ));
            };
            if d.signature_sha256.as_deref() != Some(hex::encode(Sha256::digest(&sig)).as_str()) {
                return Finding::Fail(format!("approval by {who} on request {}: the signature does not match its journaled SHA-256", a.request_id));
            }
            let verified = verify(
                SignatureAlgorithm::EcdsaP256Sha256,
                &spki,
                &req.canonical_bytes(),
                &sig,
            );
            if verified.is_err() {
                return Finding::Fail(format!(
                    "approval by {who} on request {}: the signature does not verify against their enrolled key",
                    a.request_id
                ));
            }
            valid.insert(who.clone());
        }
        if valid.len() < usize::from(a.required) {
            return Finding::Fail(format!(
                "approval request {}: {} of the {} required approvals",
                a.request_id,
                valid.len(),
                a.required
            ));
        }
        checked += valid.len();
    }
    Finding::Pass(if checked == 0 {
        "no signed approvals in this ceremony".into()
    } else {
        format!("{checked} approval signature(s) verify against the enrolled custodian keys")
    })
}

fn check_journal(
    j: &Journal,
    t: &RecordTranscript,
    cp: &crate::journal::Checkpoint,
    fp: [u8; 32],
    pdf: &[u8],
) -> Finding {
    let id = &t.header.ceremony_id;
    let size = t.checkpoint.size;
    // Only what the record covers: the entries from the ceremony's start to the checkpoint,
    // re-hashed and proven under the record's signed root (the whole journal is `journal
    // verify`'s job), so the check does not grow with the journal's history.
    let bad = |e: &dyn std::fmt::Display| format!("the journal does not match the record: {e}");
    let start = or_fail!(j.ceremony_start(id), e => bad(&e)).unwrap_or(size);
    let rep = or_fail!(
        j.prove_range(cp, &[fp], start, size.saturating_sub(1)),
        e => bad(&e)
    );
    // Rebuilt with the record's own checkpoint (its signature and root were just proven), so
    // that a missing stored copy is reported as what it is rather than as a bad record.
    let mut rebuilt = or_fail!(
        RecordTranscript::from_journal_with_checkpoint(j, id, size, &t.checkpoint.text),
        e => bad(&e)
    );
    // Records made before the wrapping key's KCV was printed do not carry it (the entry they
    // rest on is proven above either way): not compared there.
    for (r, a) in rebuilt.backups.iter_mut().zip(&t.backups) {
        if a.wrapping_key_kcv.is_none() {
            r.wrapping_key_kcv = None;
        }
    }
    if &rebuilt != t {
        return Finding::Fail(format!(
            "the journal's entries for ceremony {id} differ from the record's transcript ({})",
            first_difference(&rebuilt, t)
        ));
    }
    let stored_note = match or_fail!(stored_checkpoint_text(j, size), e => e.to_string()) {
        Some(text) if text == t.checkpoint.text => String::new(),
        Some(_) => {
            return Finding::Fail(format!(
                "the journal's stored checkpoint of {size} entries is not the one in the record: the journal's stored-checkpoint table was altered"
            ))
        }
        None => format!(
            "; note: the journal's stored-checkpoint table holds no copy of the checkpoint of {size} entries (the table was emptied or that row deleted), so the record's own signed checkpoint was used"
        ),
    };
    let sha = hex::encode(Sha256::digest(pdf));
    let produced = or_fail!(records_produced(j, id), e => e.to_string());
    let hash_note = if produced.is_empty() {
        format!("; no record_produced entry names ceremony {id}, so the file's SHA-256 was not compared")
    } else if let Some((seq, _)) = produced.iter().find(|(_, h)| *h == sha) {
        format!("; the file's SHA-256 is the one journaled at record_produced (entry {seq})")
    } else {
        let listed: Vec<String> = produced
            .iter()
            .map(|(seq, h)| format!("entry {seq}: {h}"))
            .collect();
        return Finding::Fail(format!(
            "the file's SHA-256 {sha} is not the one journaled for ceremony {id} at record_produced ({}): this file is not the record the ceremony produced",
            listed.join(", ")
        ));
    };
    Finding::Pass(format!(
        "the journal ({} entries) holds the ceremony's entries {} to {} under the record's checkpoint and rebuilds the same transcript{hash_note}{stored_note}",
        rep.journal_size, rep.first, rep.last
    ))
}

/// The journal's stored text of the checkpoint over `size` entries, if the table holds it.
fn stored_checkpoint_text(
    j: &Journal,
    size: u64,
) -> Result<Option<String>, crate::store::StoreError> {
    let store = j.store();
    match store.conn().query_row(
        "SELECT text FROM journal_checkpoint WHERE size = ?1",
        [i64::try_from(size).unwrap_or(i64::MAX)],
        |r| r.get::<_, String>(0),
    ) {
        Ok(t) => Ok(Some(t)),
        Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
        // A missing table (dropped by someone) is reported like an emptied one.
        Err(rusqlite::Error::SqliteFailure(_, Some(m))) if m.contains("no such table") => Ok(None),
        Err(e) => Err(store.err(e)),
    }
}

/// `(seq, record_sha256)` of every `record_produced` entry naming ceremony `id`.
fn records_produced(
    j: &Journal,
    id: &str,
) -> Result<Vec<(u64, String)>, crate::journal::JournalError> {
    let mut out = Vec::new();
    {
        let select = crate::journal::Select::ceremony(id);
        j.for_each_selected(&select, 0, |e| {
            if let Ok(crate::journal::Event::RecordProduced {
                ceremony_id,
                record_sha256,
                ..
            }) = e.event()
            {
                if ceremony_id == id {
                    out.push((e.seq, record_sha256));
                }
            }
            Ok(())
        })?;
    }
    Ok(out)
}

fn first_difference(a: &RecordTranscript, b: &RecordTranscript) -> String {
    let (va, vb) = (
        serde_json::to_value(a).unwrap_or_default(),
        serde_json::to_value(b).unwrap_or_default(),
    );
    match (va.as_object(), vb.as_object()) {
        (Some(ma), Some(mb)) => ma
            .iter()
            .find(|(k, v)| mb.get(*k) != Some(*v))
            .map(|(k, _)| format!("section \"{k}\" differs"))
            .unwrap_or_else(|| "they differ".into()),
        _ => "they differ".into(),
    }
}
