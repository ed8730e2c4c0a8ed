//! Share cards printed through a real CUPS queue: a private `cupsd` (keyrite_testkit::cups) with a
//! raw queue whose backend copies each job to a folder. hsm-initialisation and
//! root-key-generation run in rehearsal with a site profile naming that queue; every
//! custodian's card arrives as a PDF whose text (`pdftotext`) names the custodian and the set,
//! whose QR code (`zbarimg`) is that custodian's share, and the journal keeps the queue, the
//! job id and the card's SHA-256 — never the share. A queue CUPS does not know is the step's
//! exception, with the queue and lp's message. The CUPS client module is also driven directly.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_core::journal::{Event, Journal};
use keyrite_core::printing::{LpCommand, PrintError, Spooler};
use keyrite_core::shares::Share;
use keyrite_testkit::ceremony::{answers, script};
use keyrite_testkit::cups::PrivateCups;
use keyrite_testkit::{keyrite_with_env, stderr, stdout, TempData};
use serde_json::Value;
use serial_test::serial;
use sha2::{Digest, Sha256};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const QUEUE: &str = "keyrite-cards";

fn start_cups() -> PrivateCups {
    let cups = PrivateCups::start().unwrap_or_else(|why| panic!("the private cupsd: {why}"));
    cups.add_raw_queue(QUEUE)
        .unwrap_or_else(|why| panic!("adding queue {QUEUE}: {why}\n{}", cups.logs()));
    cups
}

fn profile(dir: &Path, queue: &str) -> PathBuf {
    let p = dir.join("site.toml");
    std::fs::write(
        &p,
        format!(
            "version = 1\n[site]\nname = \"Print lab\"\nmode = \"rehearsal\"\n[hsm]\n\
             token_label = \"keyrite-rehearsal\"\n[printing]\nshare_cards = \"{queue}\"\n"
        ),
    )
    .unwrap();
    p
}

/// Runs the two ceremonies; the root-key-generation output.
fn ceremonies(t: &TempData, cups: &PrivateCups, queue: &str) -> (bool, String) {
    let data = t.path();
    let ans = answers(t.tmp.path());
    let profile = profile(t.tmp.path(), queue);
    let server = cups.server();
    let env = [("CUPS_SERVER", server.to_str().unwrap())];
    let mut last = (false, String::new());
    for name in ["hsm-initialisation", "root-key-generation"] {
        let o = keyrite_with_env(
            &data,
            &[
                "--profile",
                profile.to_str().unwrap(),
                "ceremony",
                "run",
                script(name).to_str().unwrap(),
                "--answers",
                ans.to_str().unwrap(),
            ],
            &env,
        );
        let text = format!("{}{}", stdout(&o), stderr(&o));
        if name == "hsm-initialisation" {
            assert!(o.status.success(), "{name}: {text}");
        }
        last = (o.status.success(), text);
    }
    last
}

fn bodies(data: &Path) -> Vec<Value> {
    let j = Journal::open_read_only(&data.join("journal.sqlite"), &Default::default()).unwrap();
    (0..j.head().size)
        .map(|i| j.entry(i).unwrap().body_json().unwrap())
        .collect()
}

fn tool(cmd: &mut Command) -> String {
    let o = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        o.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

#[test]
#[serial(softhsm)]
fn root_key_generation_prints_every_card_on_the_sites_cups_queue() {
    let cups = start_cups();
    let t = TempData::new();
    let (ok, out) = ceremonies(&t, &cups, QUEUE);
    assert!(ok, "root-key-generation: {out}");
    assert!(
        out.contains("completed: 8 steps completed, 0 skipped, 0 exceptions"),
        "{out}"
    );
    let jobs = cups
        .wait_for_jobs(5, Duration::from_secs(60))
        .unwrap_or_else(|why| panic!("printed jobs: {why}"));
    assert_eq!(jobs.len(), 5, "{jobs:?}");

    // What the journal says: the set's fingerprints, and per share the printed card.
    let bodies = bodies(&t.path());
    let created = bodies
        .iter()
        .find_map(|b| match serde_json::from_value(b["event"].clone()).ok()? {
            Event::ShareSetCreated {
                set_id,
                share_fingerprints,
                ..
            } => Some((set_id, share_fingerprints)),
            _ => None,
        })
        .expect("share_set_created");
    let (set_id, fingerprints) = created;
    let printed: Vec<(u8, String, Value)> = bodies
        .iter()
        .filter(|b| b["event"]["type"] == "share_distributed")
        .map(|b| {
            (
                u8::try_from(b["event"]["index"].as_u64().unwrap()).unwrap(),
                b["event"]["custodian_id"].as_str().unwrap().to_string(),
                b["details"]["printed_card"].clone(),
            )
        })
        .collect();
    assert_eq!(printed.len(), 5, "{printed:?}");
    let names = ["C One", "C Two", "C Three", "C Four", "C Five"];
    let journal_text: String = bodies.iter().map(Value::to_string).collect();
    for (index, custodian, card) in &printed {
        assert_eq!(card["queue"], QUEUE, "{card}");
        let job_id = card["job_id"].as_str().unwrap();
        let n = job_id
            .strip_prefix(&format!("{QUEUE}-"))
            .unwrap_or_else(|| panic!("job id {job_id}"));
        let pdf_path = cups.jobs_dir().join(format!("job-{n}.pdf"));
        let pdf = std::fs::read(&pdf_path).unwrap();
        assert!(pdf.starts_with(b"%PDF-"), "job {job_id} is not a PDF");
        // The bytes CUPS delivered are the card the journal names.
        assert_eq!(
            card["card_sha256"].as_str().unwrap(),
            hex::encode(Sha256::digest(&pdf)),
            "{job_id}"
        );

        let text = tool(Command::new("pdftotext").arg(&pdf_path).arg("-"));
        let name = names[usize::from(*index) - 1];
        assert!(
            text.contains(&format!("Custodian: {name} ({custodian})")),
            "{job_id}: {text}"
        );
        assert!(text.contains("Tamper-evident bag number"), "{text}");
        assert!(text.contains("REHEARSAL — SOFTWARE HSM"), "{text}");

        let png = cups.jobs_dir().join(format!("job-{n}"));
        tool(
            Command::new("pdftoppm")
                .args(["-r", "150", "-png", "-singlefile"])
                .arg(&pdf_path)
                .arg(&png),
        );
        let decoded = tool(
            Command::new("zbarimg")
                .arg("--quiet")
                .arg(png.with_extension("png")),
        );
        let payload = decoded
            .trim()
            .strip_prefix("QR-Code:")
            .unwrap_or_else(|| panic!("one QR code: {decoded}"));
        let canonical = payload
            .strip_prefix("KEYRITE-SHARE:")
            .unwrap_or_else(|| panic!("{payload}"));
        let share = Share::from_qr_payload(payload, None).unwrap();
        assert_eq!(share.canonical_text().expose(), canonical);
        assert_eq!(share.index(), *index);
        assert_eq!(share.set_id().to_string(), set_id);
        assert_eq!(
            share.fingerprint().hex(),
            fingerprints[usize::from(*index) - 1],
            "the card of {custodian} carries the share recorded at share_set_created"
        );
        assert!(
            text.contains(&format!("Share set: {}", share.set_id().words())),
            "{text}"
        );
        // The journal keeps the job, never the share.
        assert!(!journal_text.contains(canonical), "share {index} journaled");
        let human = share.human_form();
        assert!(
            !journal_text.contains(human.expose()),
            "share {index} journaled"
        );
    }
    // The step's result shows each printed card.
    assert!(
        out.contains(&format!(
            "printed for custodian-1 on queue {QUEUE}, job {QUEUE}-"
        )),
        "{out}"
    );
    // PreserveJobFiles No: CUPS kept no copy of a card in its spool.
    let kept: Vec<_> = std::fs::read_dir(cups.spool_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('d'))
        .collect();
    assert!(
        kept.is_empty(),
        "document files left in the spool: {kept:?}"
    );
}

#[test]
#[serial(softhsm)]
fn a_queue_cups_does_not_know_is_the_steps_exception_naming_it() {
    let cups = start_cups();
    let t = TempData::new();
    let (ok, out) = ceremonies(&t, &cups, "no-such-queue");
    assert!(!ok, "{out}");
    assert!(
        out.contains(
            "happened: the share card of custodian-1 was not printed: printing on queue \
             \"no-such-queue\" failed: lp failed (exit status: 1): lp: Error - The printer or \
             class does not exist."
        ),
        "{out}"
    );
    let bodies = bodies(&t.path());
    assert!(
        !bodies
            .iter()
            .any(|b| b["event"]["type"] == "share_distributed"),
        "a share was journaled as handed out although its card did not print"
    );
}

fn fake_lp(dir: &Path, body: &str) -> LpCommand {
    let p = dir.join("lp");
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    LpCommand {
        program: p,
        server: None,
        timeout: keyrite_core::printing::LP_TIMEOUT,
    }
}

#[test]
fn the_cups_client_module_reads_lps_answer_and_its_failures() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    // The document arrives on stdin, with the queue and the title as arguments.
    let lp = fake_lp(
        dir.path(),
        &format!("echo \"$@\" > {d}/args; cat > {d}/doc; echo 'request id is cards-7 (0 file(s))'"),
    );
    let job = lp
        .print("cards", "Keyrite share card", b"%PDF-1.7 x")
        .unwrap();
    assert_eq!(job.job_id, "cards-7");
    assert_eq!(job.queue, "cards");
    assert_eq!(
        std::fs::read(dir.path().join("doc")).unwrap(),
        b"%PDF-1.7 x"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("args")).unwrap(),
        "-d cards -t Keyrite share card -\n"
    );
    // A failing lp: its exit status and its message, with the queue.
    let lp = fake_lp(
        dir.path(),
        "cat > /dev/null; echo 'lp: Error - The printer or class does not exist.' >&2; exit 1",
    );
    let e: PrintError = lp.print("cards", "t", b"x").unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "printing on queue \"cards\" failed: {} failed (exit status: 1): lp: Error - The \
             printer or class does not exist.",
            lp.program.display()
        )
    );
    // An lp that says nothing about a request id did not print.
    let lp = fake_lp(dir.path(), "cat > /dev/null");
    let e = lp.print("cards", "t", b"x").unwrap_err();
    assert!(e.to_string().contains("gave no request id"), "{e}");
    // An lp that hangs is stopped at the timeout, with what to check before printing again.
    // `exec`: the stand-in is one process, as lp is.
    let mut lp = fake_lp(dir.path(), "exec sleep 30");
    lp.timeout = Duration::from_millis(300);
    let started = std::time::Instant::now();
    let e = lp.print("cards", "t", b"x").unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        e.to_string(),
        format!(
            "printing on queue \"cards\" failed: {} did not finish within 300ms and was stopped; \
             the job may or may not be queued: check with `lpstat -o` and cancel it before \
             printing again",
            lp.program.display()
        )
    );
    // A queue name that is not one is refused before anything runs.
    let e = lp.print("-q", "t", b"x").unwrap_err();
    assert!(
        e.problem.to_string().starts_with("print queue name \"-q\""),
        "{e}"
    );
}

#[test]
#[serial(cups)]
fn the_cups_client_module_prints_on_a_real_queue() {
    let cups = start_cups();
    let lp = LpCommand {
        program: "lp".into(),
        server: Some(cups.server()),
        timeout: keyrite_core::printing::LP_TIMEOUT,
    };
    let job = lp.print(QUEUE, "direct", b"%PDF-1.7 direct").unwrap();
    assert!(job.job_id.starts_with(&format!("{QUEUE}-")), "{job:?}");
    let jobs = cups.wait_for_jobs(1, Duration::from_secs(30)).unwrap();
    assert_eq!(std::fs::read(&jobs[0]).unwrap(), b"%PDF-1.7 direct");
    let e = lp.print("nowhere", "direct", b"x").unwrap_err();
    assert_eq!(
        e.to_string(),
        "printing on queue \"nowhere\" failed: lp failed (exit status: 1): lp: Error - The \
         printer or class does not exist."
    );
}
