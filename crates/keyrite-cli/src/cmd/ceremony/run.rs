//! `keyrite ceremony run|resume|status`: drives the core engine from the terminal or an
//! answers file.

use crate::cmd::Globals;
use crate::exit;
use crate::output::print_json;
use crate::pin::{read_confirmation, read_pin, PinSource};
use keyrite_core::engine::answers::AnswerFile;
use keyrite_core::engine::{
    history, Answer, Ceremony, CeremonyOptions, Decision, JournalRecordProducer, Progress, Prompt,
    ShareProof,
};
use keyrite_core::journal::Journal;
use keyrite_core::profile::Mode;
use keyrite_core::script::Script;
use keyrite_core::shares::typeback::check_typed_back;
use keyrite_core::store::StoreOptions;
use std::path::Path;
use std::process::ExitCode;

mod by_hand;
use by_hand::{by_hand, checklist_lines, parse_by_hand, ByHand, BY_HAND_HELP};

/// `ceremony run SCRIPT [--answers FILE]`: starts, or resumes the unfinished ceremony of
/// the same script.
pub fn run(globals: &Globals, script: &Path, answers: Option<&Path>) -> anyhow::Result<ExitCode> {
    let script = Script::load(script)?;
    let env = globals.environment()?;
    if answers.is_some() && env.mode() == Mode::Production {
        anyhow::bail!(
            "production ceremony refused: an answers file is refused in production: every \
             answer is given by the people in the room"
        );
    }
    let file = answers.map(AnswerFile::load).transpose()?;
    let journal = Journal::open_data_dir(env.data())?;
    let options = CeremonyOptions {
        unattended: file.is_some(),
        record_producer: Some(Box::new(JournalRecordProducer {
            page_size: keyrite_core::pdf::PageSize::A4,
        })),
        ..Default::default()
    };
    let unfinished = Ceremony::unfinished(&journal)?
        .into_iter()
        .rev()
        .find(|h| h.script_name == script.id.as_str());
    let mut c = match unfinished {
        Some(h) => {
            if h.needs_closing_checkpoint {
                println!(
                    "Resuming ceremony {} (closed {}; signing its closing checkpoint)",
                    h.ceremony_id,
                    h.outcome.as_deref().unwrap_or("-")
                );
            } else {
                println!(
                    "Resuming ceremony {} (step {})",
                    h.ceremony_id,
                    h.current_step.as_deref().unwrap_or("-")
                );
            }
            let c = Ceremony::resume(env, journal, script, &h.ceremony_id, options)?;
            for line in c.resume_plan() {
                println!("Interrupted: {line}");
            }
            c
        }
        None => {
            // Read before the engine takes the environment, printed only once it accepted the
            // start: a refusal (production, a software token) is all a refused run prints.
            let checklist = file.is_none().then(|| checklist_lines(&env, &script));
            let c = Ceremony::start(env, journal, script, options)?;
            for line in checklist.into_iter().flatten() {
                println!("{line}");
            }
            let st = c.status();
            println!("Ceremony {}: {}", st.ceremony_id, st.script_title);
            println!("Script SHA-256: {}", st.script_sha256);
            println!("Script words:   {}", st.script_words);
            c
        }
    };
    if file.is_none() {
        println!("{BY_HAND_HELP}");
    }
    // The result card of a step is printed once, before its first sign-off.
    let mut card_shown: Option<(String, usize)> = None;
    let mut banner_shown = String::new();
    loop {
        let p = c.prompt();
        // Where the ceremony is, whenever that changes (step, share).
        let banner = c.banner().text;
        if banner != banner_shown && !matches!(p, Prompt::Done { .. }) {
            println!("[{banner}]");
            banner_shown = banner;
        }
        if let Prompt::SignOff { step, result, .. } = &p {
            let shown = (step.clone(), result.len());
            if !result.is_empty() && card_shown.as_ref() != Some(&shown) {
                print_result(step, result);
                card_shown = Some(shown);
            }
        }
        if let Prompt::Done { summary } = &p {
            println!(
                "Ceremony {} {}: {} steps completed, {} skipped, {} exceptions",
                summary.ceremony_id,
                summary.outcome,
                summary.steps_completed,
                summary.steps_skipped,
                summary.exceptions
            );
            print_closing(summary);
            return Ok(exit::code(if summary.outcome == "completed" {
                exit::OK
            } else {
                exit::NOT_COMPLETED
            }));
        }
        show(&p);
        let a = match &file {
            Some(f) => {
                let a = f.answer(&p)?;
                say_insert(&p, &a, f);
                a
            }
            None => match ask(&p) {
                Ok(a) => a,
                Err(e) => match e.downcast::<ByHand>() {
                    Ok(ByHand::Stop) => {
                        println!("{}", c.pause()?);
                        return Ok(exit::code(exit::NOT_COMPLETED));
                    }
                    Ok(act) => {
                        if let Err(e) = by_hand(&mut c, act) {
                            eprintln!("keyrite: {e}");
                        }
                        continue;
                    }
                    Err(e) => {
                        eprintln!("keyrite: {e}");
                        continue;
                    }
                },
            },
        };
        match c.answer(a) {
            Ok(Progress::StepCompleted(s)) => println!("Step \"{s}\" completed."),
            Ok(_) => {}
            // The PIN prompt comes again saying why; an answers file then stops (answers.rs).
            Err(keyrite_core::engine::EngineError::PinRejected(_)) if file.is_some() => {}
            Err(
                e @ (keyrite_core::engine::EngineError::BadAnswer(_)
                | keyrite_core::engine::EngineError::Custodian(_)
                | keyrite_core::engine::EngineError::PinRejected(_)),
            ) if file.is_none() => eprintln!("keyrite: {e}"),
            Err(e) => return Err(e.into()),
        }
    }
}

/// The result card: what the step's action did, read aloud before signing.
fn print_result(step: &str, lines: &[keyrite_core::engine::ResultLine]) {
    println!("Result of step \"{step}\" (read aloud, then sign off):");
    let width = lines.iter().map(|l| l.label.len()).max().unwrap_or(0);
    for l in lines {
        println!("  {:<width$}  {}", l.label, l.value);
    }
}

/// The closing checkpoint, for the witness to write on the printed record.
fn print_closing(summary: &keyrite_core::engine::Summary) {
    if let Some(path) = &summary.record_path {
        println!("Record: {path}");
    }
    match (
        &summary.closing_checkpoint,
        &summary.closing_checkpoint_unavailable,
    ) {
        (Some(cp), _) => {
            println!(
                "Closing checkpoint (every entry of the ceremony; the witness writes it on the printed record):"
            );
            println!("  size:       {}", cp.size);
            println!("  root:       {}", cp.root);
            println!("  root words: {}", cp.root_words);
            println!(
                "  signed:     {} by SPKI SHA-256 {}",
                cp.time, cp.signer_fingerprint
            );
            println!("  file:       {}", cp.file);
        }
        (None, Some(why)) => println!("No closing checkpoint was signed: {why}"),
        (None, None) => {}
    }
}

fn show(p: &Prompt) {
    match p {
        Prompt::CheckIn { role, remaining } => println!("Check-in: {remaining} more {role}(s) expected."),
        Prompt::Instructions { step, title, text } => {
            println!("\n== Step {step}: {title} ==\n{}", text.trim())
        }
        Prompt::ConfirmPreflight(r) => {
            for c in &r.checks {
                println!("  [{}] {}", if c.passed { "ok" } else { "FINDING" }, c.reason);
            }
        }
        Prompt::ClockConfirmation { reading, tolerance_seconds } => println!(
            "System clock: {} (tolerance {tolerance_seconds} s)",
            reading.utc
        ),
        Prompt::Pin { who, purpose, rejected, proceed_without } => {
            if let Some(why) = rejected {
                println!("{why}: the rejected PIN was dropped.");
            }
            println!("The {who} PIN is needed to {purpose}.");
            if let Some(then) = proceed_without {
                println!("Without it, Keyrite will {then}.");
            }
        }
        Prompt::NewPins { token } => println!("New SO and user PINs for the token {token}."),
        Prompt::CurrentSoPin { token, rejected } => {
            if let Some(why) = rejected {
                println!("{why}: the rejected PIN was dropped.");
            }
            println!("The current SO PIN of {token} is needed to initialise it (the new PINs come next).");
        }
        Prompt::ShowShare { custodian, custodian_name, index, count, set_words, fingerprint_words, .. } => println!(
            "Share {index} of {count} for {custodian_name} ({custodian}); set: {set_words}; fingerprint: {fingerprint_words}"
        ),
        Prompt::VerifyShare { custodian, custodian_name, index, .. } => {
            println!("{custodian_name} ({custodian}) verifies share {index}.")
        }
        Prompt::SignOff { step, role, remaining, .. } => {
            let role = role.to_string();
            // "an auditor", "an administrator", "a witness": read aloud in the room.
            let article = if role.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
            println!("Step \"{step}\" needs {remaining} more sign-off(s) by {article} {role}.")
        }
        Prompt::ExceptionDecision { exception_id, step, expected, happened, .. } => println!(
            "EXCEPTION {exception_id} in step \"{step}\"\n  expected: {expected}\n  happened: {happened}"
        ),
        Prompt::EnrolYubiKey { custodian, custodian_name, enrolled, count } => println!(
            "Enrolment {} of {count}: {custodian_name} ({custodian}) enrols their YubiKey. Only the custodian types the PINs.",
            enrolled + 1
        ),
        Prompt::ChooseKey { step, operation, candidates } => {
            println!("Step \"{step}\": choose the key to {operation}:");
            for c in candidates {
                println!("  {}  \"{}\"  {}  {}  [{}]", c.key_id, c.label, c.algorithm, c.state, c.fingerprint_words);
            }
        }
        Prompt::Approval(a) => {
            println!("Approval request ({} of key \"{}\"):\n{}", a.operation, a.key_label, a.request_text);
            println!("Request words: {}   ({} of {} approvals)", a.hash_words, a.approved.len(), a.needed);
            for h in &a.holders {
                println!("  {}", holder_line(h));
            }
            for f in &a.failures {
                println!("  failed attempt: {f}");
            }
        }
        Prompt::Done { .. } => {}
    }
}

/// Tells the room which YubiKey to insert before the engine waits for it.
fn say_insert(p: &Prompt, a: &Answer, f: &AnswerFile) {
    match (p, a) {
        (Prompt::SignOff { candidates, .. }, Answer::SignOffWithYubiKey { participant, .. }) => {
            let name = candidates
                .iter()
                .find(|c| &c.id == participant)
                .map(|c| c.name.as_str())
                .unwrap_or_default();
            if let Some(serial) = f.yubikey_serial(name) {
                println!("Insert the YubiKey of {name} (serial {serial}) now.")
            }
        }
        (
            Prompt::VerifyShare {
                custodian_name,
                yubikey_serial: Some(serial),
                ..
            },
            _,
        ) => println!("Insert the YubiKey of {custodian_name} (serial {serial}) now."),
        (Prompt::EnrolYubiKey { custodian_name, .. }, Answer::Enrol { serial, .. }) => {
            println!("Insert the YubiKey of {custodian_name} (serial {serial}) now.")
        }
        (
            Prompt::Approval(ap),
            Answer::PresentShare {
                custodian,
                proof: ShareProof::YubiKey { .. },
            },
        ) => {
            let holder = ap
                .holders
                .iter()
                .find(|h| h.custodian.as_ref() == Some(custodian));
            if let Some((name, serial)) = holder.and_then(|h| Some((&h.name, h.yubikey_serial?))) {
                println!("Insert the YubiKey of {name} (serial {serial}) now.")
            }
        }
        (Prompt::Approval(ap), Answer::Approve { custodian_id, .. }) => {
            if let Some(c) = ap
                .candidates
                .iter()
                .find(|c| &c.custodian_id == custodian_id)
            {
                println!(
                    "Insert the YubiKey of {} (serial {}) now.",
                    c.name, c.yubikey_serial
                )
            }
        }
        _ => {}
    }
}

/// Clears the screen *and* the terminal's scrollback once a share has been shown: clearing
/// the screen alone (`ESC [2J`) leaves the share one scroll away. The sequence is the one
/// `clear` sends (home, erase display, erase saved lines `ESC [3J`), flushed at once so the
/// share is gone before the next prompt rather than at the next newline.
fn clear_screen() {
    use std::io::Write;
    let mut out = std::io::stdout();
    let _ = out.write_all(b"\x1b[H\x1b[2J\x1b[3J");
    let _ = out.flush();
}

/// One typed line; a line starting with `!` is an act by hand, handed to the loop.
fn line(prompt: &str) -> anyhow::Result<String> {
    let text = read_confirmation(prompt)?;
    match parse_by_hand(&text) {
        Some(act) => Err(act?.into()),
        None => Ok(text),
    }
}

fn ask(p: &Prompt) -> anyhow::Result<Answer> {
    Ok(match p {
        Prompt::CheckIn { role, .. } => Answer::CheckIn {
            name: line(&format!("Name of the {role}: "))?,
            role: *role,
            credential_fingerprint: None,
        },
        Prompt::Instructions { .. } | Prompt::ConfirmPreflight(_) => {
            let t = line("Type \"yes\" to proceed: ")?;
            if t != "yes" {
                anyhow::bail!("type yes to proceed");
            }
            Answer::Proceed
        }
        Prompt::ClockConfirmation { .. } => Answer::Clock {
            witness: line("Witness participant id (e.g. witness-1): ")?,
            reference: line("Reference clock used: ")?,
            offset_seconds: line("System clock minus reference, seconds: ")?
                .trim()
                .parse()
                .map_err(|_| anyhow::anyhow!("the offset must be a whole number of seconds"))?,
        },
        Prompt::Pin {
            who,
            proceed_without: Some(_),
            ..
        } => {
            // Asked first, on a line: an empty PIN is refused before the engine sees it.
            if line(&format!("Give the {who} PIN now? (yes/no): "))?.trim() != "yes" {
                return Ok(Answer::Proceed);
            }
            Answer::Pin(read_pin(PinSource::Terminal, &format!("{who} PIN"))?)
        }
        Prompt::Pin { who, .. } => {
            Answer::Pin(read_pin(PinSource::Terminal, &format!("{who} PIN"))?)
        }
        Prompt::CurrentSoPin { token, .. } => Answer::CurrentSoPin(read_pin(
            PinSource::Terminal,
            &format!("current SO PIN of {token}"),
        )?),
        Prompt::NewPins { .. } => {
            let so = crate::pin::read_new_pin(PinSource::Terminal, "SO PIN")?;
            let user = crate::pin::read_new_pin(PinSource::Terminal, "user PIN")?;
            Answer::NewPins { so, user }
        }
        Prompt::ShowShare {
            human_form, index, ..
        } => {
            line("Only the custodian looks at the screen. Press Enter to show the share: ")?;
            println!("\n    {}\n", human_form.expose());
            // The same check as the desktop's: the copy is proven before the share leaves
            // the screen; a mismatch asks again with the share shown again.
            let typed = read_pin(
                PinSource::Terminal,
                "the last two groups of your copy (type-back check)",
            )?;
            if let Err(e) = check_typed_back(human_form, &typed, *index) {
                clear_screen();
                return Err(e.into());
            }
            let seal = line("Also seal it to a passphrase file? (yes/no): ")? == "yes";
            let pass = if seal {
                Some(crate::pin::read_new_pin(
                    PinSource::Terminal,
                    "share passphrase",
                )?)
            } else {
                None
            };
            line("Press Enter when the share is copied; the screen is cleared: ")?;
            clear_screen();
            Answer::ShareHandled {
                shown: true,
                seal_passphrase: pass,
            }
        }
        Prompt::VerifyShare {
            yubikey_serial: Some(serial),
            custodian_name,
            ..
        } => {
            println!("Insert the YubiKey of {custodian_name} (serial {serial}) now.");
            Answer::ShareProof(ShareProof::YubiKey {
                pin: read_pin(PinSource::Terminal, "YubiKey PIN")?,
            })
        }
        Prompt::VerifyShare { sealed_file, .. } => match sealed_file {
            Some(f) => Answer::ShareProof(ShareProof::Sealed {
                file: f.clone(),
                passphrase: read_pin(PinSource::Terminal, "share passphrase")?,
            }),
            None => Answer::ShareProof(ShareProof::Text(read_pin(
                PinSource::Terminal,
                "share (typed, not shown)",
            )?)),
        },
        Prompt::SignOff { candidates, .. } => {
            for c in candidates {
                println!("  {}: {}", c.id, c.name);
            }
            let participant = line("Participant id signing off: ")?;
            if line("Sign with your enrolled YubiKey? (yes/no): ")? == "yes" {
                println!("Insert your YubiKey now.");
                Answer::SignOffWithYubiKey {
                    participant,
                    pin: read_pin(PinSource::Terminal, "YubiKey PIN")?,
                }
            } else {
                Answer::SignOff {
                    participant,
                    signature_sha256: None,
                }
            }
        }
        Prompt::ExceptionDecision { .. } => {
            let Some(decision) = Decision::from_name(&line("Decision (retry/skip/abort): ")?)
            else {
                anyhow::bail!("answer retry, skip or abort");
            };
            Answer::Decide {
                decision,
                decided_by: line("Participant ids deciding (comma-separated): ")?
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect(),
                reason: line("Reason: ")?,
            }
        }
        Prompt::EnrolYubiKey { custodian_name, .. } => {
            line(&format!(
                "{custodian_name}: insert your YubiKey, then press Enter: "
            ))?;
            let cards = keyrite_core::custodian::list_cards()?;
            let serial = match cards.as_slice() {
                [one] => one.serial,
                _ => line("Several keys are inserted; serial of yours: ")?
                    .trim()
                    .parse()
                    .map_err(|_| anyhow::anyhow!("a YubiKey serial is a number"))?,
            };
            println!("YubiKey serial {serial}: compare it with the number printed on the key.");
            let current_pin =
                read_pin(PinSource::Terminal, "current YubiKey PIN (new key: 123456)")?;
            let new_pin = crate::pin::read_new_pin(PinSource::Terminal, "YubiKey PIN")?;
            let current_puk = read_pin(PinSource::Terminal, "current PUK (new key: 12345678)")?;
            let new_puk = crate::pin::read_new_pin(PinSource::Terminal, "PUK")?;
            Answer::Enrol {
                serial,
                current_pin,
                new_pin,
                current_puk,
                new_puk,
                touch: false,
            }
        }
        Prompt::ChooseKey { .. } => Answer::ChooseKey {
            key_id: line("Key id: ")?.trim().to_string(),
        },
        Prompt::Approval(a) if !a.holders.is_empty() => ask_share(a)?,
        Prompt::Approval(a) => {
            for c in &a.candidates {
                println!(
                    "  {}: {} (YubiKey {}){}",
                    c.custodian_id,
                    c.name,
                    c.yubikey_serial,
                    if c.checked_in {
                        ""
                    } else {
                        " — not checked in"
                    }
                );
            }
            let id = line("Custodian id approving (empty: no more approvals): ")?;
            if id.trim().is_empty() {
                return Ok(Answer::SubmitApprovals);
            }
            let Some(c) = a.candidates.iter().find(|c| c.custodian_id == id.trim()) else {
                anyhow::bail!("{} is not among the custodians listed", id.trim());
            };
            println!(
                "Insert the YubiKey of {} (serial {}) now.",
                c.name, c.yubikey_serial
            );
            Answer::Approve {
                custodian_id: c.custodian_id.clone(),
                pin: read_pin(PinSource::Terminal, "YubiKey PIN")?,
            }
        }
        Prompt::Done { .. } => anyhow::bail!("the ceremony is closed"),
    })
}

/// One issued share of the set being recovered, as the room reads it (no secret in it).
fn holder_line(h: &keyrite_core::engine::ShareHolder) -> String {
    let kind = match (h.yubikey_serial, &h.sealed_file, h.shown) {
        (Some(serial), _, _) => format!("sealed to YubiKey {serial}"),
        (None, Some(f), true) => format!("card, or sealed file {f}"),
        (None, Some(f), false) => format!("sealed file {f}"),
        (None, None, _) => "card".to_string(),
    };
    format!(
        "share {}: {} ({}) — {kind}{}",
        h.index,
        h.name,
        h.custodian.as_deref().unwrap_or("not checked in"),
        if h.presented { " — presented" } else { "" }
    )
}

/// Recovery: a custodian presents a share in the form they hold it. The share and the
/// passphrase are read without echo, like PINs; a barcode scanner typing the card's QR
/// payload (`KEYRITE-SHARE:…`) into the same hidden prompt works too.
fn ask_share(a: &keyrite_core::engine::ApprovalPrompt) -> anyhow::Result<Answer> {
    let id = line("Custodian id presenting a share (empty: no more shares): ")?;
    let id = id.trim();
    if id.is_empty() {
        return Ok(Answer::SubmitApprovals);
    }
    let Some(h) = a
        .holders
        .iter()
        .find(|h| h.custodian.as_deref() == Some(id) && !h.presented)
    else {
        anyhow::bail!("{id} is not among the custodians listed with a share to present");
    };
    let custodian = id.to_string();
    if let Some(serial) = h.yubikey_serial {
        println!("Insert the YubiKey of {} (serial {serial}) now.", h.name);
        let pin = read_pin(PinSource::Terminal, "YubiKey PIN")?;
        return Ok(Answer::PresentShare {
            custodian,
            proof: ShareProof::YubiKey { pin },
        });
    }
    let how = line("Type or scan the share from the card (c), or open the sealed file (f)? ")?;
    let proof = match how.trim() {
        "c" => ShareProof::Text(read_pin(
            PinSource::Terminal,
            "share (typed or scanned, not shown)",
        )?),
        "f" => {
            let given = line(&format!(
                "Sealed file [{}]: ",
                h.sealed_file.as_deref().unwrap_or("")
            ))?;
            let file = match (given.trim(), &h.sealed_file) {
                ("", Some(f)) => f.into(),
                ("", None) => anyhow::bail!("give the sealed file's path"),
                (g, _) => g.into(),
            };
            ShareProof::Sealed {
                file,
                passphrase: read_pin(PinSource::Terminal, "share passphrase")?,
            }
        }
        _ => anyhow::bail!("answer c (card) or f (sealed file)"),
    };
    Ok(Answer::PresentShare { custodian, proof })
}

/// `ceremony status [--json]`.
pub fn status(globals: &Globals, json: bool) -> anyhow::Result<ExitCode> {
    let env = globals.environment()?;
    let journal = Journal::open_read_only(&env.data().journal_db(), &StoreOptions::default())?;
    let h = history(&journal)?;
    if json {
        print_json(&h)?;
        return Ok(ExitCode::SUCCESS);
    }
    if h.is_empty() {
        println!("No ceremonies in the journal.");
    }
    for c in h {
        println!(
            "{}  {}  {}  {} steps completed{}",
            c.ceremony_id,
            c.script_name,
            c.outcome.as_deref().unwrap_or("UNFINISHED"),
            c.steps_completed.len(),
            c.current_step
                .map(|s| format!(", at step {s}"))
                .unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}
