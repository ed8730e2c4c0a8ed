//! `keyrite`: Keyrite's command line. Headless ceremonies, verification and export.
//!
//! A thin face over `keyrite-core`: parse arguments, open the environment, call the core,
//! print. Errors reach the user as one line saying what failed and what to do.

mod cmd;
mod output;
mod pin;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Keyrite: key ceremonies with HSMs, Shamir shares, quorum approvals and signed records.
#[derive(Debug, Parser)]
#[command(name = "keyrite", version, about)]
struct Cli {
    /// Site profile (TOML). Without one, Keyrite runs in rehearsal on its embedded SoftHSM2.
    #[arg(long, global = true, value_name = "FILE")]
    profile: Option<PathBuf>,
    /// Data directory (default: $KEYRITE_DATA_DIR, else $XDG_DATA_HOME/keyrite).
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The HSM: tokens, keys, backups.
    #[command(subcommand)]
    Hsm(cmd::hsm::HsmCommand),
    /// Ceremonies: validate and show scripts, run, resume, status.
    #[command(subcommand)]
    Ceremony(cmd::ceremony::CeremonyCommand),
    /// The tamper-evident journal: head, verify, export.
    #[command(subcommand)]
    Journal(cmd::journal::JournalCommand),
    /// The key inventory: list, reconcile.
    #[command(subcommand)]
    Inventory(cmd::inventory::InventoryCommand),
    /// Shamir shares: verify one, check that a set rebuilds.
    #[command(subcommand)]
    Shares(cmd::shares::SharesCommand),
}

fn main() -> ExitCode {
    let hardening = keyrite_core::hardening::harden_process();
    output::init_logging();
    tracing::debug!(?hardening, "process hardened");
    let cli = Cli::parse();
    let globals = cmd::Globals {
        profile: cli.profile,
        data_dir: cli.data_dir,
    };
    let result = match cli.command {
        Command::Hsm(c) => cmd::hsm::run(&globals, c),
        Command::Ceremony(c) => cmd::ceremony::run(&globals, c),
        Command::Journal(c) => cmd::journal::run(&globals, c),
        Command::Inventory(c) => cmd::inventory::run(&globals, c),
        Command::Shares(c) => cmd::shares::run(c),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            // Core errors already carry their cause in the message; print it once.
            eprintln!("keyrite: error: {e}");
            ExitCode::from(1)
        }
    }
}
