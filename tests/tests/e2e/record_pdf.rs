//! The signed record of the unattended root-key rehearsal through real tools: the `keyrite`
//! binary signs checkpoints and the record with the SoftHSM2 record-signing key; poppler checks
//! the signature, fonts and text; zbar decodes the checkpoint QR; `keyrite record verify`
//! accepts the record and reports tampering.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_testkit::journal as ceremony;

use keyrite_core::journal::{Journal, SeqRange};
use keyrite_core::store::StoreOptions;
use keyrite_testkit::{keyrite, TempData};
use serial_test::serial;
use std::path::Path;
use std::process::{Command, Output};

fn ok(o: &Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what}: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn tool(name: &str, args: &[&str], file: &Path) -> Output {
    Command::new(name)
        .args(args)
        .arg(file)
        .output()
        .unwrap_or_else(|e| {
            panic!("{name} cannot be run ({e}): it is required by this test; install it with .ci/setup.sh")
        })
}

/// The Python interpreter of the pyHanko virtualenv `.ci/setup.sh` makes, or
/// `KEYRITE_PYHANKO_PYTHON`. Missing is a failure, not a skip: CI installs it.
fn pyhanko_python() -> std::path::PathBuf {
    if let Some(p) = std::env::var_os("KEYRITE_PYHANKO_PYTHON") {
        return p.into();
    }
    let tools = std::env::var_os("KEYRITE_TOOLS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(&std::env::var_os("HOME").expect("HOME is set")).join(".cache/keyrite-tools")
        });
    let python = tools.join("pyhanko/bin/python");
    assert!(
        python.exists(),
        "pyHanko is not installed at {}: run .ci/setup.sh (or set KEYRITE_PYHANKO_PYTHON)",
        python.display()
    );
    python
}

/// pyHanko's verdict on `pdf` with `cert` as the only trust root: (accepted, its JSON line).
fn pyhanko(pdf: &Path, cert: &Path) -> (bool, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/pyhanko_validate.py");
    let o = Command::new(pyhanko_python())
        .arg(script)
        .arg(pdf)
        .arg(cert)
        .output()
        .expect("the pyHanko interpreter runs");
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        !out.contains("ModuleNotFoundError"),
        "pyHanko is not importable: run .ci/setup.sh\n{out}"
    );
    (o.status.success(), out)
}

/// Another character of the same kind (hex digit stays a hex digit), so the file still parses.
fn other_char(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => b'0' + (c - b'0' + 1) % 10,
        b'A'..=b'F' => b'A' + (c - b'A' + 1) % 6,
        b'a'..=b'f' => b'a' + (c - b'a' + 1) % 6,
        b'x' => b'y',
        _ => b'x',
    }
}

/// A data directory with a record-signing key, a key to report, a ceremony journal and a
/// checkpoint signed by the token; returns the record and its certificate.
fn install(d: &TempData, id: &str) -> (ceremony::Ceremony, std::path::PathBuf, std::path::PathBuf) {
    let data = d.path();
    let g = |policy: &str, label: &str| {
        keyrite(
            &data,
            &[
                "hsm",
                "generate",
                "--policy",
                policy,
                "--label",
                label,
                "--rehearsal-pins",
                "--json",
            ],
        )
    };
    let signing = ok(
        &g("record-signing", keyrite_core::record::RECORD_SIGNING_LABEL),
        "generate record-signing",
    );
    let signing: serde_json::Value = serde_json::from_str(&signing).unwrap();
    keyrite_testkit::hsm::certify_record_signing(
        &data,
        keyrite_core::record::RECORD_SIGNING_LABEL,
        signing["key"]["id"].as_str().unwrap(),
        "Lab West",
    );
    let out = ok(&g("ec-p384-sign", "root-2026"), "generate root");
    let ev: serde_json::Value = serde_json::from_str(&out).unwrap();
    let evidence = ev["key"].clone();
    let fp = evidence["spki_sha256"].as_str().unwrap().to_string();
    let db = data.join("journal.sqlite");
    let db = keyrite_core::paths::DataDir::open_at(data.clone())
        .map(|d| d.journal_db())
        .unwrap_or(db);
    let mut j = Journal::open(&db, &StoreOptions::default()).unwrap();
    let cer = ceremony::write(&mut j, id, 5, evidence, &fp);
    drop(j);
    ok(
        &keyrite(&data, &["journal", "checkpoint", "--rehearsal-pins"]),
        "journal checkpoint",
    );
    let pdf = d.scratch(&format!("{id}.pdf"));
    let cert = d.scratch(&format!("{id}.cer"));
    ok(
        &keyrite(
            &data,
            &[
                "record",
                "produce",
                "--ceremony",
                id,
                "--out",
                pdf.to_str().unwrap(),
                "--cert-out",
                cert.to_str().unwrap(),
                "--rehearsal-pins",
            ],
        ),
        "record produce",
    );
    (cer, pdf, db)
}

fn verify(data: &Path, pdf: &Path, extra: &[&str]) -> (i32, String) {
    let mut args = vec!["record", "verify", pdf.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = keyrite(data, &args);
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}

#[test]
#[serial(softhsm)]
fn the_rehearsal_record_passes_poppler_zbar_and_keyrite_and_tampering_is_caught() {
    let d = TempData::new();
    let data = d.path();
    let (cer, pdf, db) = install(&d, "CER-2026-0042");
    let cert = d.scratch("CER-2026-0042.cer");

    let sig = String::from_utf8_lossy(&tool("pdfsig", &[], &pdf).stdout).into_owned();
    assert!(sig.contains("Signature is Valid."), "{sig}");
    assert!(sig.contains("Total document signed"), "{sig}");

    let fonts = String::from_utf8_lossy(&tool("pdffonts", &[], &pdf).stdout).into_owned();
    let rows: Vec<&str> = fonts.lines().skip(2).collect();
    assert!(!rows.is_empty(), "{fonts}");
    for r in rows {
        let cols: Vec<&str> = r.split_whitespace().collect();
        // name type encoding emb sub uni object ID: `emb` is the 4th from the end but three.
        assert_eq!(cols[cols.len() - 5], "yes", "font not embedded: {r}");
    }

    let o = Command::new("pdftotext")
        .arg("-layout")
        .arg(&pdf)
        .arg("-")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    for n in &cer.names {
        assert!(text.contains(n.as_str()), "participant {n} missing");
    }
    for t in &cer.step_titles {
        assert!(text.contains(t.as_str()), "step {t} missing");
    }
    assert!(text.contains(&cer.key_fingerprint));
    for f in &cer.share_fingerprints {
        assert!(text.contains(f.as_str()), "share fingerprint {f} missing");
    }
    let pages: Vec<&str> = text
        .split('\u{c}')
        .filter(|p| !p.trim().is_empty())
        .collect();
    assert!(pages.len() >= 2, "{} pages", pages.len());
    for (i, p) in pages.iter().enumerate() {
        assert!(
            p.contains("REHEARSAL — SOFTWARE HSM"),
            "page {} has no stamp",
            i + 1
        );
    }

    // The checkpoint QR, rendered at 150 dpi and decoded by zbar.
    let prefix = d.scratch("page");
    let o = Command::new("pdftoppm")
        .args(["-r", "150", "-png"])
        .arg(&pdf)
        .arg(&prefix)
        .output()
        .unwrap();
    assert!(o.status.success());
    let mut decoded = None;
    for e in std::fs::read_dir(d.tmp.path()).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "png") {
            let z = tool("zbarimg", &["--quiet"], &p);
            let s = String::from_utf8_lossy(&z.stdout).into_owned();
            if s.starts_with("QR-Code:") {
                decoded = Some(s);
            }
        }
    }
    let decoded = decoded.expect("a QR code on some page");
    assert!(
        decoded.starts_with("QR-Code:keyrite-checkpoint/v1\n"),
        "{decoded}"
    );
    let qr = d.scratch("checkpoint.txt");
    std::fs::write(&qr, &decoded).unwrap();
    let out = ok(
        &keyrite(
            &data,
            &[
                "journal",
                "verify",
                "--checkpoint",
                qr.to_str().unwrap(),
                "--db",
                db.to_str().unwrap(),
            ],
        ),
        "journal verify --checkpoint",
    );
    assert!(out.contains("Consistent with the checkpoint of"), "{out}");

    // keyrite accepts the record with the pinned certificate and the journal.
    let (code, out) = verify(
        &data,
        &pdf,
        &[
            "--trust",
            cert.to_str().unwrap(),
            "--journal",
            db.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.starts_with("VALID: record of ceremony CER-2026-0042"),
        "{out}"
    );
    assert!(out
        .lines()
        .next()
        .unwrap()
        .ends_with("(the pinned certificate); the journal agrees"));

    // Bytes changed at sampled positions.
    let bytes = std::fs::read(&pdf).unwrap();
    let t = d.scratch("t.pdf");
    for k in 0..12 {
        let pos = 9 + (bytes.len() - 30) * k / 11;
        let mut b = bytes.clone();
        b[pos] ^= 0x20;
        std::fs::write(&t, &b).unwrap();
        let (code, out) = verify(&data, &t, &["--trust", cert.to_str().unwrap()]);
        assert_ne!(code, 0, "byte {pos} changed but accepted: {out}");
        assert!(out.starts_with("INVALID: "), "{out}");
    }
    // An appended incremental update.
    let mut b = bytes.clone();
    // An update section that points back at the signed file's cross-reference table.
    let text = String::from_utf8_lossy(&bytes);
    let at = text.rfind("startxref").unwrap();
    let xref: String = text[at + 9..]
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    b.extend_from_slice(format!("% changed after signing\nstartxref\n{xref}\n%%EOF\n").as_bytes());
    std::fs::write(&t, &b).unwrap();
    let (code, out) = verify(&data, &t, &[]);
    assert_eq!(code, 4);
    assert!(
        out.starts_with("INVALID: the file was changed after signing:"),
        "{out}"
    );
    // Not a PDF; missing file.
    std::fs::write(&t, b"hello").unwrap();
    assert_eq!(verify(&data, &t, &[]).0, 5);
    assert_eq!(verify(&data, &d.scratch("none.pdf"), &[]).0, 5);

    // A record signed on another install is not trusted.
    let d2 = TempData::new();
    let (_, other_pdf, _) = install(&d2, "CER-2026-0042");
    let (code, out) = verify(&data, &other_pdf, &["--trust", cert.to_str().unwrap()]);
    assert_eq!(code, 4);
    assert!(
        out.starts_with("INVALID: signed by an unknown key:"),
        "{out}"
    );

    // The journal modified after the record was made.
    let j = Journal::open(&db, &StoreOptions::default()).unwrap();
    j.store()
        .conn()
        .execute_batch(
            "DROP TRIGGER journal_no_update; \
             UPDATE journal_entry SET body = CAST(replace(CAST(body AS TEXT), 'Alan Turing', 'Alan Turinh') AS BLOB) \
             WHERE seq = (SELECT min(seq) FROM journal_entry WHERE CAST(body AS TEXT) LIKE '%Alan Turing%');",
        )
        .unwrap();
    let changed: i64 = j
        .store()
        .conn()
        .query_row(
            "SELECT min(seq) FROM journal_entry WHERE CAST(body AS TEXT) LIKE '%Alan Turinh%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    drop(j);
    let (code, out) = verify(
        &data,
        &pdf,
        &[
            "--trust",
            cert.to_str().unwrap(),
            "--journal",
            db.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 4, "{out}");
    assert!(
        out.starts_with(&format!(
            "INVALID: the journal does not match the record: journal entry {changed}:"
        )),
        "{out}"
    );
}

#[test]
#[serial(softhsm)]
fn third_party_validators_accept_the_record_and_refuse_a_mutated_copy() {
    let d = TempData::new();
    let data = d.path();
    let (_cer, pdf, db) = install(&d, "CER-2026-0043");
    let cert = d.scratch("CER-2026-0043.cer");

    // qpdf: the structure (xref tables, streams) of the signed file is sound.
    let o = tool("qpdf", &["--check"], &pdf);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "qpdf --check: {out}");
    assert!(
        out.contains("No syntax or stream encoding errors found"),
        "{out}"
    );
    // poppler's pdfsig: valid, and covering the whole document.
    let sig = String::from_utf8_lossy(&tool("pdfsig", &[], &pdf).stdout).into_owned();
    assert!(sig.contains("Signature is Valid."), "{sig}");
    assert!(sig.contains("Total document signed"), "{sig}");
    // pyHanko: intact, valid, trusted with the pinned certificate, covering the entire file.
    let (accepted, out) = pyhanko(&pdf, &cert);
    assert!(accepted, "pyHanko refused the genuine record: {out}");
    assert!(out.contains(r#""bottom_line": true"#), "{out}");
    assert!(out.contains(r#""coverage": "ENTIRE_FILE""#), "{out}");

    // One signed byte changed (a character of the signature's /Reason, so the file still
    // parses): every validator refuses it.
    let mut bytes = std::fs::read(&pdf).unwrap();
    let at = bytes
        .windows(7)
        .rposition(|w| w == b"/Reason")
        .expect("a /Reason");
    let c = at
        + bytes[at + 7..]
            .iter()
            .position(u8::is_ascii_alphanumeric)
            .unwrap()
        + 7;
    bytes[c] = other_char(bytes[c]);
    let bad = d.scratch("mutated.pdf");
    std::fs::write(&bad, &bytes).unwrap();
    let sig = String::from_utf8_lossy(&tool("pdfsig", &[], &bad).stdout).into_owned();
    assert!(!sig.contains("Signature is Valid."), "{sig}");
    assert!(sig.contains("Digest Mismatch"), "{sig}");
    let (accepted, out) = pyhanko(&bad, &cert);
    assert!(!accepted, "pyHanko accepted a mutated record: {out}");
    assert!(out.contains(r#""intact": false"#), "{out}");
    let (code, out) = verify(&data, &bad, &["--trust", cert.to_str().unwrap()]);
    assert_eq!(code, 4, "{out}");
    assert!(
        out.starts_with("INVALID: the PDF was modified after signing"),
        "{out}"
    );

    // journal verify without --trust says what it trusted and what covers what.
    let qr = d.scratch("cp.txt");
    let j = Journal::open_read_only(&db, &StoreOptions::default()).unwrap();
    let cp = j.latest_checkpoint().unwrap().unwrap();
    let size = j.head().size;
    drop(j);
    std::fs::write(&qr, cp.to_text()).unwrap();
    let jv = |extra: &[&str]| {
        let mut args = vec!["journal", "verify", "--db", db.to_str().unwrap()];
        args.extend_from_slice(extra);
        ok(&keyrite(&data, &args), "journal verify")
    };
    let out = jv(&["--checkpoint", qr.to_str().unwrap()]);
    let fp = hex::encode(cp.signer_fingerprint());
    assert!(
        out.contains(&format!("Trust: NOT PINNED: checkpoints were checked only against the journal's own record-signing key (SPKI SHA-256 {fp})")),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "Coverage:\n  entries 0 to {}: covered by the given (paper) checkpoint\n  {}: covered by no checkpoint\n",
            cp.size - 1,
            SeqRange {
                first: cp.size,
                last: size - 1
            }
        )),
        "{out}"
    );
    let out = jv(&["--checkpoint", qr.to_str().unwrap(), "--trust", &fp]);
    assert!(
        out.contains(&format!(
            "Trust: checkpoints were checked against the pinned record-signing key {fp}\n"
        )),
        "{out}"
    );
    // The stored-checkpoint table emptied: the genuine paper checkpoint still verifies, and
    // the emptied table is named.
    let j = Journal::open(&db, &StoreOptions::default()).unwrap();
    j.store()
        .conn()
        .execute_batch("DELETE FROM journal_checkpoint")
        .unwrap();
    drop(j);
    let out = jv(&["--checkpoint", qr.to_str().unwrap()]);
    assert!(
        out.contains(&format!(
            "Consistent with the checkpoint of {} entries",
            cp.size
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "WARNING: the journal records 1 signed checkpoint (of {} entries) that its stored-checkpoint table does not hold: the table was emptied or rows were deleted",
            cp.size
        )),
        "{out}"
    );
    let (code, out) = verify(
        &data,
        &pdf,
        &[
            "--trust",
            cert.to_str().unwrap(),
            "--journal",
            db.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("note: the journal's stored-checkpoint table holds no copy of the checkpoint"),
        "{out}"
    );
}

/// `record produce` never writes to the token: with a record-signing key that has no
/// certificate (made outside a ceremony) it is refused with what to do, nothing is written,
/// and the token still holds no certificate.
#[test]
#[serial(softhsm)]
fn record_produce_without_the_ceremony_certificate_is_refused_and_writes_nothing() {
    let d = TempData::new();
    let data = d.path();
    ok(
        &keyrite(
            &data,
            &[
                "hsm",
                "generate",
                "--policy",
                "record-signing",
                "--label",
                keyrite_core::record::RECORD_SIGNING_LABEL,
                "--rehearsal-pins",
            ],
        ),
        "generate record-signing",
    );
    let pdf = d.scratch("CER-2026-0050.pdf");
    let o = keyrite(
        &data,
        &[
            "record",
            "produce",
            "--ceremony",
            "CER-2026-0050",
            "--out",
            pdf.to_str().unwrap(),
            "--rehearsal-pins",
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let serial = keyrite_testkit::hsm::rehearsal_serial(&data);
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        format!(
            "keyrite: error: no record can be signed without the key's certificate: run the \
             hsm-initialisation ceremony, whose record-signing step makes the key and stores it\n  \
             caused by: token \"keyrite-rehearsal\" (serial {serial}) holds no certificate \
             for the record-signing key \"keyrite-record-signing\" (the ceremony that made the key \
             stores it; producing a record never writes to the token)\n"
        )
    );
    assert!(!pdf.exists(), "no record written");
    // The token still holds no certificate object at all.
    let dd = keyrite_core::paths::DataDir::open_at(data.clone()).unwrap();
    let r = keyrite_core::hsm::rehearsal::RehearsalHsm::ensure(&dd).unwrap();
    let (_, user) = r.pins().unwrap();
    let m = keyrite_core::hsm::Pkcs11Module::load(r.module_path()).unwrap();
    let sel = keyrite_core::hsm::TokenSelector::Label(
        keyrite_core::hsm::rehearsal::REHEARSAL_TOKEN_LABEL.into(),
    );
    let (s, _) =
        keyrite_core::hsm::TokenSession::login(&m, &sel, keyrite_core::hsm::UserKind::User, &user)
            .unwrap();
    let certs = s
        .raw()
        .find_objects(&[cryptoki::object::Attribute::Class(
            cryptoki::object::ObjectClass::CERTIFICATE,
        )])
        .unwrap();
    assert!(
        certs.is_empty(),
        "the token holds {} certificates",
        certs.len()
    );
}
