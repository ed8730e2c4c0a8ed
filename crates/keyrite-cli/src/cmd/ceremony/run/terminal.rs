//! The terminal's side of an interactive ceremony: how each prompt of the engine is shown,
//! read (PINs and shares without echo, a share's type-back checked by the core), and said
//! when an answers file gives it instead.

use super::by_hand::parse_by_hand;
use crate::pin::{read_confirmation, read_pin, PinSource};
use keyrite_core::engine::answers::AnswerFile;
use keyrite_core::engine::{Answer, Decision, Prompt, ShareProof};
use keyrite_core::shares::typeback::check_typed_back;

pub(super) fn show(p: &Prompt) {
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
pub(super) fn say_insert(p: &Prompt, a: &Answer, f: &AnswerFile) {
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

pub(super) fn ask(p: &Prompt) -> anyhow::Result<Answer> {
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
