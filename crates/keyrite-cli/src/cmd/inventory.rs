//! `keyrite inventory …`: list keys, reconcile against an HSM object list.

use super::Globals;
use crate::output::print_json;
use anyhow::Context;
use clap::Subcommand;
use keyrite_core::inventory::{self, HsmObject};
use keyrite_core::journal::{time, Journal};
use keyrite_core::paths::DataDir;
use keyrite_core::store::StoreOptions;
use std::path::PathBuf;
use std::process::ExitCode;

/// Inventory commands.
#[derive(Debug, Subcommand)]
pub enum InventoryCommand {
    /// List keys with state, location and rotation due date.
    List {
        /// Only keys due for rotation (now, or within --within days).
        #[arg(long)]
        due: bool,
        /// With --due: look this many days ahead.
        #[arg(long, default_value_t = 0)]
        within: i64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Compare the inventory with a JSON list of HSM objects
    /// (`[{"token_serial", "label", "cka_id"}]`); differences are reported, never fixed.
    Reconcile {
        /// The object list, or `-` for standard input.
        #[arg(long, value_name = "FILE")]
        objects: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs an `inventory` command.
pub fn run(globals: &Globals, command: InventoryCommand) -> anyhow::Result<ExitCode> {
    let db = DataDir::open(globals.data_dir.as_deref())?.journal_db();
    let j = Journal::open_read_only(&db, &StoreOptions::default())?;
    match command {
        InventoryCommand::List { due, within, json } => {
            let keys = if due {
                inventory::due(j.store(), time::now().plus_days(within))?
            } else {
                inventory::list(j.store())?
            };
            if json {
                print_json(&keys)?;
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "{:<20} {:<15} {:<28} {:<12} {:<14} {:<10}",
                "KEY", "STATE", "TYPE", "TOKEN", "CKA_ID", "DUE"
            );
            for k in &keys {
                println!(
                    "{:<20} {:<15} {:<28} {:<12} {:<14} {:<10}",
                    k.key_id,
                    k.state,
                    k.key_type,
                    k.token_serial,
                    k.cka_id,
                    k.rotation_due.get(..10).unwrap_or("")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        InventoryCommand::Reconcile { objects, json } => {
            let (name, text) = crate::output::read_input(&objects, "object list")?;
            let list: Vec<HsmObject> = serde_json::from_str(&text).with_context(|| {
                format!("{name}: expected a JSON list of {{token_serial, label, cka_id}}")
            })?;
            let r = inventory::reconcile(j.store(), &list)?;
            if json {
                print_json(&r)?;
            } else {
                println!("Matched: {}", r.matched.len());
                for k in &r.missing {
                    println!("MISSING on the token: {k}");
                }
                for o in &r.orphans {
                    println!(
                        "ORPHAN (not in the inventory): token {} label {} CKA_ID {}",
                        o.token_serial, o.label, o.cka_id
                    );
                }
                for k in &r.destroyed_but_present {
                    println!("DESTROYED in the inventory but still on the token: {k}");
                }
                for (k, a, b) in &r.label_mismatch {
                    println!("LABEL differs for {k}: inventory {a}, token {b}");
                }
            }
            Ok(if r.is_clean() {
                ExitCode::SUCCESS
            } else {
                crate::exit::code(crate::exit::DIFFERENCES)
            })
        }
    }
}
