//! What a record's first page says about the root KEK in force (issue 14): read with poppler's
//! `pdftotext` from the real record, compared with what the journal's root-KEK import says.

use keyrite_core::journal::{Event, Journal};
use std::path::Path;

/// The first page of every record in `DATA/records` whose file name starts with `prefix`
/// (a refused ceremony has one too), as text with every run of white space made one space.
pub fn first_pages(data: &Path, prefix: &str) -> Vec<String> {
    let mut pages = Vec::new();
    for e in std::fs::read_dir(data.join("records")).expect("records dir") {
        let p = e.expect("entry").path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if !name.starts_with(prefix) || !name.ends_with(".pdf") {
            continue;
        }
        let o = std::process::Command::new("pdftotext")
            .args(["-f", "1", "-l", "1"])
            .arg(&p)
            .arg("-")
            .output()
            .expect("pdftotext");
        assert!(o.status.success(), "pdftotext {}", p.display());
        pages.push(
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
        );
    }
    assert!(!pages.is_empty(), "no record {prefix}*");
    pages
}

/// How the record names the root KEK labelled `label` (the last one the journal imported
/// under that label): label, key id, token, KCV and its words, and the entry, as journaled.
pub fn kek_named(data: &Path, label: &str) -> String {
    let j = Journal::open_read_only(&data.join("journal.sqlite"), &Default::default())
        .expect("journal");
    let mut found = None;
    j.for_each_entry(0, j.head().size - 1, |e| {
        let body = e.body_json()?;
        if let Event::KeyImported {
            key_id,
            label: l,
            token_serial,
            ..
        } = e.event()?
        {
            let kcv = body["details"]["evidence"]["kcv"]["value"].as_str();
            if l == label {
                found = Some((key_id, token_serial, kcv.map(str::to_string), e.seq));
            }
        }
        Ok(())
    })
    .expect("entries");
    let (key_id, serial, kcv, seq) = found.unwrap_or_else(|| panic!("no key_imported {label}"));
    let kcv = kcv.expect("the import journals the KCV");
    let words = keyrite_core::words::to_words(&hex::decode(&kcv).expect("KCV hex"));
    format!("\"{label}\" (key {key_id}) on token {serial}, KCV {kcv}: {words} [entry {seq}].")
}

/// Asserts that the first page of a record `prefix*` names `start` as the root KEK in force
/// at the start and `end` at the end, or (`None`) says nothing of an end because the ceremony
/// did not change it (each the text after the colon, or its beginning).
pub fn assert_kek_in_force(data: &Path, prefix: &str, start: &str, end: Option<&str>) {
    let start_line = format!("Root KEK in force at the start: {start}");
    let end_line = "Root KEK in force at the end (changed by this ceremony): ";
    let pages = first_pages(data, prefix);
    let ok = pages.iter().any(|page| {
        page.contains(&start_line)
            && match end {
                Some(e) => page.contains(&format!("{end_line}{e}")),
                None => !page.contains(end_line),
            }
    });
    assert!(
        ok,
        "no record {prefix}* says «{start_line}» and, at the end, {end:?}; first pages: {pages:#?}"
    );
}
