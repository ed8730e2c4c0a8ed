//! Names that cannot escape (issue 14, item 4), through the binary: `keyrite ceremony validate`
//! refuses a shipped script whose key label holds a path separator, a dot segment, NUL, a
//! control character or more bytes than the module's label limit, naming `file:line:col` and
//! the reason (the one check, `keyrite_core::names`), and writes nothing.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_testkit::ceremony::script;
use keyrite_testkit::{keyrite, stderr, stdout, TempData};

#[test]
fn ceremony_validate_refuses_every_kind_of_escaping_label_at_its_location() {
    let d = TempData::new();
    let text = std::fs::read_to_string(script("key-generation-and-backup")).unwrap();
    let from = "label = \"keyrite-signing-key\" }";
    assert!(text.contains(from), "test bug: the shipped script changed");
    let (line, col) = text
        .lines()
        .enumerate()
        .find_map(|(i, l)| l.find(from).map(|c| (i + 1, c + "label = ".len() + 1)))
        .unwrap();
    // (TOML value as written in the script, the reason as shown)
    let cases = [
        (
            "../../elsewhere",
            "key label \"../../elsewhere\" contains the dot segment \"..\"; a name must not lead \
             out of its directory",
        ),
        (
            "keys/one",
            "key label \"keys/one\" contains the path separator '/'; a name must not lead into \
             another directory",
        ),
        (
            "/etc",
            "key label \"/etc\" contains the path separator '/'; a name must not lead into \
             another directory",
        ),
        (
            "a\\u0000b",
            "key label \"a\\0b\" contains the control character U+0000; names are printed on \
             records and must read the same everywhere",
        ),
        (
            "a\\u001bb",
            "key label \"a\\u{1b}b\" contains the control character U+001B; names are printed on \
             records and must read the same everywhere",
        ),
        (
            "k234567890123456789012345678901234",
            "key label \"k234567890123456789012345678901234\" has 34 bytes; at most 32 are \
             allowed (the vendor quirks' label limit)",
        ),
    ];
    for (i, (value, why)) in cases.into_iter().enumerate() {
        let bad = d.scratch(&format!("escape-{i}.toml"));
        std::fs::write(
            &bad,
            text.replacen(from, &format!("label = \"{value}\" }}"), 1),
        )
        .unwrap();
        let out = keyrite(&d.path(), &["ceremony", "validate", bad.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{value}: {}", stdout(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&format!(
                "{}:{line}:{col}: steps[3].params.label: step \"generate-key\": parameter \
                 `label`: {why}\n",
                bad.display()
            )),
            "{value}: {err}"
        );
    }
    assert!(!d.path().join("backups").exists(), "nothing was written");
}

/// `keyrite record produce --out` (and `--cert-out`) never writes through a link nor over a
/// file: the record of a real rehearsal is refused into a link pointing out, and into an
/// existing file; the link's target is never created, the file never changed.
#[test]
#[serial_test::serial(softhsm)]
fn record_produce_never_writes_through_a_link_nor_over_a_file() {
    let d = TempData::new();
    let data = d.path();
    let ans = keyrite_testkit::ceremony::answers(d.tmp.path());
    let o = keyrite(
        &data,
        &[
            "ceremony",
            "run",
            script("hsm-initialisation").to_str().unwrap(),
            "--answers",
            ans.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let ceremony = std::fs::read_dir(data.join("records"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .find_map(|n| n.strip_suffix(".pdf").map(str::to_string))
        .expect("the hsm-initialisation record");
    let produce = |out: &std::path::Path, cert: &std::path::Path| {
        keyrite_testkit::hsm::keyrite_fds(
            &data,
            &[
                "record",
                "produce",
                "--ceremony",
                &ceremony,
                "--out",
                out.to_str().unwrap(),
                "--cert-out",
                cert.to_str().unwrap(),
                "--pin-fd",
                "3",
            ],
            &[],
            &[(3, keyrite_testkit::ceremony::USER_PIN)],
            "",
        )
    };
    let outside = d.scratch("outside.pdf");
    let link = d.scratch("record.pdf");
    std::os::unix::fs::symlink(&outside, &link).unwrap();
    let cert = d.scratch("record.cer");
    let o = produce(&link, &cert);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert_eq!(
        stderr(&o),
        format!(
            "keyrite: error: cannot write the record: {} already exists; Keyrite never \
             overwrites a file: move it aside or choose another name\n",
            link.display()
        )
    );
    assert!(!outside.exists(), "nothing written through the link");
    assert!(!cert.exists(), "nothing else written either");
    // Into an existing file: refused, the file unchanged.
    let existing = d.scratch("existing.pdf");
    std::fs::write(&existing, b"an earlier file").unwrap();
    let o = produce(&existing, &cert);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&existing).unwrap(), b"an earlier file");
    // A fresh name works, the certificate beside it.
    let fresh = d.scratch("fresh.pdf");
    let o = produce(&fresh, &cert);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(fresh.exists() && cert.exists());
}
