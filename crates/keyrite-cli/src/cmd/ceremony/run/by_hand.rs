//! What the interactive CLI offers by hand at its line prompts (`!stop`, `!raise REASON`,
//! `!abort REASON`, the engine's `Ceremony::pause`, `raise_exception`, `abort`), and the
//! pre-start checklist it prints before a new ceremony.

use crate::pin::read_confirmation;
use keyrite_core::engine::Ceremony;
use keyrite_core::script::Script;

/// Said once when an interactive ceremony starts.
pub(super) const BY_HAND_HELP: &str =
    "At any prompt that reads a line you may type: !stop to pause the \
ceremony (run the same command again to resume it), !raise REASON to raise an exception at \
the current step, !abort REASON to abort the ceremony (you are asked to confirm). A PIN or \
share prompt does not read these.";

/// An act by hand typed at a prompt (`!stop`, `!raise REASON`, `!abort REASON`): the `!` and
/// the whole word make it impossible to type by accident while answering.
#[derive(Debug)]
pub(super) enum ByHand {
    Stop,
    Raise(String),
    Abort(String),
}

impl std::fmt::Display for ByHand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ByHand::Stop => "!stop",
            ByHand::Raise(_) => "!raise",
            ByHand::Abort(_) => "!abort",
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
        _ => Err(anyhow::anyhow!(
            "\"!{word}\" is not an act by hand: type !stop, !raise REASON or !abort REASON"
        )),
    })
}

/// Raises an exception or aborts, as typed; an abort is confirmed first.
pub(super) fn by_hand(c: &mut Ceremony, act: ByHand) -> anyhow::Result<()> {
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
        ByHand::Stop => {}
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
        .map_err(|e| e.to_string())
        .and_then(|m| m.tokens().map_err(|e| e.to_string()));
    let selector = env.token_selector();
    let mut lines = vec![format!("Before starting \"{}\":", script.title)];
    for i in keyrite_core::view::checklist(
        script,
        tokens.as_deref().map_err(Clone::clone),
        selector.as_ref(),
    ) {
        let mark = match i.state {
            keyrite_core::view::CheckState::Ready => "READY",
            keyrite_core::view::CheckState::Bring => "CHECK",
            keyrite_core::view::CheckState::Blocked => "BLOCKED",
        };
        lines.push(format!("  [{mark}] {}", i.what));
    }
    lines
}
