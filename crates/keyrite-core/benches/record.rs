//! Sign and verify times for a ~30-page record, and render + sign / check times for the record
//! of a 30-step ceremony built from a real journal. Run: `cargo bench -p keyrite-core --bench record`.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_testkit::journal as ceremony;

use std::time::{Duration, Instant, SystemTime};

use keyrite_core::journal::Journal;
use keyrite_core::pdf::PageSize;
use keyrite_core::record::{
    attach_file, check_record, produce_from_transcript, sign_pdf, verify_pdf, RecordTranscript,
};
use keyrite_core::signer::SoftwareP384Signer;
use keyrite_core::store::StoreOptions;
use keyrite_core::x509::record_signing_certificate;
use printpdf::{
    Mm, Op, ParsedFont, PdfDocument, PdfFontHandle, PdfPage, PdfSaveOptions, Point, Pt, TextItem,
};

const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
const PAGES: usize = 30;
const ROUNDS: u32 = 10;

fn render() -> Vec<u8> {
    let ttf = std::fs::read(FONT).expect("fonts-dejavu-core is installed");
    let font = ParsedFont::from_bytes(&ttf, 0, &mut Vec::new()).expect("DejaVu parses");
    let mut doc = PdfDocument::new("Keyrite benchmark record");
    let font_id = doc.add_font(&font);
    let pages = (0..PAGES)
        .map(|p| {
            let mut ops = vec![
                Op::StartTextSection,
                Op::SetFont {
                    font: PdfFontHandle::External(font_id.clone()),
                    size: Pt(10.0),
                },
                Op::SetLineHeight { lh: Pt(13.0) },
                Op::SetTextCursor {
                    pos: Point::new(Mm(15.0), Mm(280.0)),
                },
            ];
            for line in 0..55 {
                ops.push(Op::ShowText {
                    items: vec![TextItem::Text(format!(
                        "Step {} line {line}: custodian signed off at 09:{line:02} — fingerprint 3f9a 7c21 e0d4",
                        p + 1
                    ))],
                });
                ops.push(Op::AddLineBreak);
            }
            ops.push(Op::EndTextSection);
            PdfPage::new(Mm(210.0), Mm(297.0), ops)
        })
        .collect();
    doc.with_pages(pages)
        .save(&PdfSaveOptions::default(), &mut Vec::new())
}

fn per_round(total: Duration) -> String {
    format!("{:.2} ms", total.as_secs_f64() * 1000.0 / f64::from(ROUNDS))
}

fn main() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_779_355_800);
    let signer = SoftwareP384Signer::generate();
    let cert = record_signing_certificate(&signer, "bench", now).expect("certificate");
    let transcript = vec![b'x'; 200 * 1024];
    let pdf = render();
    let pdf =
        attach_file(&pdf, "transcript.json", "application/json", &transcript).expect("attach");

    let t = Instant::now();
    let mut signed = Vec::new();
    for _ in 0..ROUNDS {
        signed = sign_pdf(&pdf, &signer, &cert, now, "bench", "bench").expect("sign");
    }
    let sign = t.elapsed();

    let t = Instant::now();
    for _ in 0..ROUNDS {
        assert!(verify_pdf(&signed, Some(&cert)).is_valid());
    }
    let verify = t.elapsed();

    println!("record benchmark: {PAGES} pages, {} KiB PDF, 200 KiB transcript attached, software P-384 signer", signed.len() / 1024);
    println!(
        "  sign   (ETSI.CAdES.detached, incremental update): {} per record",
        per_round(sign)
    );
    println!(
        "  verify (ByteRange, digest, ECDSA, attachments):   {} per record",
        per_round(verify)
    );

    ceremony_record(&signer, &cert);
}

/// A 30-step ceremony journaled for real, then: transcript from the journal, render + attach +
/// sign, and the full check (signature, transcript, checkpoint, approvals, journal rebuild).
fn ceremony_record(signer: &SoftwareP384Signer, cert: &[u8]) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut j = Journal::open(&tmp.path().join("j.db"), &StoreOptions::default()).expect("journal");
    let fp = "ab".repeat(32);
    let c = ceremony::write(&mut j, "CER-BENCH", 30, serde_json::json!({}), &fp);
    j.checkpoint(signer).expect("checkpoint");

    let t = Instant::now();
    let mut transcript = None;
    for _ in 0..ROUNDS {
        transcript = Some(RecordTranscript::from_journal(&j, &c.id).expect("transcript"));
    }
    let build = t.elapsed();
    let transcript = transcript.expect("built");

    let t = Instant::now();
    let mut pdf = Vec::new();
    for _ in 0..ROUNDS {
        pdf = produce_from_transcript(&transcript, signer, cert, PageSize::A4).expect("produce");
    }
    let produce = t.elapsed();

    let t = Instant::now();
    for _ in 0..ROUNDS {
        assert!(check_record(&pdf, Some(cert), Some(&j)).is_valid());
    }
    let check = t.elapsed();
    println!(
        "ceremony record: 30 steps, {} journal entries, {} KiB PDF",
        j.head().size,
        pdf.len() / 1024
    );
    println!(
        "  transcript from the journal:          {} per record",
        per_round(build)
    );
    println!(
        "  render + attach + sign:               {} per record",
        per_round(produce)
    );
    println!(
        "  check_record (with journal rebuild):  {} per record",
        per_round(check)
    );
}
