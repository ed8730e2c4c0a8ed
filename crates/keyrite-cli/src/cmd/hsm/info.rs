//! `keyrite hsm info`: the module's slots and tokens.

use crate::cmd::Globals;
use crate::output::print_json;
use std::process::ExitCode;

/// Lists the module's slots and tokens.
pub fn info(globals: &Globals, json: bool) -> anyhow::Result<ExitCode> {
    let env = globals.environment()?;
    let module = env.load_module()?;
    // The same view the desktop's HSM panel shows (tokens, the profile's token, its identity
    // verdict): one function in the core for both faces.
    let view = keyrite_core::view::hsm_view(&env, &module)?;
    if json {
        print_json(&serde_json::json!({
            "mode": env.mode(),
            "module": module.path(),
            "tokens": view.tokens,
            "profile_token": view.profile_token,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    println!("Mode:   {}", env.mode());
    println!("Module: {}", module.path().display());
    println!("Profile's token: {}", view.profile_token.text);
    for t in &view.tokens {
        if !t.initialized {
            println!(
                "\nSlot {}: uninitialised token ({})",
                t.slot_id, t.slot_description
            );
            continue;
        }
        println!("\nSlot {}: {}", t.slot_id, t.label);
        println!("  Manufacturer: {}", t.manufacturer);
        println!("  Model:        {}", t.model);
        println!("  Serial:       {}", t.serial);
        println!("  Firmware:     {}   Hardware: {}", t.firmware, t.hardware);
        for u in &t.unreadable {
            println!("  Unreadable:   {u}");
        }
        println!(
            "  Software:     {}",
            if t.software {
                "yes: keys live in host files (rehearsal only)"
            } else {
                "no"
            }
        );
        let f = &t.flags;
        let mut flags = vec![];
        for (on, name) in [
            (f.user_pin_initialized, "user PIN set"),
            (f.login_required, "login required"),
            (f.write_protected, "write protected"),
            (f.rng, "has RNG"),
            (f.user_pin_count_low, "user PIN count low"),
            (f.user_pin_final_try, "user PIN final try"),
            (f.user_pin_locked, "user PIN LOCKED"),
            (f.so_pin_locked, "SO PIN LOCKED"),
        ] {
            if on {
                flags.push(name);
            }
        }
        println!("  Flags:        {}", flags.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}
