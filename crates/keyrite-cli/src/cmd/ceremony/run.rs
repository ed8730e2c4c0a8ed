//! `keyrite ceremony run|resume|status`: drives the core engine from the terminal or an
//! answers file.

use crate::cmd::Globals;
use crate::exit;
use crate::output::print_json;
use keyrite_core::engine::answers::AnswerFile;
use keyrite_core::engine::{
    history, Ceremony, CeremonyOptions, JournalRecordProducer, Progress, Prompt,
};
use keyrite_core::journal::Journal;
use keyrite_core::profile::Mode;
use keyrite_core::script::Script;
use keyrite_core::store::StoreOptions;
use std::path::Path;
use std::process::ExitCode;

mod by_hand;
mod terminal;
use by_hand::{by_hand, checklist_lines, ByHand, BY_HAND_HELP};
use terminal::{ask, say_insert, show};

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
