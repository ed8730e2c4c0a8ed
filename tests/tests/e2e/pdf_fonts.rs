//! The PDFs Keyrite writes, as an auditor's tools see them: the root-key rehearsal's record and a
//! share card, both with participants whose names are not ASCII. poppler must list every font
//! as an embedded subset with a ToUnicode map, extract the same text (names with é, ß, ø, and
//! "Page N of M" on every page), qpdf must find no structural problem, the header must declare
//! the version the file uses, the signature must stay valid, and the root-key record must stay
//! under 150 KB.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_core::journal::Journal;
use keyrite_core::pdf::PageSize;
use keyrite_core::secret::SecretBytes;
use keyrite_core::shares::card::{render_card, CardInfo};
use keyrite_core::shares::split;
use keyrite_testkit::ceremony::{record_of, script};
use keyrite_testkit::{keyrite, stderr, stdout, TempData};
use serial_test::serial;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Participants of the rehearsal, in the roles the shipped scripts ask for.
const ADMIN: &str = "Zoë Ærøskøbing";
const WITNESS: &str = "Jürgen Weiß";
const AUDITOR: &str = "Élodie Façade";
const CUSTODIANS: [&str; 5] = [
    "Åsa Öberg",
    "Søren Kierkegård",
    "Małgorzata Łęcka",
    "Ñandú Peña",
    "C Five",
];

fn tool(name: &str, args: &[&str], file: &Path) -> std::process::Output {
    Command::new(name)
        .args(args)
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("{name} (poppler-utils / qpdf installed?): {e}"))
}

fn text(file: &Path) -> String {
    let o = Command::new("pdftotext")
        .arg("-layout")
        .arg(file)
        .arg("-")
        .output()
        .expect("pdftotext");
    assert!(o.status.success(), "pdftotext: {}", stderr(&o));
    String::from_utf8(o.stdout).expect("pdftotext writes UTF-8")
}

/// Every font row of `pdffonts`: embedded, subset (`ABCDEF+` name prefix and `sub yes`) and
/// with a ToUnicode map. Returns the names.
fn assert_fonts_embedded_subsets(file: &Path) -> Vec<String> {
    let o = tool("pdffonts", &[], file);
    assert!(o.status.success(), "pdffonts: {}", stderr(&o));
    let out = stdout(&o);
    let rows: Vec<&str> = out.lines().skip(2).collect();
    assert!(!rows.is_empty(), "no fonts listed: {out}");
    let mut names = Vec::new();
    for r in rows {
        let cols: Vec<&str> = r.split_whitespace().collect();
        // name type… encoding emb sub uni object ID
        let n = cols.len();
        assert!(n >= 8, "unexpected pdffonts row: {r}");
        assert_eq!(cols[n - 5], "yes", "font not embedded: {r}");
        assert_eq!(cols[n - 4], "yes", "font not a subset: {r}");
        assert_eq!(cols[n - 3], "yes", "font without ToUnicode: {r}");
        let (tag, base) = cols[0]
            .split_once('+')
            .unwrap_or_else(|| panic!("no subset tag: {r}"));
        assert!(
            tag.len() == 6 && tag.bytes().all(|b| b.is_ascii_uppercase()),
            "bad subset tag: {r}"
        );
        assert!(base.starts_with("DejaVuSans"), "unexpected font: {r}");
        names.push(cols[0].to_string());
    }
    names
}

/// `qpdf --check` finds no error and no warning. qpdf is installed by .ci/setup.sh; outside CI
/// a machine without it skips only this check, and says so.
fn assert_qpdf_check(file: &Path) {
    if Command::new("qpdf").arg("--version").output().is_err() && std::env::var_os("CI").is_none() {
        eprintln!("qpdf is not installed: `qpdf --check` skipped (apt-get install qpdf)");
        return;
    }
    let o = tool("qpdf", &["--check"], file);
    let out = stdout(&o);
    assert!(o.status.success(), "qpdf --check: {out}{}", stderr(&o));
    assert!(
        out.contains("No syntax or stream encoding errors found"),
        "qpdf --check: {out}"
    );
    assert!(!out.contains("WARNING"), "qpdf --check: {out}");
}

/// The version the header declares.
fn header_version(pdf: &[u8]) -> String {
    let line = pdf.split(|b| *b == b'\n').next().expect("a first line");
    String::from_utf8_lossy(line)
        .trim()
        .strip_prefix("%PDF-")
        .expect("%PDF- header")
        .to_string()
}

/// Pages of `pdftotext` output (form feeds between pages).
fn pages(text: &str) -> Vec<&str> {
    text.split('\u{c}')
        .filter(|p| !p.trim().is_empty())
        .collect()
}

fn answers(dir: &Path) -> PathBuf {
    let p = dir.join("answers.toml");
    let list = |v: &[&str]| {
        v.iter()
            .map(|s| format!("\"{s}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    std::fs::write(
        &p,
        format!(
            "so_pin = \"{so}\"\nuser_pin = \"{user}\"\nshare_passphrase = \"{pass}\"\n\
             [participants]\nadministrator = [\"{ADMIN}\"]\nwitness = [\"{WITNESS}\"]\n\
             auditor = [\"{AUDITOR}\"]\ncustodian = [{custodians}]\n\
             [clock]\nreference = \"test clock\"\noffset_seconds = 0\n",
            so = keyrite_testkit::ceremony::SO_PIN,
            user = keyrite_testkit::ceremony::USER_PIN,
            pass = keyrite_testkit::ceremony::PASSPHRASE,
            custodians = list(&CUSTODIANS),
        ),
    )
    .expect("write answers");
    p
}

#[test]
#[serial(softhsm)]
fn the_root_key_record_has_subset_fonts_page_totals_and_stays_small() {
    let t = TempData::new();
    let data = t.path();
    let ans = answers(t.tmp.path());
    for name in ["hsm-initialisation", "root-key-generation"] {
        let o = keyrite(
            &data,
            &[
                "ceremony",
                "run",
                script(name).to_str().expect("utf-8 path"),
                "--answers",
                ans.to_str().expect("utf-8 path"),
            ],
        );
        assert!(o.status.success(), "{name}: {}{}", stdout(&o), stderr(&o));
    }
    let record = record_of(&data, "root-key-generation");
    let bytes = std::fs::read(&record).expect("read record");
    eprintln!("root-key record: {} bytes", bytes.len());

    // Size goal of issue 15: whole DejaVu faces made it ~650 KB.
    assert!(
        bytes.len() < 150 * 1024,
        "the root-key record is {} bytes",
        bytes.len()
    );

    let names = assert_fonts_embedded_subsets(&record);
    assert!(
        names.iter().any(|n| n.ends_with("+DejaVuSans")),
        "{names:?}"
    );
    assert!(
        names.iter().any(|n| n.ends_with("+DejaVuSansMono")),
        "{names:?}"
    );

    // PAdES (ETSI.CAdES.detached) signature and /AF attachment are PDF 2.0 features; the
    // header says so and the incremental updates do not contradict it.
    assert_eq!(header_version(&bytes), "2.0");
    assert_qpdf_check(&record);

    let text = text(&record);
    for who in [ADMIN, WITNESS, AUDITOR]
        .iter()
        .chain(CUSTODIANS.iter().take(4))
    {
        assert!(text.contains(who), "{who} missing from the extracted text");
    }
    let pages = pages(&text);
    let total = pages.len();
    assert!(total >= 2, "{total} pages");
    for (i, p) in pages.iter().enumerate() {
        let want = format!("Page {} of {total}", i + 1);
        assert!(p.contains(&want), "page {} lacks {want:?}", i + 1);
    }

    let sig = stdout(&tool("pdfsig", &[], &record));
    assert!(sig.contains("Signature is Valid."), "{sig}");
    assert!(sig.contains("Total document signed"), "{sig}");
    let o = keyrite(
        &data,
        &["record", "verify", record.to_str().expect("utf-8 path")],
    );
    assert!(
        o.status.success(),
        "record verify: {}{}",
        stdout(&o),
        stderr(&o)
    );

    // Both ceremonies journaled the SHA-256 of the keyrite executable that ran them (now
    // computed once and cached in the data directory), and any cache entry holds that hash.
    use sha2::Digest;
    let exe = keyrite_testkit::bin("keyrite");
    let want = hex::encode(sha2::Sha256::digest(
        std::fs::read(&exe).expect("read keyrite"),
    ));
    let j = Journal::open_read_only(&data.join("journal.sqlite"), &Default::default())
        .expect("journal");
    let mut seen = Vec::new();
    j.for_each_entry(0, j.head().size - 1, |e| {
        let body = e.body_json()?;
        if let Some(h) = body.pointer("/details/binary_sha256") {
            seen.push(h.as_str().unwrap_or_default().to_string());
        }
        Ok(())
    })
    .expect("entries");
    assert_eq!(seen, vec![want.clone(), want.clone()]);
    if let Ok(cache) = std::fs::read_to_string(data.join("executable-sha256.json")) {
        assert!(cache.contains(&want), "{cache}");
    }
}

#[test]
fn a_share_card_has_subset_fonts_and_extractable_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    let set = split(&SecretBytes::from_slice(&[0x5a; 32]), 2, 3).expect("split");
    let info = CardInfo {
        ceremony_id: "CER-2026-0001".into(),
        custodian: WITNESS.into(),
        page: PageSize::A4,
        stamp: Some("REHEARSAL — SOFTWARE HSM".into()),
        created_unix: 1_780_000_000,
    };
    let pdf = render_card(&set.shares[0], &info).expect("card");
    eprintln!("share card: {} bytes", pdf.len());
    // One page, two small subsets and a QR image: whole fonts made it ~600 KB.
    assert!(pdf.len() < 60 * 1024, "the card is {} bytes", pdf.len());
    assert_eq!(header_version(&pdf), "1.4");
    // The same inputs give the same bytes (no random /ID, no random font names).
    assert_eq!(pdf, render_card(&set.shares[0], &info).expect("card"));
    let path = dir.path().join("card.pdf");
    std::fs::write(&path, &pdf).expect("write card");
    assert_fonts_embedded_subsets(&path);
    assert_qpdf_check(&path);
    let text = text(&path);
    assert!(text.contains(WITNESS), "{text}");
    assert!(
        text.contains("Share 1 of 3 — any 2 rebuild the secret"),
        "{text}"
    );
    assert!(text.contains("REHEARSAL — SOFTWARE HSM"), "{text}");
}
