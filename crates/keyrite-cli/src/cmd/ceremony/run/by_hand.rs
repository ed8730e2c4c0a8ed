//! What the interactive CLI offers by hand at its line prompts (`!stop`, `!raise REASON`,
//! `!abort REASON`, `!correct SEAT NAME`: the engine's `Ceremony::pause`, `raise_exception`,
//! `abort`, `correct_check_in`), and the pre-start checklist it prints before a new ceremony.

use crate::pin::read_confirmation;
use keyrite_core::engine::Ceremony;
use keyrite_core::script::Script;

/// Said once when an interactive ceremony starts.
pub(super) const BY_HAND_HELP: &str =
    "At any prompt that reads a line you may type: !stop to pause the \
ceremony (run the same command again to resume it), !raise REASON to raise an exception at \
the current step, !abort REASON to abort the ceremony (you are asked to confirm). A PIN or \
share prompt does not read these.
Until the ceremony's first HSM action, !correct SEAT NAME corrects a check-in made under the \
wrong name (e.g. !correct witness-1 Wes Witness; you are asked why).";

/// An act by hand typed at a prompt (`!stop`, `!raise REASON`, `!abort REASON`): the `!` and
/// the whole word make it impossible to type by accident while answering.
#[derive(Debug)]
pub(super) enum ByHand {
    Stop,
    Raise(String),
    Abort(String),
    /// A check-in corrected: the seat (`witness-1`) and the name that belongs there.
    Correct(String, String),
}

impl std::fmt::Display for ByHand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ByHand::Stop => "!stop",
            ByHand::Raise(_) => "!raise",
            ByHand::Abort(_) => "!abort",
            ByHand::Correct(..) => "!correct",
        })
    }
}

impl std::error::Error for ByHand {}

/// The act a typed line asks for, if it starts with `!`.
pub(super) fn parse_by_hand(text: &str) -> Option<anyhow::Result<ByHand>> {
    let rest = text.trim().strip_prefix('!')?;
    let (word, reason) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let reason = reason.trim().to_string();
    Some(match word {
        "stop" => Ok(ByHand::Stop),
        "raise" => Ok(ByHand::Raise(reason)),
        "abort" => Ok(ByHand::Abort(reason)),
        "correct" => match reason.split_once(char::is_whitespace) {
            Some((seat, name)) => Ok(ByHand::Correct(seat.into(), name.trim().into())),
            None => Err(anyhow::anyhow!(
                "!correct needs the seat and the right name: type e.g. !correct witness-1 Wes \
                 Witness"
            )),
        },
        _ => Err(anyhow::anyhow!(
            "\"!{word}\" is not an act by hand: type !stop, !raise REASON, !abort REASON or \
             !correct SEAT NAME"
        )),
    })
}

/// Raises an exception or aborts, as typed; an abort is confirmed first.
pub(super) fn by_hand(c: &mut Ceremony, act: ByHand) -> anyhow::Result<()> {
    if let ByHand::Correct(seat, name) = act {
        let reason = read_confirmation("Why is the check-in corrected? ")?;
        let p = c.correct_check_in(&seat, &name, &reason)?;
        println!("Check-in corrected: {} is {}.", p.id, p.name);
        return Ok(());
    }
    let by = read_confirmation("Your participant id (e.g. administrator-1): ")?;
    match act {
        ByHand::Raise(reason) => {
            c.raise_exception(&by, &reason)?;
        }
        ByHand::Abort(reason) => {
            let yes = read_confirmation(&format!(
                "Abort ceremony {}? It is closed as aborted and cannot be resumed. Type \
                 \"abort\" to confirm, anything else to keep working: ",
                c.id()
            ))?;
            if yes.trim() != "abort" {
                println!("Not aborted: the ceremony goes on.");
                return Ok(());
            }
            c.abort(&by, &reason)?;
        }
        ByHand::Stop | ByHand::Correct(..) => {}
    }
    Ok(())
}

/// The pre-start checklist (the core's, as the window shows it): people, materials, token.
pub(super) fn checklist_lines(
    env: &keyrite_core::environment::Environment,
    script: &Script,
) -> Vec<String> {
    let tokens = env
        .load_module()
        .and_then(|m| m.tokens())
        .map_err(keyrite_core::view::TokensUnreadable::from);
    let selector = env.token_selector();
    let mut lines = vec![format!("Before starting \"{}\":", script.title)];
    for i in keyrite_core::view::checklist(script, tokens.as_deref(), selector.as_ref()) {
        let mark = match i.state {
            keyrite_core::view::CheckState::Ready => "READY",
            keyrite_core::view::CheckState::Bring => "CHECK",
            keyrite_core::view::CheckState::Blocked => "BLOCKED",
        };
        lines.push(format!("  [{mark}] {}", i.what));
    }
    lines
}
