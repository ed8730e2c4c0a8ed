//! Recovery without Keyrite (issue 17, item 2): the reference script
//! `tools/recover-reference/recover.py` (Python `cryptography` + `argon2-cffi`, no Keyrite code)
//! rebuilds the root KEK from K of the shares a real rehearsal issued and unwraps the
//! record-signing key's backup; the key it writes is the token's key. The by-hand path of
//! `docs/recovery-without-keyrite.md` (`openssl enc -id-aes256-wrap-pad`) gives the same bytes.
//! K−1 shares, a mistyped share, a well-formed wrong share, a wrong passphrase and a forged
//! backup are refused with a clear message and write nothing. The page's test vector is what
//! Keyrite's code and the script compute.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_core::hsm::rehearsal::{RehearsalHsm, REHEARSAL_TOKEN_LABEL};
use keyrite_core::journal::{Event, Journal};
use keyrite_core::paths::DataDir;
use keyrite_core::secret::SecretText;
use keyrite_core::shares::seal::open_with_passphrase;
use keyrite_core::shares::Share;
use keyrite_testkit::ceremony::events;
use keyrite_testkit::ceremony::{answers, script, PASSPHRASE, USER_PIN};
use keyrite_testkit::hsm::keyrite_fds;
use keyrite_testkit::{keyrite, stderr, stdout, TempData};
use serial_test::serial;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const LABEL: &str = "keyrite-record-signing";

/// The interpreter of the virtualenv `.ci/setup.sh` makes for the script
/// (`$KEYRITE_TOOLS/recover-reference`), or `KEYRITE_RECOVER_PYTHON`. Missing is a failure.
fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("KEYRITE_RECOVER_PYTHON") {
        return p.into();
    }
    let tools = std::env::var_os("KEYRITE_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/keyrite-tools")
        });
    let py = tools.join("recover-reference/bin/python");
    assert!(
        py.exists(),
        "the recovery reference's packages are not installed ({} is missing): run .ci/setup.sh",
        py.display()
    );
    py
}

/// Runs the reference script with `args`.
fn recover(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/recover-reference/recover.py");
    let mut cmd = Command::new(python());
    cmd.arg(script);
    for a in args {
        cmd.arg(a);
    }
    let o = cmd.output().expect("run recover.py");
    assert!(
        !stderr(&o).contains("missing Python package"),
        "run .ci/setup.sh: {}",
        stderr(&o)
    );
    o
}

/// The script refused (exit 1) with a message containing every one of `words`.
fn refused(o: &Output, words: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "{}{err}", stdout(o));
    assert!(err.starts_with("recover: refused: "), "{err}");
    for w in words {
        assert!(err.contains(w), "\"{w}\" not in: {err}");
    }
    assert!(!err.contains("Traceback"), "{err}");
}

fn tool(name: &str, args: &[&dyn AsRef<std::ffi::OsStr>]) -> Vec<u8> {
    let mut cmd = Command::new(name);
    for a in args {
        cmd.arg(a);
    }
    let o = cmd
        .output()
        .unwrap_or_else(|e| panic!("{name} cannot be run ({e}): install it with .ci/setup.sh"));
    assert!(o.status.success(), "{name}: {}", stderr(&o));
    o.stdout
}

fn line_value(out: &str, name: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(name))
        .unwrap_or_else(|| panic!("no \"{name}\" line in: {out}"))
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// The root KEK's check value as journaled by the ceremony (`details.evidence.kcv`).
fn journaled_kek_kcv(data: &Path) -> String {
    let j = Journal::open_read_only(&data.join("journal.sqlite"), &Default::default()).unwrap();
    let mut kcv = None;
    j.for_each_entry(0, j.head().size - 1, |e| {
        let b = e.body_json()?;
        if b["event"]["type"] == "key_imported" {
            kcv = b["details"]["evidence"]["kcv"]["value"]
                .as_str()
                .map(str::to_string);
        }
        Ok(())
    })
    .unwrap();
    kcv.expect("the root KEK's KCV is journaled")
}

/// The record-signing public key as the token holds it, read by OpenSC's pkcs11-tool (no
/// Keyrite code): (`CKA_EC_POINT` hex of the public-key object, DER SPKI of its certificate).
fn token_public_key(t: &TempData, data: &Path) -> (String, Vec<u8>) {
    let r = RehearsalHsm::ensure(&DataDir::open_at(data.to_path_buf()).unwrap()).unwrap();
    let base = |extra: &[&str]| {
        let mut cmd = Command::new("pkcs11-tool");
        cmd.arg("--module")
            .arg(r.module_path())
            .args([
                "--token-label",
                REHEARSAL_TOKEN_LABEL,
                "--login",
                "--pin",
                USER_PIN,
            ])
            .args(extra)
            .env("SOFTHSM2_CONF", r.conf_path());
        let o = cmd
            .output()
            .expect("pkcs11-tool (install it with .ci/setup.sh)");
        assert!(o.status.success(), "pkcs11-tool {extra:?}: {}", stderr(&o));
        o
    };
    let listing = stdout(&base(&["-O"]));
    let mut point = None;
    let mut current = String::new();
    let mut public_object = false;
    for l in listing.lines() {
        if !l.starts_with(' ') {
            public_object = l.starts_with("Public Key Object");
            current.clear();
        } else if let Some(v) = l.trim().strip_prefix("EC_POINT:") {
            current = v.trim().to_string();
        } else if l.trim().strip_prefix("label:").map(str::trim) == Some(LABEL)
            && public_object
            && !current.is_empty()
        {
            point = Some(current.clone());
        }
    }
    let point = point.unwrap_or_else(|| panic!("no public key {LABEL} in: {listing}"));
    let cert = t.scratch("token-cert.der");
    base(&[
        "--read-object",
        "--type",
        "cert",
        "--label",
        LABEL,
        "-o",
        cert.to_str().unwrap(),
    ]);
    let pem = tool(
        "openssl",
        &[
            &"x509", &"-inform", &"DER", &"-in", &cert, &"-pubkey", &"-noout",
        ],
    );
    let pem_file = t.scratch("token-cert-pub.pem");
    std::fs::write(&pem_file, pem).unwrap();
    let spki = tool(
        "openssl",
        &[&"pkey", &"-pubin", &"-in", &pem_file, &"-outform", &"DER"],
    );
    (point, spki)
}

#[test]
#[serial(softhsm)]
fn the_reference_script_recovers_the_record_signing_key_from_k_shares_and_its_backup() {
    let t = TempData::new();
    let data = t.path();
    let ans = answers(t.tmp.path());
    for name in ["hsm-initialisation", "root-key-generation"] {
        let o = keyrite(
            &data,
            &[
                "ceremony",
                "run",
                script(name).to_str().unwrap(),
                "--answers",
                ans.to_str().unwrap(),
            ],
        );
        assert!(o.status.success(), "{name}: {}{}", stdout(&o), stderr(&o));
    }
    // What the ceremony issued: five passphrase-sealed shares (3 of 5) and the backup.
    let ev = events(&data);
    let (set_id, fingerprints) = ev
        .iter()
        .find_map(|e| match e {
            Event::ShareSetCreated {
                set_id,
                threshold: 3,
                share_count: 5,
                share_fingerprints,
                ..
            } => Some((set_id.clone(), share_fingerprints.clone())),
            _ => None,
        })
        .expect("share set 3 of 5");
    let sealed = |i: u8| data.join("shares").join(format!("{set_id}-{i}.krseal"));
    let backup = std::fs::read_dir(data.join("backups"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(LABEL) && n.ends_with(".krbak"))
        })
        .expect("the record-signing key's backup");
    let pass_file = t.scratch("passphrase.txt");
    std::fs::write(&pass_file, format!("{PASSPHRASE}\n")).unwrap();

    // The token's public key: as Keyrite lists it, and as pkcs11-tool reads it.
    let o = keyrite_fds(
        &data,
        &["hsm", "keys", "--json", "--pin-fd", "3"],
        &[],
        &[(3, USER_PIN)],
        "",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let keys: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    let token_spki_sha256 = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["label"] == LABEL)
        .and_then(|k| k["spki_sha256"].as_str())
        .unwrap_or_else(|| panic!("{LABEL} not listed: {keys}"))
        .to_string();
    let (token_point, cert_spki) = token_public_key(&t, &data);

    // 1. Three sealed share files (1, 3, 5) and the passphrase: the key comes back.
    let (pem, der, kek) = (
        t.scratch("key.pem"),
        t.scratch("key.der"),
        t.scratch("kek.hex"),
    );
    let o = recover(&[
        &"--sealed",
        &sealed(1),
        &"--sealed",
        &sealed(3),
        &"--sealed",
        &sealed(5),
        &"--passphrase-file",
        &pass_file,
        &"--backup",
        &backup,
        &"--out",
        &pem,
        &"--out-der",
        &der,
        &"--write-kek",
        &kek,
    ]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}{}", stderr(&o));
    assert!(out.contains("shares used: 1, 3, 5"), "{out}");
    // Each share's fingerprint, as the record lists it.
    for i in [1usize, 3, 5] {
        assert_eq!(
            line_value(&out, &format!("share {i} fingerprint: ")),
            fingerprints[i - 1],
            "{out}"
        );
    }
    assert_eq!(
        line_value(&out, "kek-kcv: "),
        journaled_kek_kcv(&data),
        "{out}"
    );
    assert_eq!(
        line_value(&out, "spki-sha256: "),
        token_spki_sha256,
        "{out}"
    );
    // The written PKCS#8 key, read by OpenSSL: its public half is the token's, byte for byte.
    let spki = tool(
        "openssl",
        &[&"pkey", &"-in", &pem, &"-pubout", &"-outform", &"DER"],
    );
    assert_eq!(hex::encode(Sha256::digest(&spki)), token_spki_sha256);
    assert_eq!(
        spki, cert_spki,
        "recovered SPKI differs from the token certificate's"
    );
    assert_eq!(
        format!("0461{}", hex::encode(&spki[spki.len() - 97..])),
        token_point,
        "recovered point differs from the token's CKA_EC_POINT"
    );
    assert!(
        String::from_utf8(tool(
            "openssl",
            &[&"pkey", &"-in", &pem, &"-noout", &"-text"]
        ))
        .unwrap()
        .contains("NIST CURVE: P-384"),
        "not a P-384 key"
    );
    use std::os::unix::fs::PermissionsExt;
    for f in [&pem, &der, &kek] {
        let mode = std::fs::metadata(f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} is readable by others", f.display());
    }
    // 2. The page's by-hand path: openssl's RFC 5649 unwrap gives the same PKCS#8 bytes.
    let text = std::fs::read_to_string(&backup).unwrap();
    let wrapped = text
        .lines()
        .find_map(|l| l.strip_prefix("wrapped: "))
        .unwrap();
    let wrapped_file = t.scratch("wrapped.bin");
    std::fs::write(&wrapped_file, hex::decode(wrapped).unwrap()).unwrap();
    let kek_hex = std::fs::read_to_string(&kek).unwrap();
    let by_hand = t.scratch("by-hand.der");
    tool(
        "openssl",
        &[
            &"enc",
            &"-d",
            &"-id-aes256-wrap-pad",
            &"-K",
            &kek_hex.trim(),
            &"-iv",
            &"A65959A6",
            &"-in",
            &wrapped_file,
            &"-out",
            &by_hand,
        ],
    );
    assert_eq!(
        std::fs::read(&by_hand).unwrap(),
        std::fs::read(&der).unwrap()
    );

    // 3. Typed share texts (another three: 2, 4, 5), in the forms a person may type them.
    let pass = SecretText::new(PASSPHRASE.into());
    let open = |i: u8| -> Share {
        open_with_passphrase(&std::fs::read(sealed(i)).unwrap(), &pass).expect("opens")
    };
    let human = |i: u8| open(i).human_form().expose().to_string();
    let texts = t.scratch("shares.txt");
    std::fs::write(
        &texts,
        format!(
            "# shares typed from the cards\n{}\n\n{}\n{}\n",
            human(2),
            human(4).to_lowercase().replace(' ', "-"),
            open(5).qr_payload().expose()
        ),
    )
    .unwrap();
    let pem2 = t.scratch("key2.pem");
    let o = recover(&[
        &"--shares-file",
        &texts,
        &"--backup",
        &backup,
        &"--out",
        &pem2,
    ]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("shares used: 2, 4, 5"),
        "{}",
        stdout(&o)
    );
    assert_eq!(line_value(&stdout(&o), "spki-sha256: "), token_spki_sha256);
    assert_eq!(std::fs::read(&pem2).unwrap(), std::fs::read(&pem).unwrap());

    // 4. Refusals, each with its reason, and no key written.
    let never = t.scratch("never.pem");
    let attempt = |args: &[&dyn AsRef<std::ffi::OsStr>]| {
        let mut all: Vec<&dyn AsRef<std::ffi::OsStr>> = args.to_vec();
        all.extend([
            &"--backup" as &dyn AsRef<std::ffi::OsStr>,
            &backup,
            &"--out",
            &never,
        ]);
        let o = recover(&all);
        assert!(!never.exists(), "a refused run wrote a key");
        o
    };
    // K−1 shares.
    let o = attempt(&[
        &"--sealed",
        &sealed(1),
        &"--sealed",
        &sealed(3),
        &"--passphrase-file",
        &pass_file,
    ]);
    refused(
        &o,
        &[
            "too few shares",
            &set_id,
            "needs 3 of 5",
            "2 given",
            "bring 1 more",
        ],
    );
    // One character of share 2 mistyped: its checksum names it.
    let mut typo = human(2);
    let pos = typo
        .char_indices()
        .filter(|(_, c)| *c != ' ')
        .nth(40)
        .unwrap()
        .0;
    let was = typo.as_bytes()[pos];
    typo.replace_range(pos..=pos, if was == b'7' { "8" } else { "7" });
    let o = attempt(&[
        &"--share",
        &typo,
        &"--share",
        &human(4),
        &"--share",
        &human(5),
    ]);
    refused(&o, &["--share #1", "checksum does not match"]);
    // A well-formed wrong share (passes its checksum, value changed): the digest refuses.
    let wrong = keyrite_core::shares::testing::with_value_byte_flipped(&open(2), 5, 0x40);
    let o = attempt(&[
        &"--share",
        &wrong.human_form().expose(),
        &"--share",
        &human(4),
        &"--share",
        &human(5),
    ]);
    refused(&o, &["digest mismatch", "shares 2, 4, 5", &set_id]);
    // A wrong passphrase.
    let bad_pass = t.scratch("bad-passphrase.txt");
    std::fs::write(&bad_pass, "not the passphrase\n").unwrap();
    let o = attempt(&[
        &"--sealed",
        &sealed(1),
        &"--sealed",
        &sealed(3),
        &"--sealed",
        &sealed(5),
        &"--passphrase-file",
        &bad_pass,
    ]);
    refused(
        &o,
        &["wrong passphrase", &format!("share 1 of set {set_id}")],
    );
    // A forged backup: wrapped bytes changed and the file's SHA-256 recomputed. RFC 5649's
    // integrity check refuses it.
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let w = lines
        .iter()
        .position(|l| l.starts_with("wrapped: "))
        .unwrap();
    let mut bytes = hex::decode(wrapped).unwrap();
    bytes[20] ^= 1;
    lines[w] = format!("wrapped: {}", hex::encode(bytes));
    lines.pop();
    let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let forged = t.scratch("forged.krbak");
    std::fs::write(
        &forged,
        format!(
            "{body}sha256: {}\n",
            hex::encode(Sha256::digest(body.as_bytes()))
        ),
    )
    .unwrap();
    let o = recover(&[
        &"--sealed",
        &sealed(1),
        &"--sealed",
        &sealed(3),
        &"--sealed",
        &sealed(5),
        &"--passphrase-file",
        &pass_file,
        &"--backup",
        &forged,
        &"--out",
        &never,
    ]);
    refused(&o, &["RFC 5649 unwrap failed its integrity check"]);
    assert!(!never.exists());
}

/// The test vector printed in `docs/recovery-without-keyrite.md` is what Keyrite's own code
/// computes (every pair rebuilds the KEK, the digest, the KCV a SoftHSM2 token gives the KEK,
/// the backup restores under it) and what the reference script computes.
#[test]
#[serial(softhsm)]
fn the_pages_test_vector_is_what_keyrite_and_the_script_compute() {
    use keyrite_core::hsm::backup::{restore_key, KeyBackup};
    use keyrite_core::hsm::policy::PolicySet;
    use keyrite_core::hsm::quirks::Quirks;
    use keyrite_core::hsm::{Pkcs11Module, TokenSelector, TokenSession, UserKind};
    use keyrite_core::secret::SecretBytes;

    let page = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/recovery-without-keyrite.md"),
    )
    .unwrap();
    let section = page
        .split("\n## Test vector\n")
        .nth(1)
        .expect("a Test vector section")
        .split("\n## ")
        .next()
        .unwrap();
    let field = |name: &str| {
        section
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("no \"{name}\" line in the test vector"))
            .trim()
            .to_string()
    };
    let shares: Vec<String> = (1..=3).map(|i| field(&format!("share {i}: "))).collect();
    let (kek, digest, kcv) = (field("KEK: "), field("D: "), field("KCV: "));
    let backup_text = section
        .split("```\n")
        .find(|b| b.starts_with("keyrite-key-backup-v1\n"))
        .expect("the example backup");

    // Keyrite: every pair rebuilds the KEK; the digest is the shares'.
    for pair in [[0, 1], [0, 2], [1, 2]] {
        let r = keyrite_core::shares::verify_set(&[&shares[pair[0]], &shares[pair[1]]])
            .unwrap_or_else(|e| panic!("shares {pair:?}: {e}"));
        assert_eq!(hex::encode(r.secret.expose()), kek, "shares {pair:?}");
        assert_eq!((r.threshold, r.count), (2, 3));
    }
    let one = keyrite_core::shares::verify_one(&shares[0]).unwrap();
    assert_eq!(hex::encode(one.digest()), digest);
    assert_eq!(one.set_id().to_string(), field("set id: ")[..16]);

    // Keyrite on a fresh SoftHSM2 token: the KEK's KCV, and the example backup restores.
    let fresh = tempfile::tempdir().unwrap();
    let dd = DataDir::open_at(fresh.path().join("d")).unwrap();
    let r = RehearsalHsm::ensure(&dd).unwrap();
    let m = Pkcs11Module::load(r.module_path()).unwrap();
    let (so, user) = r.pins().unwrap();
    let sel = TokenSelector::Label(REHEARSAL_TOKEN_LABEL.into());
    let policies = PolicySet::builtin().unwrap();
    let quirks = Quirks::builtin().unwrap();
    let policy = policies.get("root-kek-import").unwrap();
    let staged = {
        let (s, _) = TokenSession::login(&m, &sel, UserKind::So, &so).unwrap();
        keyrite_core::hsm::rootkek::import_root_kek(
            &s,
            policy,
            "keyrite-root-kek",
            SecretBytes::from_slice(&hex::decode(&kek).unwrap()),
            &quirks,
            keyrite_core::hsm::protection::ProtectionRule::Rehearsal,
        )
        .unwrap()
    };
    let (s, _) = TokenSession::login(&m, &sel, UserKind::User, &user).unwrap();
    let ev = keyrite_core::hsm::rootkek::seal_root_kek(&s, policy, staged, &quirks).unwrap();
    assert_eq!(ev.kcv.unwrap().value, kcv);
    let backup = KeyBackup::decode("example.krbak", backup_text).expect("Keyrite reads it");
    let restored = restore_key(
        &s,
        "example.krbak",
        &backup,
        &policies,
        "keyrite-root-kek",
        &quirks,
    )
    .expect("Keyrite restores the example backup");
    assert_eq!(restored.spki_sha256.unwrap(), backup.spki_sha256);
    drop(s);
    drop(m);

    // The reference script: shares 1 and 3, the share values, the KCV, the backup.
    let t = TempData::new();
    let file = t.scratch("example.krbak");
    std::fs::write(&file, backup_text).unwrap();
    let o = recover(&[
        &"--share",
        &shares[0],
        &"--share",
        &shares[2],
        &"--backup",
        &file,
    ]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}{}", stderr(&o));
    assert!(out.contains(&format!("digest: {digest} matches")), "{out}");
    assert_eq!(line_value(&out, "kek-kcv: "), kcv);
    assert_eq!(line_value(&out, "spki-sha256: "), backup.spki_sha256);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/recover-reference");
    for (i, text) in shares.iter().enumerate() {
        let o = Command::new(python())
            .current_dir(&script)
            .args([
                "-B",
                "-c",
                "import recover, sys; print(recover.parse_share(sys.argv[1], 'x').y.hex())",
                text,
            ])
            .output()
            .unwrap();
        assert_eq!(
            stdout(&o).trim(),
            field(&format!("y{}: ", i + 1)),
            "{}",
            stderr(&o)
        );
    }
}
