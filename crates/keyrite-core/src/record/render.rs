//! The human-readable record: the transcript laid out on A4 or US Letter pages with the
//! embedded DejaVu fonts ([`crate::pdf`]), the closing checkpoint as text and as a QR code.
//! Every date printed is a journal timestamp (the ceremony clock); in rehearsal every page
//! carries [`REHEARSAL_STAMP`].

use super::evidence_text::{
    destruction_text, exception_summary, hsm_line, or_dash, protection_text, step_evidence,
};
use super::model::AttributeCheck;
use super::RecordTranscript;
use crate::journal::UtcTime;
use crate::pdf::{DocInfo, Document, Font, Page, PageSize, PdfError, PdfVersion};

/// The stamp on every page of a rehearsal record.
pub const REHEARSAL_STAMP: &str = "REHEARSAL — SOFTWARE HSM";
/// Side of the checkpoint QR code (mm): ~0.7 mm modules, decodable from a 150 dpi scan.
const QR_SIDE_MM: f32 = 75.0;
/// Lowest cursor height before a new page (mm).
const BOTTOM: f32 = 18.0;
const MARGIN: f32 = 18.0;

/// Lays pages out top to bottom, starting a new page when one is full.
struct Flow {
    doc: Document,
    page: Page,
    width: f32,
}

impl Flow {
    fn lines(&self, font: Font, size: f32, text: &str) -> f32 {
        let em = if font == Font::Mono { 0.602 } else { 0.60 };
        let char_mm = size * em * 25.4 / 72.0;
        let max = (((self.width - 2.0 * MARGIN) / char_mm) as usize).max(10);
        crate::pdf::wrap(text, max).len() as f32 * size * 1.35 * 25.4 / 72.0
    }

    fn ensure(&mut self, mm: f32) -> Result<(), PdfError> {
        if self.page.cursor() - mm < BOTTOM {
            self.next_page()?;
        }
        Ok(())
    }

    fn next_page(&mut self) -> Result<(), PdfError> {
        let fresh = self.doc.page();
        let done = std::mem::replace(&mut self.page, fresh);
        self.doc.add_page(done)?;
        Ok(())
    }

    fn text(&mut self, font: Font, size: f32, text: &str) -> Result<(), PdfError> {
        let need = self.lines(font, size, text);
        self.ensure(need)?;
        self.page.text(font, size, text);
        Ok(())
    }

    fn heading(&mut self, text: &str) -> Result<(), PdfError> {
        self.ensure(20.0)?;
        self.page.gap(3.0);
        self.text(Font::Sans, 13.0, text)?;
        let y = self.page.cursor() - 1.5;
        self.page.rule(y);
        self.page.gap(2.5);
        Ok(())
    }

    fn para(&mut self, text: &str) -> Result<(), PdfError> {
        self.text(Font::Sans, 9.5, text)
    }

    fn mono(&mut self, text: &str) -> Result<(), PdfError> {
        self.text(Font::Mono, 8.5, text)
    }

    fn finish(mut self) -> Result<Vec<u8>, PdfError> {
        self.next_page()?;
        self.doc.save()
    }
}

/// Renders `t` on `size` pages. The output depends only on the transcript (and printpdf's
/// random trailer `/ID`).
pub fn render_record(t: &RecordTranscript, size: PageSize) -> Result<Vec<u8>, PdfError> {
    let h = &t.header;
    let rehearsal = h.mode != "production";
    let created = UtcTime::parse(&t.checkpoint.time)
        .or_else(|| UtcTime::parse(&h.started_at))
        .map(|u| u.0.div_euclid(1000))
        .unwrap_or(0);
    let info = DocInfo {
        title: format!("Keyrite ceremony record {}", h.ceremony_id),
        author: format!("Keyrite — {}", or_dash(&h.site)),
        created_unix: created,
    };
    let mut doc = Document::new(&info, size, rehearsal.then_some(REHEARSAL_STAMP))?;
    // The record is signed ETSI.CAdES.detached and carries its transcript as an /AF
    // associated file: both are PDF 2.0 features.
    doc.require_version(PdfVersion::V2_0);
    let footer = format!("Keyrite ceremony record {}", h.ceremony_id);
    doc.number_pages(8.0, 9.0, move |n, total| {
        format!("{footer} — Page {n} of {total}")
    });
    let page = doc.page();
    let mut f = Flow {
        doc,
        page,
        width: size.mm().0,
    };

    first_page(&mut f, t, rehearsal)?;

    f.heading("Participants")?;
    for p in &t.participants {
        f.para(&format!(
            "{} — {} ({}), checked in {} [entry {}]{}",
            p.name,
            p.role,
            p.participant_id,
            p.at,
            p.seq,
            p.credential_fingerprint
                .as_ref()
                .map(|c| format!(", credential {c}"))
                .unwrap_or_default()
        ))?;
    }

    if !t.corrections.is_empty() {
        f.heading("Check-in corrections")?;
        for l in super::corrections::lines(&t.corrections) {
            f.para(&l)?;
        }
    }

    f.heading("Preflight and clock")?;
    for r in &t.preflight {
        f.para(&format!(
            "{} {}: {} — {} [entry {}]",
            if r.passed { "PASS" } else { "FAIL" },
            r.check,
            r.detail,
            r.at,
            r.seq
        ))?;
    }
    for x in &t.hsm {
        f.para(&format!(
            "HSM: {} {} token \"{}\" serial {} [entry {}]",
            x.manufacturer, x.model, x.token_label, x.token_serial, x.seq
        ))?;
    }

    f.heading("Steps")?;
    for s in &t.steps {
        f.ensure(22.0)?;
        f.text(
            Font::Sans,
            10.5,
            &format!("Step {} — {}: {}", s.step, s.title, s.outcome),
        )?;
        f.para(&format!(
            "Actor {}; started {} [entry {}], finished {}",
            or_dash(&s.actor),
            s.started_at,
            s.seq,
            or_dash(&s.finished_at)
        ))?;
        for so in &s.sign_offs {
            f.para(&format!(
                "   Signed off by {} as {} at {} [entry {}]{}",
                so.participant_id,
                so.role,
                so.at,
                so.seq,
                so.signature_sha256
                    .as_ref()
                    .map(|x| format!(", signature SHA-256 {x}"))
                    .unwrap_or_default()
            ))?;
        }
        for line in step_evidence(t, &s.event_seqs) {
            f.para(&format!("   Evidence: {line}"))?;
        }
        f.para(&format!("   Compliance: {}", s.compliance.join("; ")))?;
        f.page.gap(1.5);
    }

    f.heading("Exceptions")?;
    if t.exceptions.is_empty() {
        f.para("None.")?;
    }
    for x in &t.exceptions {
        f.para(&format!(
            "{} in step {} at {} [entry {}]: {}",
            x.exception_id, x.step, x.opened_at, x.seq, x.description
        ))?;
        f.para(&format!(
            "   Decision: {} by {} at {}: {}",
            or_dash(&x.decision),
            x.decided_by.join(", "),
            or_dash(&x.decided_at),
            or_dash(&x.reason)
        ))?;
    }

    f.heading("Outputs")?;
    for k in &t.keys {
        f.text(
            Font::Sans,
            10.5,
            &format!("Key {} \"{}\" — {}", k.key_id, k.label, k.algorithm),
        )?;
        f.para(&format!(
            "{} on token {}, CKA_ID {}, at {} [entry {}]",
            k.origin, k.token_serial, k.cka_id, k.at, k.seq
        ))?;
        if let Some(fp) = &k.fingerprint {
            f.mono(&format!("Fingerprint (SPKI SHA-256): {fp}"))?;
        }
        if let Some(kcv) = &k.kcv {
            f.mono(&format!(
                "Key check value (KCV, {}): {kcv}",
                or_dash(&k.kcv_method)
            ))?;
        }
        if let Some(w) = &k.fingerprint_words {
            f.para(&format!(
                "{} in words: {w}",
                if k.fingerprint.is_some() {
                    "Fingerprint"
                } else {
                    "KCV (a custodian rebuilding the key confirms it against these)"
                }
            ))?;
        }
        if let Some(p) = &k.protection {
            f.para(&format!("Key protection applied: {}", protection_text(p)))?;
        }
        attributes(&mut f, "Private/secret half", &k.attributes)?;
        attributes(&mut f, "Public half", &k.public_attributes)?;
    }
    for set in &t.share_sets {
        f.text(
            Font::Sans,
            10.5,
            &format!(
                "Share set {} protecting {}: {} of {}",
                set.set_id, set.protects_key_id, set.threshold, set.share_count
            ),
        )?;
        for s in &set.shares {
            f.mono(&format!(
                "share {} fingerprint {} held by {}{}",
                s.index,
                s.fingerprint,
                or_dash(&s.custodian_id),
                s.verified_at
                    .as_ref()
                    .map(|v| format!(", verified {v}"))
                    .unwrap_or_default()
            ))?;
        }
    }

    f.heading("Keys destroyed")?;
    if t.destructions.is_empty() {
        f.para("None.")?;
    }
    for d in &t.destructions {
        f.para(&format!(
            "{} on token {} (CKA_ID {}) at {} [entry {}]: {}",
            d.key_id,
            d.token_serial,
            d.cka_id,
            d.at,
            d.seq,
            destruction_text(&d.proof)
        ))?;
    }

    f.heading("Backups")?;
    if t.backups.is_empty() {
        f.para("None.")?;
    }
    for b in &t.backups {
        f.para(&format!(
            "Backup {} of {} {} at {} [entry {}]: wrapped by {}, blob SHA-256 {}, kept at {}{}",
            b.backup_id,
            b.key_id,
            b.action,
            b.at,
            b.seq,
            b.wrapped_by
                .as_deref()
                .map(|w| match b.wrapping_key_kcv.as_deref() {
                    Some(kcv) => format!(
                        "{w} (KCV {kcv}: {})",
                        crate::operations::kek_in_force::kcv_words(kcv)
                    ),
                    None => w.to_string(),
                })
                .unwrap_or_else(|| "—".into()),
            or_dash(&b.blob_sha256),
            or_dash(&b.location),
            b.token_serial
                .as_ref()
                .map(|s| format!(", token {s}"))
                .unwrap_or_default()
        ))?;
    }

    f.heading("Approvals")?;
    if t.approvals.is_empty() {
        f.para("None.")?;
    }
    for a in &t.approvals {
        f.para(&format!(
            "Request {} ({} of {}, {} needed) at {} [entry {}], SHA-256 {}",
            a.request_id,
            a.operation,
            or_dash(&a.key_id),
            a.required,
            a.requested_at,
            a.seq,
            a.request_sha256
        ))?;
        for d in &a.decisions {
            f.para(&format!(
                "   {} by {} at {} [entry {}]{}",
                if d.granted { "Approved" } else { "Refused" },
                d.custodian_id,
                d.at,
                d.seq,
                match (&d.signature_sha256, &d.reason) {
                    (Some(s), _) => format!(", signature SHA-256 {s}"),
                    (None, Some(r)) => format!(": {r}"),
                    _ => String::new(),
                }
            ))?;
        }
    }

    f.heading("Inventory changes")?;
    if t.inventory.is_empty() {
        f.para("None.")?;
    }
    for c in &t.inventory {
        f.para(&format!(
            "{} {} at {} [entry {}]: {}",
            c.key_id, c.change, c.at, c.seq, c.detail
        ))?;
    }

    if !t.other_events.is_empty() {
        f.heading("Other journal entries")?;
        for o in &t.other_events {
            f.para(&format!("[entry {}] {} at {}", o.seq, o.kind, o.at))?;
            f.mono(&format!("   {}", o.body))?;
        }
    }

    let cp = &t.checkpoint;
    f.heading("The record's journal checkpoint")?;
    f.para(&format!(
        "The journal's first {} entries (up to the decided outcome), signed at {} by the \
         record-signing key (SPKI SHA-256 {}). The same code is on the first page.",
        cp.size, cp.time, cp.signer_fingerprint
    ))?;
    f.mono(&format!("Root: {}", cp.root))?;
    for line in cp.text.lines() {
        f.mono(line)?;
    }
    signatures(&mut f, t)?;
    f.finish()
}

/// First page: what an auditor reads first.
fn first_page(f: &mut Flow, t: &RecordTranscript, rehearsal: bool) -> Result<(), PdfError> {
    let h = &t.header;
    f.text(
        Font::Sans,
        17.0,
        &format!("Ceremony record {}", h.ceremony_id),
    )?;
    f.page.gap(2.0);
    f.text(
        Font::Sans,
        12.0,
        &format!(
            "Outcome: {}",
            h.outcome
                .as_deref()
                .unwrap_or("not decided when this record was signed")
        ),
    )?;
    if let (Some(at), Some(seq)) = (&h.outcome_at, h.outcome_seq) {
        f.para(&format!(
            "Decided at {at} [entry {seq}], before this record was signed. The record's \
             sign-offs and the ceremony's close follow it; the closing checkpoint shown on \
             screen afterwards covers them (the witness writes it below)."
        ))?;
    }
    f.para(&format!(
        "Script: {} (id {}, version {})",
        h.script_name,
        or_dash(&h.script_id),
        or_dash(&h.script_version)
    ))?;
    f.para(&format!("Script SHA-256: {}", h.script_sha256))?;
    f.para(&format!("In words: {}", h.script_sha256_words))?;
    f.para(&format!(
        "Mode: {}    Site: {}",
        if rehearsal {
            format!("{} (software HSM, not for production keys)", h.mode)
        } else {
            h.mode.clone()
        },
        or_dash(&h.site)
    ))?;
    f.para(&format!(
        "Started {} [entry {}]; {}",
        h.started_at,
        h.started_seq,
        match &h.closed_at {
            Some(c) => format!("closed {c}"),
            None => "closes after this record is signed".into(),
        }
    ))?;
    f.para(&hsm_line(t))?;
    for note in super::notes::first_page_notes(t) {
        f.para(&note)?;
    }
    for line in super::kek::first_page_lines(t) {
        f.para(&line)?;
    }
    f.para(&format!(
        "Keyrite {} — binary SHA-256 {} — {}",
        or_dash(&h.app_version),
        or_dash(&h.binary_sha256),
        or_dash(&h.os)
    ))?;
    f.para(&format!("Journal {}", h.journal_origin))?;
    match &t.previous_closing {
        None => f.para("Previous ceremony: none in this journal.")?,
        Some(p) => {
            f.para(&format!(
                "Previous ceremony {} closed {} [entry {}].",
                p.ceremony_id, p.outcome, p.closed_seq
            ))?;
            match (&p.checkpoint, &p.missing) {
                (Some(c), _) => f.para(&format!(
                    "Its closing checkpoint: size {}, root words {} (compare with the words \
                     written on its printed record).",
                    c.size, c.root_words
                ))?,
                (None, Some(m)) => f.para(&format!("Its closing checkpoint: {m}."))?,
                (None, None) => {}
            }
        }
    }

    f.heading("Exceptions (summary)")?;
    let summary = exception_summary(t, rehearsal);
    if summary.is_empty() {
        f.para("None: no exception was raised and every preflight check passed.")?;
    }
    for line in summary {
        f.para(&line)?;
    }

    let cp = &t.checkpoint;
    f.heading("Journal checkpoint of this record")?;
    f.para(&format!(
        "Entries 0 to {} signed at {}. Root words: {}",
        cp.size.saturating_sub(1),
        cp.time,
        cp.root_words
    ))?;
    f.para(
        "Scan the code and check it with `keyrite journal verify --checkpoint FILE` on a copy \
         of the journal.",
    )?;
    f.ensure(QR_SIDE_MM + 6.0)?;
    f.doc.qr(&mut f.page, &cp.text, QR_SIDE_MM)?;
    Ok(())
}

/// A block per participant (name, role, signature line, date) and the witness's statement
/// with room to write the closing checkpoint shown on screen after the close.
fn signatures(f: &mut Flow, t: &RecordTranscript) -> Result<(), PdfError> {
    f.heading("Signatures")?;
    f.para(
        "Each participant signs the printed record: by signing you confirm you took part in \
         the role shown and that this record matches what you saw.",
    )?;
    for p in &t.participants {
        f.ensure(20.0)?;
        f.page.gap(3.0);
        f.para(&format!("{} — {} ({})", p.name, p.role, p.participant_id))?;
        f.page.gap(4.0);
        f.para("Signature: ________________________________    Date: ________________")?;
    }
    f.ensure(50.0)?;
    f.page.gap(4.0);
    f.text(Font::Sans, 10.5, "Witness statement")?;
    f.para(
        "I observed this ceremony; it was performed as recorded here, with the exceptions \
         listed. After the close the screen showed the closing checkpoint, which I copied here:",
    )?;
    f.page.gap(3.0);
    f.para("Closing checkpoint size: __________")?;
    f.page.gap(3.0);
    f.para("Root words: __________________________________________________________________")?;
    f.page.gap(3.0);
    f.para("__________________________________________________________________________________")?;
    f.page.gap(3.0);
    f.para(
        "Witness name: ________________________  Signature: ____________________  Date: __________",
    )?;
    Ok(())
}

fn attributes(f: &mut Flow, what: &str, rows: &[AttributeCheck]) -> Result<(), PdfError> {
    if rows.is_empty() {
        return Ok(());
    }
    f.para(&format!("{what}: attributes read back and checked"))?;
    for r in rows {
        f.mono(&format!(
            "  {} {:<22} expected {:<10} read {}",
            if r.ok { "ok " } else { "BAD" },
            r.attribute,
            r.expected,
            r.actual.as_deref().unwrap_or("(not returned)")
        ))?;
    }
    Ok(())
}
