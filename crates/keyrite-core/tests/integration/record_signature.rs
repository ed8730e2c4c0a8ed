//! Record signature and attachment layers against real PDFs (printpdf) and real validators
//! (poppler's `pdfsig`, `pdfdetach`, `pdftotext`).
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use std::process::Command;
use std::time::{Duration, SystemTime};

use keyrite_core::record::{
    attach_file, extract_attachment, list_attachments, sign_pdf, verify_pdf, Rejection, Trust,
    Verdict,
};
use keyrite_core::signer::{spki_fingerprint, Signer, SoftwareP384Signer};
use keyrite_core::x509::record_signing_certificate;
use printpdf::{
    Mm, Op, ParsedFont, PdfDocument, PdfFontHandle, PdfPage, PdfSaveOptions, Point, Pt, TextItem,
};

const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
const TRANSCRIPT: &[u8] = br#"{"ceremony":"root-2026-05","steps":[{"n":1,"actor":"alice"}]}"#;

fn clock() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_779_355_800) // 2026-05-21 09:30:00 UTC
}

/// A small PDF with an embedded DejaVu font, `pages` pages of text.
fn render(pages: usize) -> Vec<u8> {
    let ttf = std::fs::read(FONT).expect("fonts-dejavu-core is installed");
    let font = ParsedFont::from_bytes(&ttf, 0, &mut Vec::new()).expect("DejaVu parses");
    let mut doc = PdfDocument::new("Keyrite test record");
    let font_id = doc.add_font(&font);
    let pages = (0..pages)
        .map(|p| {
            let mut ops = vec![
                Op::StartTextSection,
                Op::SetFont {
                    font: PdfFontHandle::External(font_id.clone()),
                    size: Pt(11.0),
                },
                Op::SetLineHeight { lh: Pt(14.0) },
                Op::SetTextCursor {
                    pos: Point::new(Mm(20.0), Mm(270.0)),
                },
            ];
            for line in 0..40 {
                ops.push(Op::ShowText {
                    items: vec![TextItem::Text(format!(
                        "Page {} step {line}: alice signed off — key fingerprint 3f9a…",
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

struct Key {
    signer: SoftwareP384Signer,
    cert: Vec<u8>,
}

fn key(site: &str) -> Key {
    let signer = SoftwareP384Signer::generate();
    let cert = record_signing_certificate(&signer, site, clock()).unwrap();
    Key { signer, cert }
}

fn signed_record(k: &Key) -> Vec<u8> {
    let pdf = attach_file(
        &render(2),
        "transcript.json",
        "application/json",
        TRANSCRIPT,
    )
    .unwrap();
    sign_pdf(
        &pdf,
        &k.signer,
        &k.cert,
        clock(),
        "Ceremony record root-2026-05",
        "Vault B",
    )
    .unwrap()
}

fn tool(name: &str, args: &[&str], pdf: &[u8]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.pdf");
    std::fs::write(&path, pdf).unwrap();
    let mut cmd = Command::new(name);
    let path = path.to_string_lossy().into_owned();
    cmd.args(
        args.iter()
            .map(|a| if *a == "{}" { path.as_str() } else { a }),
    )
    .current_dir(dir.path());
    let out = cmd.output().unwrap_or_else(|e| panic!("{name} runs: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn rejection(v: Verdict) -> Rejection {
    match v {
        Verdict::Rejected(r) => r,
        Verdict::Valid(r) => panic!(
            "expected a rejection, got a valid record signed by {}",
            r.signer_subject
        ),
    }
}

#[test]
fn attachments_round_trip_and_poppler_sees_them() {
    let pdf = render(1);
    let pdf = attach_file(&pdf, "transcript.json", "application/json", TRANSCRIPT).unwrap();
    let pdf = attach_file(&pdf, "checkpoint.txt", "text/plain", b"size 42").unwrap();
    assert_eq!(
        extract_attachment(&pdf, "transcript.json").unwrap(),
        TRANSCRIPT
    );
    assert_eq!(
        extract_attachment(&pdf, "checkpoint.txt").unwrap(),
        b"size 42"
    );
    let all = list_attachments(&pdf).unwrap();
    let names: Vec<_> = all.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["checkpoint.txt", "transcript.json"]);
    assert_eq!(all[1].mime.as_deref(), Some("application/json"));

    let (ok, out) = tool("pdfdetach", &["-list", "{}"], &pdf);
    assert!(ok, "{out}");
    assert!(out.contains("2 embedded files"), "{out}");
    assert!(
        out.contains("1: checkpoint.txt") && out.contains("2: transcript.json"),
        "{out}"
    );
    let (ok, out) = tool("pdftotext", &["{}", "-"], &pdf);
    assert!(ok && out.contains("Page 1 step 0"), "{out}");

    assert_eq!(
        extract_attachment(&pdf, "absent.json")
            .unwrap_err()
            .to_string(),
        "the PDF has no attachment named \"absent.json\""
    );
    assert_eq!(
        attach_file(&pdf, "transcript.json", "application/json", b"{}")
            .unwrap_err()
            .to_string(),
        "the PDF already has an attachment named \"transcript.json\""
    );
    assert_eq!(
        attach_file(&pdf, "tr\u{e4}nscript.json", "application/json", b"{}")
            .unwrap_err()
            .to_string(),
        "attachment name \"tränscript.json\" is not allowed: use 1 to 127 printable ASCII characters"
    );
    assert_eq!(
        attach_file(&pdf, "a.json", "json", b"{}")
            .unwrap_err()
            .to_string(),
        "attachment MIME type \"json\" is not allowed: use type/subtype in printable ASCII"
    );
    assert_eq!(
        attach_file(b"GIF89a", "a.json", "application/json", b"{}")
            .unwrap_err()
            .to_string(),
        "not a PDF: the file does not start with %PDF-"
    );
}

#[test]
fn pdfsig_accepts_the_signature_and_verify_reports_details() {
    let k = key("lab-1");
    let signed = signed_record(&k);

    let (ok, out) = tool("pdfsig", &["{}"], &signed);
    assert!(ok, "{out}");
    assert!(out.contains("Signature Type: ETSI.CAdES.detached"), "{out}");
    assert!(
        out.contains("Signature Validation: Signature is Valid."),
        "{out}"
    );
    assert!(out.contains("Total document signed"), "{out}");
    assert!(out.contains("Signing Time: May 21 2026"), "{out}");
    assert!(out.contains("Signing Hash Algorithm: SHA-384"), "{out}");
    let (ok, out) = tool("pdftotext", &["{}", "-"], &signed);
    assert!(ok && out.contains("Page 2 step 39"), "{out}");

    let record = verify_pdf(&signed, Some(&k.cert)).into_result().unwrap();
    assert_eq!(record.trust, Trust::Pinned);
    assert_eq!(
        record.signer_subject,
        "CN=Keyrite record signing — lab-1,O=Keyrite"
    );
    assert_eq!(
        record.spki_fingerprint,
        spki_fingerprint(&k.signer.public_key_spki().unwrap())
    );
    assert_eq!(record.signing_time, Some(clock()));
    assert_eq!(
        record.reason.as_deref(),
        Some("Ceremony record root-2026-05")
    );
    assert_eq!(record.location.as_deref(), Some("Vault B"));
    assert_eq!(record.signed_len, signed.len());
    assert_eq!(record.certificate_der, k.cert);
    assert_eq!(
        record.attachment("transcript.json").unwrap().bytes,
        TRANSCRIPT
    );
    assert_eq!(
        record.attachment("approvals.json").unwrap_err().to_string(),
        "the PDF has no attachment named \"approvals.json\""
    );

    // Without a pin the signature is still checked, and the verdict says nobody vouched.
    let unpinned = verify_pdf(&signed, None).into_result().unwrap();
    assert_eq!(unpinned.trust, Trust::NotPinned);
}

#[test]
fn a_change_anywhere_fails_verification() {
    let k = key("lab-1");
    let signed = signed_record(&k);
    assert!(verify_pdf(&signed, Some(&k.cert)).is_valid());

    // 200 positions spread over the file plus every 50th byte of the signature's /Contents.
    let mut positions: Vec<usize> = (0..200).map(|i| i * (signed.len() - 1) / 199).collect();
    let contents = find(&signed, b"/Contents<").expect("contents written") + 9;
    positions.extend((contents..contents + 16_386).step_by(50));
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    for &pos in &positions {
        let mut bad = signed.clone();
        bad[pos] ^= 0x01;
        let r = rejection(verify_pdf(&bad, Some(&k.cert)));
        let kind = format!("{r:?}");
        let kind = kind.split(['(', ' ', '{']).next().unwrap_or("").to_string();
        *kinds.entry(kind).or_default() += 1;
    }
    // The bulk of the file is covered by the digest; the /Contents by canonical-form checks.
    assert!(
        kinds.get("Modified").copied().unwrap_or(0) > 100,
        "{kinds:?}"
    );
    assert!(
        kinds.get("Malformed").copied().unwrap_or(0) > 100,
        "{kinds:?}"
    );
}

#[test]
fn an_appended_update_is_reported() {
    let k = key("lab-1");
    let signed = signed_record(&k);
    let updated = attach_file(&signed, "extra.json", "application/json", b"{\"x\":1}").unwrap();
    let r = rejection(verify_pdf(&updated, Some(&k.cert)));
    assert_eq!(
        r.to_string(),
        format!(
            "the file was changed after signing: {} bytes were appended after the {} signed bytes (an incremental update the signature does not cover)",
            updated.len() - signed.len(),
            signed.len()
        )
    );
    let (_, out) = tool("pdfsig", &["{}"], &updated);
    assert!(out.contains("Not total document signed"), "{out}");
}

#[test]
fn a_record_signed_with_another_key_is_not_trusted() {
    let ours = key("lab-1");
    let theirs = key("lab-1");
    let signed = signed_record(&theirs);
    let r = rejection(verify_pdf(&signed, Some(&ours.cert)));
    assert_eq!(
        r.to_string(),
        format!(
            "signed by an unknown key: CN=Keyrite record signing — lab-1,O=Keyrite (key fingerprint {}) is not the pinned certificate {}",
            hex::encode(spki_fingerprint(&theirs.signer.public_key_spki().unwrap())),
            hex::encode(spki_fingerprint(&ours.signer.public_key_spki().unwrap())),
        )
    );
    assert_eq!(
        rejection(verify_pdf(&signed, Some(b"not a certificate"))).to_string(),
        "the pinned certificate is not a valid X.509 certificate: unexpected ASN.1 DER tag: expected SEQUENCE, got APPLICATION [14] (constructed)"
    );
}

#[test]
fn bad_inputs_give_exact_verdicts() {
    let k = key("lab-1");
    let signed = signed_record(&k);
    let cases: Vec<(&str, Vec<u8>, String)> = vec![
        ("empty", vec![], "not a PDF: the file does not start with %PDF-".into()),
        ("text", b"hello, auditor".to_vec(), "not a PDF: the file does not start with %PDF-".into()),
        (
            "truncated",
            signed[..signed.len() / 2].to_vec(),
            "the PDF is truncated: it does not end with %%EOF (copy the file again from its source)".into(),
        ),
        ("unsigned", render(1), "the PDF has no signature".into()),
    ];
    for (what, input, expected) in cases {
        assert_eq!(
            rejection(verify_pdf(&input, Some(&k.cert))).to_string(),
            expected,
            "{what}"
        );
    }
    // A cut that keeps the end marker but loses the signed tail.
    let mut cut = signed[..signed.len() - 200].to_vec();
    cut.extend_from_slice(b"\n%%EOF");
    assert!(!verify_pdf(&cut, Some(&k.cert)).is_valid());
}

#[test]
fn signing_refuses_a_certificate_for_another_key() {
    let a = key("lab-1");
    let b = key("lab-1");
    let err = sign_pdf(&render(1), &a.signer, &b.cert, clock(), "r", "l").unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "the signing certificate is for another key than the signer's (fingerprint {} vs {}); make the certificate for this signer",
            hex::encode(spki_fingerprint(&b.signer.public_key_spki().unwrap())),
            hex::encode(spki_fingerprint(&a.signer.public_key_spki().unwrap())),
        )
    );
    assert_eq!(
        sign_pdf(b"%PDF-1.7\nnothing", &a.signer, &a.cert, clock(), "r", "l")
            .unwrap_err()
            .to_string(),
        "the PDF is truncated: it does not end with %%EOF (copy the file again from its source)"
    );
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
