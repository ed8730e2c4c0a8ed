//! The HSM actions runner: `hsm-init`, `generate-key`, `generate-and-split-root-kek`,
//! `backup`, `checkpoint` and `sign-record`. Every HSM change is bracketed by
//! `action_intent` and `action_done`; outputs are journaled before the engine moves on.
//! Its only state of its own is waiting for the PINs of `hsm-init`: the current SO PIN of a
//! token that has one, then the new SO and user PINs.

use super::anchor;
use super::context::HsmContext;
use super::error::EngineError;
use super::keyops::{backup, certify_record_signing};
use super::run::CeremonyRun;
use super::shareset::SetRecord;
use super::step::{need_pin, Failure, Next, StepFailure};
use crate::hsm::init::{init_token_checked, InitTarget};
use crate::hsm::rootkek::{draw_root_kek, import_root_kek, seal_root_kek};
use crate::hsm::{TokenSession, TokenSummary, UserKind};
use crate::journal::Event;
use crate::profile::{Mode, REHEARSAL_TOKEN_LABEL};
use crate::script::Action;
use crate::secret::SecretText;
use crate::shares::split;
use serde_json::json;

/// What the runner waits for.
pub(super) enum HsmWait {
    /// The new SO and user PINs of `hsm-init`.
    NewPins,
    /// The current SO PIN of the token `hsm-init` initialises (boxed: the token summary is
    /// large beside the other variant).
    CurrentSoPin(Box<CurrentSoPinWait>),
}

/// Waiting for the current SO PIN of `token`.
pub(super) struct CurrentSoPinWait {
    /// The token as it was read before initialisation.
    pub(super) token: TokenSummary,
    /// Why the last PIN given was rejected.
    pub(super) rejected: Option<String>,
}

/// Runs the action as far as it can; `Next::Done` when it finished.
pub(super) fn start(
    run: &mut CeremonyRun,
    hsm: &mut HsmContext,
    action: &Action,
) -> Result<Next<HsmWait>, Failure> {
    crate::timing::phase("hsm-action", || start_untimed(run, hsm, action))
}

fn start_untimed(
    run: &mut CeremonyRun,
    hsm: &mut HsmContext,
    action: &Action,
) -> Result<Next<HsmWait>, Failure> {
    match action {
        Action::HsmInit { token_label } => {
            // Before the PINs are asked and before any PKCS#11 change: never over live keys.
            let target = init_target(run, hsm, token_label)?;
            crate::hsm::sopin::check_reinitialise(
                &target.before,
                hsm.quirks.for_token(&target.before),
            )?;
            if target.before.initialized {
                crate::operations::refuse_reinit_over_live_keys(
                    run.journal.store(),
                    &target.before,
                )
                .map_err(|e| StepFailure::refused(e.to_string()))?;
            }
            // A token that has an SO PIN takes it in C_InitToken: asked apart from the new
            // PINs and tried before anything changes. The embedded rehearsal token's is stored.
            let q = hsm.quirks.for_token(&target.before);
            if !target.embedded
                && hsm.current_so_pin.is_none()
                && crate::hsm::sopin::needs_current_so_pin(&target.before, q)
            {
                return Ok(Next::Wait(HsmWait::CurrentSoPin(Box::new(
                    CurrentSoPinWait {
                        token: target.before,
                        rejected: None,
                    },
                ))));
            }
            if hsm.so_pin.is_none() || hsm.user_pin.is_none() {
                return Ok(Next::Wait(HsmWait::NewPins));
            }
            hsm_init(run, hsm, token_label, target)?;
        }
        Action::GenerateKey { policy, label } => {
            need_pin!(hsm.need(UserKind::User, &format!("generate key \"{label}\"")));
            generate_key(run, hsm, policy, label)?;
        }
        Action::GenerateAndSplitRootKek { label } => {
            need_pin!(hsm.need(UserKind::So, &format!("import the root KEK \"{label}\"")));
            need_pin!(hsm.need(UserKind::User, &format!("seal the root KEK \"{label}\"")));
            root_kek(run, hsm, label)?;
        }
        Action::Backup { key, wrap_key } => {
            need_pin!(hsm.need(UserKind::User, &format!("back up key \"{key}\"")));
            backup(run, hsm, key, wrap_key)?;
        }
        Action::Checkpoint => {
            need_pin!(hsm.need(UserKind::User, "sign a journal checkpoint"));
            anchor::checkpoint(run, hsm)?;
        }
        Action::SignRecord => {
            if run.options.record_producer.is_none() {
                let e = EngineError::NoRecordProducer {
                    step: run.step_id(),
                };
                return Err(StepFailure::engine(Box::new(e)).into());
            }
            need_pin!(hsm.need(UserKind::User, "sign the ceremony record"));
            anchor::sign_record(run, hsm)?;
        }
        _ => {
            return Err(StepFailure::refused(format!(
                "action {} is not an HSM action",
                action.kind()
            ))
            .into())
        }
    }
    Ok(Next::Done)
}

/// The new PINs of `hsm-init` (checked before anything reaches the token): run it again.
pub(super) fn new_pins(
    hsm: &mut HsmContext,
    so: SecretText,
    user: SecretText,
) -> Result<Next<HsmWait>, EngineError> {
    if let Err(e) = crate::hsm::init::check_pins(&so, &user) {
        return Err(EngineError::BadAnswer(e.to_string()));
    }
    hsm.so_pin = Some(so);
    hsm.user_pin = Some(user);
    Ok(Next::Again)
}

/// The current SO PIN of the token to initialise: one SO login tries it before it is kept; a
/// rejected one is dropped and asked for again with why (never sent a second time).
pub(super) fn current_so_pin(
    hsm: &mut HsmContext,
    wait: &mut CurrentSoPinWait,
    pin: SecretText,
) -> Result<Next<HsmWait>, EngineError> {
    if pin.is_empty() {
        return Err(EngineError::BadAnswer(
            "the current SO PIN is empty; nothing was sent to the token".into(),
        ));
    }
    if let Err(e) = crate::hsm::sopin::check_current_so_pin(&hsm.module, &wait.token, &pin) {
        let why = e.to_string();
        wait.rejected = Some(why.clone());
        return Err(EngineError::PinRejected(why));
    }
    hsm.current_so_pin = Some(pin);
    Ok(Next::Again)
}

/// The token an `hsm-init` step initialises, and how.
struct InitPlan {
    embedded: bool,
    target: InitTarget,
    label: String,
    force: bool,
    /// The token as it is before initialisation.
    before: TokenSummary,
    /// The serial of the ceremony's token before initialisation (journaled).
    previous_serial: String,
}

fn init_target(
    run: &CeremonyRun,
    hsm: &HsmContext,
    script_label: &str,
) -> Result<InitPlan, Failure> {
    let embedded =
        run.env.rehearsal().is_some() && hsm.selector.to_string().contains(REHEARSAL_TOKEN_LABEL);
    let (target, label, force, before) = if embedded {
        let (slot, token) = hsm.module.find_token(&hsm.selector)?;
        let label = REHEARSAL_TOKEN_LABEL.to_string();
        (InitTarget::Slot(slot.id()), label, true, token)
    } else if run.env.mode() == Mode::Rehearsal {
        match hsm.module.find_token(&hsm.selector) {
            Ok((slot, token)) => (
                InitTarget::Slot(slot.id()),
                script_label.to_string(),
                true,
                token,
            ),
            // A fresh module: the uninitialised token (the pinned one if the profile pins).
            Err(crate::hsm::HsmError::TokenNotFound { .. }) => {
                let t = crate::hsm::init::select_uninitialised(
                    &hsm.module,
                    Mode::Rehearsal,
                    run.env.profile().hsm.expect.as_ref(),
                )?;
                (
                    InitTarget::Slot(t.slot_id),
                    script_label.to_string(),
                    false,
                    t,
                )
            }
            Err(e) => return Err(StepFailure::from(e).into()),
        }
    } else {
        // Production initialises the token whose pinned identity was checked at start,
        // never "the first free one" (issue 14); it is re-checked after C_InitToken below.
        let Some(e) = run.env.profile().hsm.expect.as_ref() else {
            return Err(StepFailure::refused("production needs hsm.expect in the profile").into());
        };
        let t = crate::hsm::init::select_pinned(&hsm.module, e)?;
        let force = t.initialized;
        (
            InitTarget::Slot(t.slot_id),
            script_label.to_string(),
            force,
            t,
        )
    };
    let previous_serial = before.serial.clone();
    Ok(InitPlan {
        embedded,
        target,
        label,
        force,
        before,
        previous_serial,
    })
}

fn hsm_init(
    run: &mut CeremonyRun,
    hsm: &HsmContext,
    script_label: &str,
    plan: InitPlan,
) -> Result<(), Failure> {
    let InitPlan {
        embedded,
        target,
        label,
        force,
        previous_serial,
        ..
    } = plan;
    run.intent(Some(&label))?;
    let (Some(so), Some(user)) = (hsm.so_pin.as_ref(), hsm.user_pin.as_ref()) else {
        return Err(StepFailure::refused("the new PINs are not known").into());
    };
    // Re-initialising an initialised token needs its current SO PIN; the embedded
    // rehearsal token's is stored in the data directory (the new SO PIN is set below), any
    // other token's was asked for (`current_so_pin`) and init_token_checked sets the new one.
    let current_so = match (embedded, run.env.rehearsal()) {
        (true, Some(r)) => Some(r.pins()?.0),
        _ => None,
    };
    let init_so = current_so.as_ref().unwrap_or(so);
    let pins = crate::hsm::init::InitPins {
        current_so: hsm.current_so_pin.as_ref().filter(|_| !embedded),
        new_so: init_so,
        new_user: user,
    };
    let expected = run.env.profile().hsm.expect.as_ref();
    let t = init_token_checked(
        &hsm.module,
        &target,
        &label,
        &pins,
        force,
        run.env.mode(),
        expected,
        &hsm.quirks,
    )?;
    if let Some(old) = &current_so {
        let s = TokenSession::login(&hsm.module, &hsm.selector, UserKind::So, old)?.0;
        s.raw()
            .set_pin(
                &cryptoki::types::AuthPin::new(old.expose().into()),
                &cryptoki::types::AuthPin::new(so.expose().into()),
            )
            .map_err(|e| s.err("setting the new SO PIN (C_SetPIN)", e))?;
        if let Some(r) = run.env.rehearsal() {
            r.store_pins(so, user)?;
        }
    }
    // init_token_checked re-read the token after C_InitToken and found the pinned identity
    // again (it refuses otherwise): say so, with what was read, in the journal.
    let rechecked = expected.map(|_| {
        json!({"manufacturer": t.manufacturer, "model": t.model, "serial": t.serial,
               "slot": t.slot_id})
    });
    // The profile pinned the slot and C_InitToken assigned the serial: the record tells the
    // officer to pin it, since the next ceremony's identity check needs it.
    let assigned_serial = expected
        .filter(|e| e.serial_assigned_at_init())
        .map(|_| t.serial.clone());
    run.journal.append_with_details(
        Event::HsmTokenInitialised {
            token_serial: t.serial.clone(),
            token_label: t.label.clone(),
            manufacturer: t.manufacturer.clone(),
            model: t.model.clone(),
        },
        json!({"script_label": script_label, "previous_serial": previous_serial,
               "embedded_rehearsal_token": embedded,
               "pinned_identity_rechecked_after_init": rechecked,
               "assigned_serial": assigned_serial}),
    )?;
    run.done_event()?;
    Ok(())
}

fn generate_key(
    run: &mut CeremonyRun,
    hsm: &HsmContext,
    policy: &str,
    label: &str,
) -> Result<(), Failure> {
    let p = hsm.policies.get(policy)?.clone();
    run.intent(Some(label))?;
    let s = hsm.login(UserKind::User)?;
    let ev = crate::hsm::keygen::generate(&s, &p, label, &hsm.quirks)?;
    let serial = s.token().serial.clone();
    drop(s);
    if policy == "record-signing" {
        certify_record_signing(run, hsm, label, &ev.id)?;
    }
    run.journal
        .append(crate::operations::key_generated_event(label, &serial, &ev))?;
    run.register_key(&ev, &p, &serial, None)?;
    run.done_event()?;
    Ok(())
}

fn root_kek(run: &mut CeremonyRun, hsm: &HsmContext, label: &str) -> Result<(), Failure> {
    let Some(t) = run.script.roles.custodians else {
        return Err(StepFailure::refused("the script declares no custodians").into());
    };
    let p = hsm.policies.get("root-kek-import")?.clone();
    run.intent(Some(label))?;
    let s = hsm.login(UserKind::So)?;
    let kek = draw_root_kek(&s)?;
    let set = split(&kek, t.k(), t.n())?;
    let staged = import_root_kek(&s, &p, label, kek, &hsm.quirks, hsm.protection)?;
    let serial = s.token().serial.clone();
    drop(s);
    let u = hsm.login(UserKind::User)?;
    let ev = seal_root_kek(&u, &p, staged, &hsm.quirks)?;
    drop(u);
    let evidence = ev.clone();
    run.journal.append_with_details(
        Event::KeyImported {
            key_id: label.into(),
            label: label.into(),
            cka_id: ev.id.clone(),
            token_serial: serial.clone(),
            algorithm: ev.key.name().into(),
            source: "root KEK drawn from HSM and OS randomness, Shamir-split; host copy zeroized"
                .into(),
        },
        json!({"evidence": ev, "ceremony_id": run.id}),
    )?;
    let fps: Vec<String> = set.shares.iter().map(|s| s.fingerprint().hex()).collect();
    run.journal.append_with_details(
        Event::ShareSetCreated {
            set_id: set.set_id.to_string(),
            protects_key_id: label.into(),
            threshold: t.k(),
            share_count: t.n(),
            share_fingerprints: fps.clone(),
        },
        json!({"ceremony_id": run.id, "set_words": set.set_id.words()}),
    )?;
    run.register_key(&evidence, &p, &serial, Some(&set.set_id.to_string()))?;
    run.done_event()?;
    run.set = Some(SetRecord {
        set_id: set.set_id.to_string(),
        threshold: t.k(),
        count: t.n(),
        fingerprints: fps,
        protects: label.into(),
        ..Default::default()
    });
    run.shares = Some(set);
    Ok(())
}
