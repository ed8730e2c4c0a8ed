//! A custodian in the room presents one share of the set being recovered, in any of the
//! forms the ceremonies issue: typed or scanned from the card (human form, any case, or the
//! QR payload `KEYRITE-SHARE:…` a scanner types), the passphrase-sealed file and its
//! passphrase, or the file sealed to their YubiKey, opened by the card and PIN.
//!
//! Every check runs before the share is kept, and none touches the token or the journal: a
//! refused share leaves both as they were. Refusals name the custodian, the share number and
//! the cause, never the share (the share errors never contain share bytes either); they are
//! listed on the prompt and journaled as `approval_refused` when the step ends.

use super::RecoveryRun;
use crate::engine::error::EngineError;
use crate::engine::prompt::{Participant, ShareProof};
use crate::engine::run::CeremonyRun;
use crate::inventory::custodians as register;
use crate::operations::open_sealed_share;
use crate::script::Role;
use crate::secret::{SecretBytes, SecretText};
use crate::shares::seal::open_with_passphrase;
use crate::shares::Share;

/// Why a presented share could not be opened (the refusal's cause; never share bytes).
#[derive(Debug, thiserror::Error)]
enum Unopened {
    /// The typed or scanned text is not a share.
    #[error(transparent)]
    Text(#[from] crate::shares::ShareError),
    /// The passphrase-sealed file did not open.
    #[error(transparent)]
    Sealed(#[from] crate::shares::seal::SealError),
    /// The passphrase-sealed file could not be read.
    #[error("cannot read the sealed file {}: {source}", file.display())]
    ReadSealed {
        file: std::path::PathBuf,
        source: std::io::Error,
    },
    /// The journal records no share with this number.
    #[error("share {0} was not issued")]
    NotIssued(u8),
    /// The share was not sealed to a YubiKey.
    #[error(
        "share {0} is not sealed to a YubiKey; type it from the card or give its sealed file \
         and passphrase"
    )]
    NotSealedToCard(u8),
    /// The custodian register could not be read.
    #[error(transparent)]
    Register(#[from] crate::inventory::InventoryError),
    /// The holder is not an active enrolled custodian.
    #[error("{0} is not an active enrolled custodian")]
    NotActive(String),
    /// The YubiKey-sealed share file could not be read.
    #[error("cannot read the sealed share of {name} at {file}: {source}")]
    ReadCardShare {
        name: String,
        file: String,
        source: std::io::Error,
    },
    /// The custodian's YubiKey could not be opened.
    #[error(transparent)]
    Card(#[from] crate::custodian::CustodianError),
    /// The card did not open the sealed share.
    #[error(transparent)]
    Open(#[from] crate::operations::OperationError),
}

fn bad<T>(m: String) -> Result<T, EngineError> {
    Err(EngineError::BadAnswer(m))
}

/// The checked-in custodian `who` names: their participant id here (`custodian-2`), their
/// enrolled custodian id (`yk-7001`) or their name.
fn presenter(run: &CeremonyRun, who: &str) -> Result<Participant, EngineError> {
    let who = who.trim();
    let name = match run.participant(who).filter(|p| p.role == Role::Custodian) {
        Some(p) => p.name.clone(),
        None => match register::get(run.journal.store(), who)? {
            Some(c) => c.record.name,
            None => who.to_string(),
        },
    };
    match run
        .participants
        .iter()
        .find(|p| p.role == Role::Custodian && p.name == name)
    {
        Some(p) => Ok(p.clone()),
        None => bad(format!(
            "{name} has not checked in to this ceremony as a custodian: only custodians in the room present shares"
        )),
    }
}

/// Checks and keeps one presented share; rebuilds once K are kept.
pub(in crate::engine) fn present(
    r: &mut RecoveryRun,
    run: &mut CeremonyRun,
    who: &str,
    proof: ShareProof,
) -> Result<(), EngineError> {
    let p = presenter(run, who)?;
    let by = format!("{} ({})", p.name, p.id);
    let mine: Vec<u8> = r
        .issued
        .iter()
        .filter(|i| i.name == p.name)
        .map(|i| i.index)
        .collect();
    let Some(&first) = mine.first() else {
        return bad(format!(
            "{by} was issued no share of set {}: the journal records none handed out to them; nothing was opened",
            r.set_id
        ));
    };
    if r.opened.iter().any(|(_, s)| mine.contains(&s.index())) {
        return bad(format!(
            "{by} has already presented their share: each custodian counts once"
        ));
    }
    let issued_words = mine
        .iter()
        .map(u8::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    // Until the share is read, the share number is the one the journal says they hold.
    let refused = |r: &mut RecoveryRun, index: u8, cause: String| {
        // Sealing errors say "nothing was opened" themselves.
        let tail = if cause.ends_with("nothing was opened") {
            ""
        } else {
            "; nothing was opened"
        };
        let m = format!("share {index} presented by {by} was refused: {cause}{tail}");
        r.failures.push((p.id.clone(), m.clone()));
        Err(EngineError::BadAnswer(m))
    };
    let opened = match proof {
        ShareProof::Text(t) => Share::parse(t.expose(), None).map_err(Unopened::from),
        ShareProof::Sealed { file, passphrase } => match std::fs::read(&file) {
            Ok(bytes) => open_with_passphrase(&bytes, &passphrase).map_err(Unopened::from),
            Err(source) => Err(Unopened::ReadSealed { file, source }),
        },
        ShareProof::YubiKey { pin } => open_on_card(r, run, first, &pin),
    };
    let share = match opened {
        Ok(s) => s,
        Err(cause) => return refused(r, first, cause.to_string()),
    };
    let i = share.index();
    if share.set_id().to_string() != r.set_id {
        let cause = format!(
            "it belongs to set {}, but root KEK \"{}\" is protected by set {}",
            share.set_id(),
            r.kek.label,
            r.set_id
        );
        return refused(r, i, cause);
    }
    if !mine.contains(&i) {
        let cause = format!(
            "the journal records share {issued_words} of set {} issued to {}, not share {i}",
            r.set_id, p.name
        );
        return refused(r, i, cause);
    }
    // The recorded fingerprint ties the share to the one issued, before any combine.
    let recorded = usize::from(i)
        .checked_sub(1)
        .and_then(|n| r.fingerprints.get(n));
    if recorded != Some(&share.fingerprint().hex()) {
        let cause = format!(
            "it does not match the fingerprint recorded when set {} was created; it is not the share issued",
            r.set_id
        );
        return refused(r, i, cause);
    }
    // An enrolled holder keeps their enrolled id in the journal; others their id here.
    let holder = r
        .issued
        .iter()
        .find(|x| x.index == i && x.yubikey_serial.is_some())
        .map(|x| x.holder.clone())
        .unwrap_or(p.id);
    r.opened.push((holder, share));
    Ok(())
}

/// Opens share `index`, sealed to its holder's YubiKey, with the card and `pin`.
fn open_on_card(
    r: &RecoveryRun,
    run: &CeremonyRun,
    index: u8,
    pin: &SecretText,
) -> Result<Share, Unopened> {
    let Some(issued) = r.issued.iter().find(|x| x.index == index) else {
        return Err(Unopened::NotIssued(index));
    };
    let (Some(_), Some(file)) = (issued.yubikey_serial, issued.sealed_file.as_ref()) else {
        return Err(Unopened::NotSealedToCard(index));
    };
    let rec = register::get(run.journal.store(), &issued.holder)?
        .filter(|c| c.retired.is_none())
        .map(|c| c.record)
        .ok_or_else(|| Unopened::NotActive(issued.holder.clone()))?;
    let sealed = std::fs::read(file).map_err(|source| Unopened::ReadCardShare {
        name: rec.name.clone(),
        file: file.clone(),
        source,
    })?;
    let pin = SecretBytes::from_slice(pin.expose().as_bytes());
    let mut card = run.cards().open(rec.yubikey_serial)?;
    Ok(open_sealed_share(card.as_mut(), &rec, &pin, &sealed)?)
}
