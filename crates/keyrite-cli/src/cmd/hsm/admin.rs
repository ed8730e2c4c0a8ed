//! `keyrite hsm init|backup|restore|destroy`: the commands that change a token.

use super::context::{open, selector, TokenArgs};
use super::keys::{print_evidence, print_login};
use crate::cmd::Globals;
use crate::pin::{read_confirmation, read_new_pin, PinSource};
use keyrite_core::hsm::backup::{backup_key, restore_key, KeyBackup};
use keyrite_core::hsm::destroy::destroy_key;
use keyrite_core::hsm::identity::check_identity;
use keyrite_core::hsm::init::{check_pins, init_token, InitTarget};
use keyrite_core::hsm::objects::describe_key;
use keyrite_core::hsm::policy::PolicySet;
use keyrite_core::hsm::quirks::Quirks;
use keyrite_core::hsm::session::token_name;
use keyrite_core::hsm::UserKind;
use keyrite_core::profile::Mode;
use std::path::Path;
use std::process::ExitCode;

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
    /// Descriptor of the new SO PIN.
    pub so_pin_fd: Option<i32>,
    /// Descriptor of the new user PIN.
    pub pin_fd: Option<i32>,
}

/// `hsm init`.
pub fn init(globals: &Globals, a: &InitArgs) -> anyhow::Result<ExitCode> {
    let env = globals.environment()?;
    let so_source = PinSource::from_option("--so-pin-fd", a.so_pin_fd, env.mode())?;
    let user_source = PinSource::from_option("--pin-fd", a.pin_fd, env.mode())?;
    if a.yes && env.mode() == Mode::Production {
        anyhow::bail!(
            "--yes is refused in production: re-initialising erases every key, so the operator \
             types the token label"
        );
    }
    if a.yes && !a.force {
        anyhow::bail!("--yes confirms --force; without --force nothing needs confirming");
    }
    if a.token_label.is_some() && !a.force {
        anyhow::bail!(
            "--token-label selects a token to re-initialise and needs --force; without it \
             Keyrite initialises a free slot"
        );
    }
    let module = env.load_module()?;
    let (slot_id, before) = if a.force {
        let sel = selector(&env, a.token_label.as_deref())?;
        let (slot, t) = module.find_token(&sel)?;
        (slot.id(), t)
    } else {
        let free = module
            .tokens()?
            .into_iter()
            .find(|t| !t.initialized)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "no uninitialised token in PKCS#11 module {}; to re-initialise a token \
                     pass --force with --token-label",
                    module.path().display()
                )
            })?;
        (free.slot_id, free)
    };
    let identity = check_identity(env.mode(), env.profile().hsm.expect.as_ref(), &before)?;
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
    let so = read_new_pin(so_source, "SO PIN")?;
    let user = read_new_pin(user_source, "user PIN")?;
    check_pins(&so, &user)?;
    let quirks = Quirks::builtin()?;
    let t = init_token(
        &module,
        &InitTarget::Slot(slot_id),
        &a.label,
        &so,
        &user,
        a.force,
        &quirks,
    )?;
    println!("Initialised {} in slot {}", token_name(&t), t.slot_id);
    println!(
        "  Manufacturer: {}   Model: {}   Software: {}",
        t.manufacturer,
        t.model,
        if identity.software { "yes" } else { "no" }
    );
    println!(
        "  User PIN set: {}",
        if t.flags.user_pin_initialized {
            "yes"
        } else {
            "NO"
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// `hsm backup`.
pub fn backup(
    globals: &Globals,
    t: &TokenArgs,
    label: &str,
    kek_label: &str,
    out: &Path,
    policy: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let policies = PolicySet::builtin()?;
    if let Some(p) = policy {
        policies.get(p)?;
    }
    if out.exists() {
        anyhow::bail!(
            "backup file {} already exists; Keyrite never overwrites a backup: choose another \
             name",
            out.display()
        );
    }
    let quirks = Quirks::builtin()?;
    let (o, pins) = open(
        globals,
        t.token_label.as_deref(),
        "--pin-fd",
        t.pin_fd,
        t.rehearsal_pins,
    )?;
    let (s, login) = o.login(pins, UserKind::User)?;
    let listing = describe_key(&s, label, &policies, &quirks)?;
    let name = match (policy, &listing.policies[..]) {
        (Some(p), ps) if ps.iter().any(|x| x == p) => p.to_string(),
        (Some(p), _) => anyhow::bail!(
            "key \"{label}\" on {} does not satisfy policy \"{p}\" ({}); nothing was written",
            s.name(),
            listing_problem(&listing)
        ),
        (None, [one]) => one.clone(),
        (None, []) => anyhow::bail!(
            "key \"{label}\" on {} satisfies no key policy ({}); it cannot be backed up",
            s.name(),
            listing_problem(&listing)
        ),
        (None, many) => anyhow::bail!(
            "key \"{label}\" on {} satisfies policies {}; pass --policy to name the one the \
             backup records",
            s.name(),
            many.join(", ")
        ),
    };
    let (b, evidence) = backup_key(&s, label, policies.get(&name)?, kek_label, &quirks)?;
    drop(s);
    write_new(out, b.encode().as_bytes())?;
    println!(
        "Backed up key \"{label}\" from {} to {}",
        evidence.token,
        out.display()
    );
    print_login(&login);
    println!("  Policy:          {name}");
    println!(
        "  Wrapped under:   \"{}\" (key check value {})",
        b.wrapping_key_label, b.wrapping_key_kcv
    );
    if !b.spki_sha256.is_empty() {
        println!("  SPKI SHA-256:    {}", b.spki_sha256);
    }
    Ok(ExitCode::SUCCESS)
}

fn listing_problem(l: &keyrite_core::hsm::objects::KeyListing) -> String {
    if l.failures.is_empty() {
        "its attributes satisfy other policies".into()
    } else {
        l.failures.join("; ")
    }
}

fn write_new(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let fail = |e: std::io::Error| {
        anyhow::anyhow!(
            "cannot write backup file {}: {e}; the key is still on the token, nothing was lost",
            path.display()
        )
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(fail)?;
    f.write_all(bytes).map_err(fail)?;
    f.sync_all().map_err(fail)?;
    Ok(())
}

/// `hsm restore`.
pub fn restore(
    globals: &Globals,
    t: &TokenArgs,
    input: &Path,
    kek_label: Option<&str>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let source_name = input.display().to_string();
    let text = std::fs::read_to_string(input)
        .map_err(|e| anyhow::anyhow!("cannot read backup file {source_name}: {e}"))?;
    // The file is checked completely before the token is opened or a PIN asked for.
    let backup = KeyBackup::decode(&source_name, &text)?;
    let policies = PolicySet::builtin()?;
    policies.get(&backup.policy)?;
    let quirks = Quirks::builtin()?;
    let kek = kek_label.unwrap_or(&backup.wrapping_key_label).to_string();
    let (o, pins) = open(
        globals,
        t.token_label.as_deref(),
        "--pin-fd",
        t.pin_fd,
        t.rehearsal_pins,
    )?;
    let (s, login) = o.login(pins, UserKind::User)?;
    let evidence = restore_key(&s, &source_name, &backup, &policies, &kek, &quirks)?;
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
    let env_mode_check = |o: &super::context::Opened| -> anyhow::Result<()> {
        if confirm.is_some() && o.env.mode() == Mode::Production {
            anyhow::bail!(
                "--confirm is refused in production: the operator types the key label at the \
                 terminal"
            );
        }
        Ok(())
    };
    let (o, pins) = open(
        globals,
        t.token_label.as_deref(),
        "--pin-fd",
        t.pin_fd,
        t.rehearsal_pins,
    )?;
    env_mode_check(&o)?;
    let (s, login) = o.login(pins, UserKind::User)?;
    let objs = keyrite_core::hsm::keygen::find_key(&s, label)?;
    if objs.is_empty() {
        return Err(keyrite_core::hsm::HsmError::KeyNotFound {
            operation: format!("destroying key \"{label}\""),
            token: s.name(),
            label: label.into(),
        }
        .into());
    }
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
    let proof = destroy_key(&s, label)?;
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
