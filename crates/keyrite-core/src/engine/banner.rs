//! Where the ceremony is, in one line both faces show on every screen: the mode, the script,
//! "Step 4 of 8 · title" and, while shares are handed out or verified, "share 2 of 5 · name".
//! Written here once so that the window's banner and the CLI's line say the same words.

use super::machine::Phase;
use super::prompt::Prompt;
use super::Ceremony;
use crate::profile::Mode;
use serde::Serialize;
use ts_rs::TS;

/// The sticky banner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct Banner {
    /// Rehearsal or production.
    pub mode: Mode,
    /// `REHEARSAL` or `PRODUCTION`, as shown.
    pub mode_label: String,
    /// The script's title.
    pub script_title: String,
    /// "Step 4 of 8 · Generate the root KEK", "Check-in before step 1 of 8", or none once
    /// the ceremony is closed.
    pub step: Option<String>,
    /// "share 2 of 5 · C Two" while a share is handed out or verified.
    pub share: Option<String>,
    /// The whole line, parts joined by " · " (the CLI prints it).
    pub text: String,
}

impl Ceremony {
    /// Where the ceremony is now, for the banner.
    pub fn banner(&self) -> Banner {
        let e = &self.st;
        let run = &e.run;
        let count = run.script.steps.len();
        let step = match &e.phase {
            Phase::Done(_) | Phase::Closing => None,
            Phase::CheckIn => Some(format!("Check-in before step 1 of {count}")),
            _ => run
                .current()
                .map(|s| format!("Step {} of {count} · {}", run.step + 1, s.title)),
        };
        let of = run.set.as_ref().map(|s| s.count);
        let share = match e.prompt() {
            Prompt::ShowShare {
                index,
                count,
                custodian_name,
                ..
            } => Some(format!("share {index} of {count} · {custodian_name}")),
            Prompt::VerifyShare {
                index,
                custodian_name,
                ..
            } => Some(match of {
                Some(n) => format!("share {index} of {n} · {custodian_name}"),
                None => format!("share {index} · {custodian_name}"),
            }),
            _ => None,
        };
        let mode = run.env.mode();
        let mode_label = mode.to_string().to_uppercase();
        let mut parts = vec![mode_label.clone(), run.script.title.clone()];
        parts.extend(step.clone());
        parts.extend(share.clone());
        Banner {
            mode,
            mode_label,
            script_title: run.script.title.clone(),
            step,
            share,
            text: parts.join(" · "),
        }
    }
}
