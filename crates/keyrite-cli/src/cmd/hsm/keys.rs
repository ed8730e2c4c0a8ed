//! `keyrite hsm keys` and `keyrite hsm generate`, and how key evidence is printed.

use super::context::{open, TokenArgs};
use crate::cmd::Globals;
use crate::output::print_json;
use keyrite_core::hsm::attributes::AttributeRow;
use keyrite_core::hsm::objects::{list_keys, KeyListing};
use keyrite_core::hsm::policy::Origin;
use keyrite_core::hsm::session::LoginEvidence;
use keyrite_core::hsm::KeyEvidence;
use keyrite_core::hsm::UserKind;
use std::process::ExitCode;

/// `hsm keys`.
pub fn keys(globals: &Globals, t: &TokenArgs, json: bool) -> anyhow::Result<ExitCode> {
    let (o, pins) = open(
        globals,
        t.token_label.as_deref(),
        "--pin-fd",
        t.pin_fd,
        t.rehearsal_pins,
    )?;
    let policies = keyrite_core::hsm::sitedata::policies_for(globals.environment()?.profile())?;
    let quirks = keyrite_core::hsm::sitedata::quirks_for(globals.environment()?.profile())?;
    let (s, login) = o.login(pins, UserKind::User)?;
    let keys = list_keys(&s, &policies, &quirks)?;
    drop(s);
    if json {
        print_json(&serde_json::json!({
            "mode": o.env.mode(),
            "token": o.token_name(),
            "identity": o.identity,
            "login": login,
            "keys": keys,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    println!("Mode:  {}", o.env.mode());
    println!("Token: {}", o.token_name());
    print_login(&login);
    println!("Keys:  {}", keys.len());
    for k in &keys {
        print_listing(k);
    }
    Ok(ExitCode::SUCCESS)
}

/// `hsm generate`.
pub fn generate(
    globals: &Globals,
    t: &TokenArgs,
    policy: &str,
    label: &str,
    json: bool,
) -> anyhow::Result<ExitCode> {
    // Production refuses, and the policy is checked, before the token is opened or a PIN
    // asked for.
    keyrite_core::operations::admin::check_mode(
        keyrite_core::operations::admin::AdminCommand::Generate,
        globals.environment()?.mode(),
    )?;
    let policies = keyrite_core::hsm::sitedata::policies_for(globals.environment()?.profile())?;
    let policy = policies.get(policy)?;
    let quirks = keyrite_core::hsm::sitedata::quirks_for(globals.environment()?.profile())?;
    let (o, pins) = open(
        globals,
        t.token_label.as_deref(),
        "--pin-fd",
        t.pin_fd,
        t.rehearsal_pins,
    )?;
    let mut j = super::admin::journal(&o.env)?;
    let (s, login) = o.login(pins, UserKind::User)?;
    let evidence = keyrite_core::operations::admin::generate_key(
        &mut j,
        o.env.mode(),
        &s,
        policy,
        label,
        &quirks,
    )?;
    drop(s);
    if json {
        o.print_evidence(&login, "key", &evidence)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "Generated key \"{}\" on {} under policy \"{}\"",
        evidence.label, evidence.token, evidence.policy
    );
    print_login(&login);
    print_evidence(&evidence);
    Ok(ExitCode::SUCCESS)
}

/// Prints the login evidence line.
pub fn print_login(l: &LoginEvidence) {
    println!(
        "Login: {} PIN state before: {}, after: {}",
        l.user, l.before, l.after
    );
}

fn origin_words(o: Origin) -> &'static str {
    match o {
        Origin::Generated => "generated in the HSM",
        Origin::Imported => "imported or restored (not generated in this HSM)",
    }
}

/// Prints key evidence (after generation or restore).
pub fn print_evidence(e: &KeyEvidence) {
    println!("  Key:     {}, {}", e.key.name(), origin_words(e.origin));
    println!("  CKA_ID:  {}", e.id);
    if let Some(fp) = &e.spki_sha256 {
        print_fingerprint(fp);
    }
    if let Some(kcv) = &e.kcv {
        println!("  Key check value: {kcv}");
    }
    print_rows("  Attributes (all as the policy requires):", &e.attributes);
    if let Some(rows) = &e.public_attributes {
        print_rows("  Public key attributes:", rows);
    }
}

fn print_fingerprint(fp: &str) {
    println!("  SPKI SHA-256: {fp}");
    if let Ok(bytes) = hex::decode(fp) {
        println!(
            "  In words:     {}",
            keyrite_core::words::short_words(&bytes, 8)
        );
    }
}

fn print_rows(title: &str, rows: &[AttributeRow]) {
    println!("{title}");
    for r in rows {
        let actual = r.actual.as_deref().unwrap_or("(not returned)");
        if r.ok {
            println!("    {:<24} {actual}", r.attribute);
        } else {
            println!(
                "    {:<24} {actual}   <-- policy requires {}",
                r.attribute, r.expected
            );
        }
    }
}

fn print_listing(k: &KeyListing) {
    println!();
    let spec = k.key.map_or("unknown algorithm", |s| s.name());
    println!("\"{}\"  {}  {}  id {}", k.label, spec, k.objects, k.id);
    if k.certificates > 0 {
        println!("  Certificates: {}", k.certificates);
    }
    match (&k.policies[..], &k.checked_against) {
        ([], Some(closest)) => println!(
            "  Policy:  NONE satisfied (closest: \"{closest}\"): {}",
            k.failures.join("; ")
        ),
        ([], None) => println!("  Policy:  NONE: {}", k.failures.join("; ")),
        (ps, _) => println!(
            "  Policy:  {} ({}); every attribute checked",
            ps.join(", "),
            k.origin.map_or("", origin_words)
        ),
    }
    if let Some(fp) = &k.spki_sha256 {
        print_fingerprint(fp);
    }
    if let Some(kcv) = &k.kcv {
        println!("  Key check value: {kcv}");
    }
    if !k.attributes.is_empty() {
        print_rows("  Attributes:", &k.attributes);
    }
    if let Some(rows) = &k.public_attributes {
        print_rows("  Public key attributes:", rows);
    }
}
