//! A share card through real tools: poppler renders it, zbar decodes its QR code, and the
//! decoded payload is the share; the card's text names only its own share. Then the
//! `keyrite shares` commands on the same shares.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_core::pdf::PageSize;
use keyrite_core::secret::SecretBytes;
use keyrite_core::shares::card::{render_card, CardInfo};
use keyrite_core::shares::{split, Share};
use std::process::Command;

fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    out
}

#[test]
fn share_card_qr_decodes_with_zbarimg_and_shows_only_its_share() {
    let dir = tempfile::tempdir().unwrap();
    let set = split(&SecretBytes::from_slice(&[0x5a; 32]), 2, 3).unwrap();
    for (n, page) in [(0usize, PageSize::A4), (1, PageSize::Letter)] {
        let share = &set.shares[n];
        let info = CardInfo {
            ceremony_id: "CER-2026-0001".into(),
            custodian: "Ada Lovelace".into(),
            page,
            stamp: Some("REHEARSAL — SOFTWARE HSM".into()),
            created_unix: 1_780_000_000,
        };
        let pdf = render_card(share, &info).unwrap();
        let path = dir.path().join(format!("card{n}.pdf"));
        std::fs::write(&path, &pdf).unwrap();

        let prefix = dir.path().join(format!("page{n}"));
        let out = run(Command::new("pdftoppm")
            .args(["-r", "150", "-png"])
            .arg(&path)
            .arg(&prefix));
        assert!(
            out.status.success(),
            "pdftoppm: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let png = dir.path().join(format!("page{n}-1.png"));
        let out = run(Command::new("zbarimg").arg("--quiet").arg(&png));
        assert!(
            out.status.success(),
            "zbarimg: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let decoded = String::from_utf8(out.stdout).unwrap();
        let payload = decoded
            .trim()
            .strip_prefix("QR-Code:")
            .expect("one QR code");
        assert_eq!(payload, share.qr_payload().expose());
        let back = Share::from_qr_payload(payload, None).unwrap();
        assert_eq!(back.fingerprint(), share.fingerprint());

        let out = run(Command::new("pdftotext")
            .args(["-layout"])
            .arg(&path)
            .arg("-"));
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.contains(&format!("Share {} of 3 — any 2 rebuild the secret", n + 1)),
            "{text}"
        );
        assert!(
            text.contains("CER-2026-0001") && text.contains("Ada Lovelace"),
            "{text}"
        );
        assert!(text.contains("REHEARSAL — SOFTWARE HSM"), "{text}");
        assert!(text.contains(&set.set_id.words()), "{text}");
        let squeezed: String = text.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
        assert!(
            squeezed.contains(share.canonical_text().expose()),
            "human form on the card"
        );
        for (m, other) in set.shares.iter().enumerate() {
            if m != n {
                // No other share's value: its distinctive tail (past the common header) is absent.
                let t = other.canonical_text();
                assert!(
                    !squeezed.contains(&t.expose()[20..]),
                    "card {n} shows share {m}"
                );
            }
        }

        let out = run(Command::new("pdffonts").arg(&path));
        let fonts = String::from_utf8(out.stdout).unwrap();
        let rows: Vec<&str> = fonts.lines().skip(2).collect();
        assert!(
            !rows.is_empty() && rows.iter().all(|r| r.contains(" yes ")),
            "{fonts}"
        );
        let out = run(Command::new("pdfinfo").arg(&path));
        let meta = String::from_utf8(out.stdout).unwrap();
        assert!(
            meta.contains("2026"),
            "creation date set explicitly: {meta}"
        );
    }
}

fn keyrite() -> Command {
    // Built by `cargo build --workspace` (the README's test command), as for every end-to-end
    // test: no `cargo build -p keyrite-cli` here, which would relink the binary without the
    // workspace's features while the other tests of this binary run it. Beside this test's own
    // executable, so a CARGO_TARGET_DIR elsewhere works too.
    Command::new(keyrite_testkit::bin("keyrite"))
}

#[test]
fn cli_verify_and_combine_check_only() {
    let dir = tempfile::tempdir().unwrap();
    let set = split(&SecretBytes::from_slice(&[0x33; 16]), 2, 3).unwrap();
    let files: Vec<_> = set
        .shares
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let p = dir.path().join(format!("s{}.txt", i + 1));
            let text = if i == 0 {
                s.qr_payload()
            } else {
                s.human_form()
            };
            std::fs::write(&p, text.expose().to_lowercase()).unwrap();
            p
        })
        .collect();
    let out = run(keyrite().args(["shares", "verify"]).arg(&files[1]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.starts_with(&format!(
            "OK: share 2 of 3 (any 2 rebuild), set {}",
            set.set_id
        )),
        "{stdout}"
    );

    let out = run(keyrite()
        .args(["shares", "combine", "--check-only"])
        .arg(&files[0])
        .arg(&files[2]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let digest = keyrite_core::words::to_words(&set.shares[0].digest());
    assert_eq!(
        stdout,
        format!("OK: shares 1, 3 of set {} rebuild the recorded secret (any 2 of 3).\nDigest: {digest}\n", set.set_id)
    );

    let out = run(keyrite()
        .args(["shares", "combine", "--check-only"])
        .arg(&files[0]));
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!("keyrite: error: too few shares: set {} needs 2 shares, got 1 (shares 1); bring 1 more\n", set.set_id)
    );
}
