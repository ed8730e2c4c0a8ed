//! `keyrite hsm init|backup|restore|destroy`: the commands that change a token.
//!
//! Each one runs through `keyrite_core::operations::admin`, which refuses it in production
//! (the change belongs to a ceremony) and on a hardware token, and journals it in rehearsal.
//! The face only gathers options, PINs and the typed confirmation, and prints.

use super::context::{open, selector, TokenArgs};
use super::keys::{print_evidence, print_login};
use crate::cmd::Globals;
use crate::pin::{read_confirmation, read_new_pin, read_pin, PinSource};
use keyrite_core::hsm::session::token_name;
use keyrite_core::hsm::KeyBackup;
use keyrite_core::hsm::UserKind;
use keyrite_core::journal::Journal;
use keyrite_core::operations::admin::{self, AdminCommand, InitChoice, InitPins};
use keyrite_core::profile::Mode;
use keyrite_core::store::StoreOptions;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The data directory's journal, where every token change is recorded.
pub fn journal(env: &keyrite_core::environment::Environment) -> anyhow::Result<Journal> {
    Ok(Journal::open(
        &env.data().journal_db(),
        &StoreOptions::default(),
    )?)
}

/// Options of `hsm init`.
#[derive(Debug)]
pub struct InitArgs {
    /// New token label.
    pub label: String,
    /// Re-initialise an initialised token.
    pub force: bool,
    /// Skip the typed confirmation (rehearsal only).
    pub yes: bool,
    /// Token to re-initialise.
    pub token_label: Option<String>,
    /// Descriptor of the token's current SO PIN (with --force on an initialised token).
    pub current_so_pin_fd: Option<i32>,
    /// Descriptor of the new SO PIN.
    pub so_pin_fd: Option<i32>,
    /// Descriptor of the new user PIN.
    pub pin_fd: Option<i32>,
    /// Print JSON instead of text.
    pub json: bool,
}

/// Options of `hsm backup`.
#[derive(Debug)]
pub struct BackupArgs {
    /// Label of the key to back up.
    pub label: String,
    /// Label of the root KEK.
    pub kek_label: String,
    /// The backup file to write.
    pub out: PathBuf,
    /// The policy the key was made under, when its attributes satisfy several.
    pub policy: Option<String>,
    /// Print JSON instead of text.
    pub json: bool,
}

/// `hsm init`.
pub fn init(globals: &Globals, a: &InitArgs) -> anyhow::Result<ExitCode> {
    let env = globals.environment()?;
    admin::check_mode(AdminCommand::Init, env.mode())?;
    let current_source =
        PinSource::from_option("--current-so-pin-fd", a.current_so_pin_fd, env.mode())?;
    let so_source = PinSource::from_option("--so-pin-fd", a.so_pin_fd, env.mode())?;
    let user_source = PinSource::from_option("--pin-fd", a.pin_fd, env.mode())?;
    if a.yes && !a.force {
        anyhow::bail!("--yes confirms --force; without --force nothing needs confirming");
    }
    if a.token_label.is_some() && !a.force {
        anyhow::bail!(
            "--token-label selects a token to re-initialise and needs --force; without it \
             Keyrite initialises a free slot (or the one the site profile pins)"
        );
    }
    let module = env.load_module()?;
    let expected = env.profile().hsm.expect.as_ref();
    let (choice, before) = if a.force {
        let sel = selector(&env, a.token_label.as_deref())?;
        let (slot, t) = module.find_token(&sel)?;
        (InitChoice::Force { slot: slot.id() }, t)
    } else {
        let t = keyrite_core::hsm::select_uninitialised(&module, env.mode(), expected)?;
        (InitChoice::Free, t)
    };
    // Refusals that need no PIN come before any PIN is asked for.
    admin::admit(AdminCommand::Init, env.mode(), &before)?;
    keyrite_core::hsm::identity::check_identity(env.mode(), expected, &before)?;
    keyrite_core::names::check_label("token label", &a.label)
        .map_err(|e| anyhow::anyhow!("{e}; choose another --label"))?;
    let quirks = keyrite_core::hsm::sitedata::quirks_for(env.profile())?;
    keyrite_core::hsm::sopin::check_reinitialise(&before, quirks.for_token(&before))?;
    if a.force && before.initialized && !a.yes {
        let typed = read_confirmation(&format!(
            "Re-initialising {} erases every key on it. Type the token label to confirm: ",
            token_name(&before)
        ))?;
        if typed != before.label {
            anyhow::bail!(
                "re-initialisation of {} refused: the confirmation does not match the token \
                 label \"{}\"; nothing was changed",
                token_name(&before),
                before.label
            );
        }
    }
    // C_InitToken on an initialised token needs its current SO PIN (so does a fresh token of a
    // module with a factory SO PIN, vendor quirks); the new one is set after.
    let needs_current =
        keyrite_core::hsm::sopin::needs_current_so_pin(&before, quirks.for_token(&before));
    if a.current_so_pin_fd.is_some() && !needs_current {
        anyhow::bail!(
            "--current-so-pin-fd gives the SO PIN of a token being re-initialised and needs \
             --force"
        );
    }
    let current = if needs_current {
        Some(read_pin(
            current_source,
            &format!("current SO PIN of {}", token_name(&before)),
        )?)
    } else {
        None
    };
    let so = read_new_pin(so_source, "SO PIN")?;
    let user = read_new_pin(user_source, "user PIN")?;
    let mut j = journal(&env)?;
    let t = admin::init_token(
        &mut j,
        env.mode(),
        &module,
        expected,
        &choice,
        &a.label,
        &InitPins {
            current_so: current.as_ref(),
            new_so: &so,
            new_user: &user,
        },
        &quirks,
    )?;
    if a.json {
        crate::output::print_json(&serde_json::json!({
            "mode": env.mode(),
            "token": t,
            "journaled": "hsm_token_initialised",
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    println!("Initialised {} in slot {}", token_name(&t), t.slot_id);
    println!(
        "  Manufacturer: {}   Model: {}   Software: {}",
        t.manufacturer,
        t.model,
        if t.software { "yes" } else { "no" }
    );
    println!(
        "  User PIN set: {}",
        if t.flags.user_pin_initialized {
            "yes"
        } else {
            "NO"
        }
    );
    println!("  Journaled:    hsm_token_initialised");
    Ok(ExitCode::SUCCESS)
}

/// `hsm backup`.
pub fn backup(globals: &Globals, t: &TokenArgs, a: &BackupArgs) -> anyhow::Result<ExitCode> {
    let (label, kek_label, out) = (a.label.as_str(), a.kek_label.as_str(), a.out.as_path());
    let policy = a.policy.as_deref();
    admin::check_mode(AdminCommand::Backup, globals.environment()?.mode())?;
    // Elsewhere `-` means standard output; a backup's place is journaled and kept in the
    // inventory, so it must be a file (and not one literally named `-`).
    if out == Path::new("-") {
        anyhow::bail!(
            "--out - is refused for a backup: the journal and the inventory record where each \
             backup is kept; name a file"
        );
    }
    let policies = keyrite_core::hsm::sitedata::policies_for(globals.environment()?.profile())?;
    if let Some(p) = policy {
        policies.get(p)?;
    }
    let quirks = keyrite_core::hsm::sitedata::quirks_for(globals.environment()?.profile())?;
    let (o, pins) = open(
        globals,
        t.token_label.as_deref(),
        "--pin-fd",
        t.pin_fd,
        t.rehearsal_pins,
    )?;
    let mut j = journal(&o.env)?;
    let (s, login) = o.login(pins, UserKind::User)?;
    let made = admin::backup_key(
        &mut j,
        o.env.mode(),
        &s,
        &policies,
        label,
        kek_label,
        policy,
        out,
        &quirks,
    )?;
    let token = s.name();
    drop(s);
    let b = &made.backup;
    if a.json {
        let spki = (!b.spki_sha256.is_empty()).then_some(&b.spki_sha256);
        o.print_evidence(
            &login,
            "backup",
            &serde_json::json!({
                "label": label,
                "token": token,
                "file": made.path,
                "policy": made.policy,
                "wrapping_key_label": b.wrapping_key_label,
                "wrapping_key_kcv": b.wrapping_key_kcv,
                "spki_sha256": spki,
            }),
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "Backed up key \"{label}\" from {token} to {}",
        made.path.display()
    );
    print_login(&login);
    println!("  Policy:          {}", made.policy);
    println!(
        "  Wrapped under:   \"{}\" (key check value {})",
        b.wrapping_key_label, b.wrapping_key_kcv
    );
    if !b.spki_sha256.is_empty() {
        println!("  SPKI SHA-256:    {}", b.spki_sha256);
    }
    Ok(ExitCode::SUCCESS)
}

/// `hsm restore`.
pub fn restore(
    globals: &Globals,
    t: &TokenArgs,
    input: &Path,
    kek_label: Option<&str>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    admin::check_mode(AdminCommand::Restore, globals.environment()?.mode())?;
    let (source_name, text) = crate::output::read_input(input, "backup file")?;
    // The file is checked completely before the token is opened or a PIN asked for.
    let backup = KeyBackup::decode(&source_name, &text)?;
    let policies = keyrite_core::hsm::sitedata::policies_for(globals.environment()?.profile())?;
    policies.get(&backup.policy)?;
    let quirks = keyrite_core::hsm::sitedata::quirks_for(globals.environment()?.profile())?;
    let kek = kek_label.unwrap_or(&backup.wrapping_key_label).to_string();
    let (o, pins) = open(
        globals,
        t.token_label.as_deref(),
        "--pin-fd",
        t.pin_fd,
        t.rehearsal_pins,
    )?;
    let mut j = journal(&o.env)?;
    let (s, login) = o.login(pins, UserKind::User)?;
    let evidence = admin::restore_key(
        &mut j,
        o.env.mode(),
        &s,
        &policies,
        &source_name,
        &backup,
        &kek,
        &quirks,
    )?;
    drop(s);
    if json {
        o.print_evidence(&login, "key", &evidence)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "Restored key \"{}\" on {} from {} under policy \"{}\"",
        evidence.label, evidence.token, source_name, evidence.policy
    );
    print_login(&login);
    print_evidence(&evidence);
    Ok(ExitCode::SUCCESS)
}

/// `hsm destroy`.
pub fn destroy(
    globals: &Globals,
    t: &TokenArgs,
    label: &str,
    confirm: Option<&str>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let mode = globals.environment()?.mode();
    admin::check_mode(AdminCommand::Destroy, mode)?;
    if confirm.is_some() && mode == Mode::Production {
        anyhow::bail!(
            "--confirm is refused in production: the operator types the key label at the \
             terminal"
        );
    }
    let (o, pins) = open(
        globals,
        t.token_label.as_deref(),
        "--pin-fd",
        t.pin_fd,
        t.rehearsal_pins,
    )?;
    let mut j = journal(&o.env)?;
    let (s, login) = o.login(pins, UserKind::User)?;
    let typed = match confirm {
        Some(c) => c.to_string(),
        None => read_confirmation(&format!(
            "Destroying key \"{label}\" on {} cannot be undone. Type the key label to confirm: ",
            s.name()
        ))?,
    };
    if typed != label {
        anyhow::bail!(
            "destruction of key \"{label}\" on {} refused: the confirmation does not match the \
             key label; nothing was destroyed",
            s.name()
        );
    }
    let proof = admin::destroy_key(&mut j, o.env.mode(), &s, label)?;
    drop(s);
    if json {
        o.print_evidence(&login, "proof", &proof)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!("Destroyed key \"{}\" on {}", proof.label, proof.token);
    print_login(&login);
    println!("  Objects destroyed: {}", proof.destroyed.join(", "));
    println!("  CKA_IDs:           {}", proof.ids.join(", "));
    println!(
        "  Proof: {} objects before, {} after; {} remain with the label, {} with its id",
        proof.objects_before,
        proof.objects_after,
        proof.remaining_with_label,
        proof.remaining_with_id
    );
    Ok(ExitCode::SUCCESS)
}
