//! Share cards on paper: when the site profile names a queue (`[printing] share_cards`), the
//! distribute-share step renders each custodian's card and hands it to CUPS
//! ([`crate::printing`]) on `lp`'s standard input — Keyrite writes no card file. What the
//! journal keeps of it: the queue, CUPS's job id and the card's SHA-256, never the share.

use super::run::CeremonyRun;
use super::step::StepFailure;
use crate::printing::{LpCommand, Spooler};
use crate::profile::Mode;
use crate::record::REHEARSAL_STAMP;
use crate::shares::card::{render_card, CardInfo};
use crate::shares::Share;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The queue share cards go to, if the site prints them.
pub(super) fn queue(run: &CeremonyRun) -> Option<String> {
    run.env
        .profile()
        .printing
        .share_cards
        .as_ref()
        .map(|q| q.as_str().to_string())
}

/// The spooler the ceremony was given, or the CUPS client `lp`.
fn spooler(run: &CeremonyRun) -> &dyn Spooler {
    static LP: std::sync::OnceLock<LpCommand> = std::sync::OnceLock::new();
    match run.options.spooler.as_deref() {
        Some(s) => s,
        None => LP.get_or_init(LpCommand::default),
    }
}

/// Prints the card of `share`, held by `custodian` (`custodian-i`), when the site prints
/// cards: `Ok(None)` when it does not, else the journal's `printed_card` details. A failure
/// names the queue and what `lp` said.
pub(super) fn print(
    run: &CeremonyRun,
    share: &Share,
    custodian: &str,
) -> Result<Option<Value>, StepFailure> {
    let Some(queue) = queue(run) else {
        return Ok(None);
    };
    let name = run
        .participant(custodian)
        .map(|p| p.name.clone())
        .unwrap_or_default();
    let info = CardInfo {
        ceremony_id: run.id.clone(),
        custodian: if name.is_empty() {
            custodian.to_string()
        } else {
            format!("{name} ({custodian})")
        },
        page: crate::pdf::PageSize::A4,
        stamp: (run.env.mode() == Mode::Rehearsal).then(|| REHEARSAL_STAMP.to_string()),
        created_unix: crate::clock::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0),
    };
    let pdf = render_card(share, &info).map_err(|e| {
        StepFailure::refused(format!(
            "the share card of {custodian} could not be rendered: {e}"
        ))
    })?;
    let sha = hex::encode(Sha256::digest(&pdf));
    // The title shows in the queue's job list: the ceremony and the custodian, nothing secret.
    let title = format!("Keyrite share card {} {custodian}", run.id);
    let job = spooler(run).print(&queue, &title, &pdf).map_err(|e| {
        StepFailure::refused(format!(
            "the share card of {custodian} was not printed: {e}"
        ))
    })?;
    Ok(Some(json!({
        "printed_card": {
            "queue": job.queue,
            "job_id": job.job_id,
            "card_sha256": sha,
        }
    })))
}
