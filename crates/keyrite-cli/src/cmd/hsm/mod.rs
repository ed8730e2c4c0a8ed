//! `keyrite hsm …`: tokens, keys, backups.

mod admin;
pub mod context;
mod info;
mod keys;

use super::Globals;
use clap::Subcommand;
use context::TokenArgs;
use std::path::PathBuf;
use std::process::ExitCode;

// The shipped `keyrite` never carries the token-changing primitives: a release build in which
// Cargo's feature unification switched on keyrite-core's `testkit` (e.g. `cargo build
// --release --workspace`, where keyrite-tests asks for it) stops here. Build releases with
// `cargo build --release -p keyrite-cli`.
#[cfg(not(debug_assertions))]
const _: () = assert!(
    !keyrite_core::TESTKIT,
    "keyrite-core's testkit feature is on in a release build of keyrite; build it alone: \
     cargo build --release -p keyrite-cli"
);

/// HSM commands.
#[derive(Debug, Subcommand)]
pub enum HsmCommand {
    /// List the module's slots and tokens: label, manufacturer, model, serial, firmware, flags.
    Info {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Initialise a token: SO PIN, user PIN, label (the pinned or a free slot unless --force);
    /// rehearsal only (production: the hsm-initialisation ceremony), journaled.
    Init {
        /// Label of the new token.
        #[arg(long)]
        label: String,
        /// Re-initialise the selected token (--token-label or the profile's), erasing every key.
        #[arg(long)]
        force: bool,
        /// Rehearsal only: skip the typed confirmation of --force.
        #[arg(long)]
        yes: bool,
        /// Select the token to re-initialise (with --force).
        #[arg(long, value_name = "LABEL")]
        token_label: Option<String>,
        /// Rehearsal only: read the token's current SO PIN (needed with --force on an
        /// initialised token, and on a fresh token of a module with a factory SO PIN such as
        /// openCryptoki) as one line from this file descriptor.
        #[arg(long, value_name = "N")]
        current_so_pin_fd: Option<i32>,
        /// Rehearsal only: read the new SO PIN as one line from this file descriptor.
        #[arg(long, value_name = "N")]
        so_pin_fd: Option<i32>,
        /// Rehearsal only: read the new user PIN as one line from this file descriptor.
        #[arg(long, value_name = "N")]
        pin_fd: Option<i32>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List the keys on the token, each with its attributes checked against the key policies.
    Keys {
        #[command(flatten)]
        token: TokenArgs,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Generate a key in the HSM under a key policy, read it back and print the evidence.
    Generate {
        /// Key policy name (see docs/formats/key-policy.md).
        #[arg(long)]
        policy: String,
        /// Label of the new key (must not exist on the token).
        #[arg(long)]
        label: String,
        #[command(flatten)]
        token: TokenArgs,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Wrap a key under the root KEK into a backup file.
    Backup {
        /// Label of the key to back up.
        #[arg(long)]
        label: String,
        /// Label of the root KEK on the token.
        #[arg(long, value_name = "K")]
        kek_label: String,
        /// The backup file to write (must not exist; not `-`: the journal and the inventory
        /// record where the backup is).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// The policy the key was made under, when its attributes satisfy several.
        #[arg(long)]
        policy: Option<String>,
        #[command(flatten)]
        token: TokenArgs,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Restore a key from a backup file under the root KEK, with the same policy.
    Restore {
        /// The backup file, or `-` for standard input.
        #[arg(long = "in", value_name = "FILE")]
        input: PathBuf,
        /// Label of the root KEK (default: the one the backup names).
        #[arg(long, value_name = "K")]
        kek_label: Option<String>,
        #[command(flatten)]
        token: TokenArgs,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Destroy a key (every object with its label) and prove it is gone.
    Destroy {
        /// Label of the key to destroy.
        #[arg(long)]
        label: String,
        /// Rehearsal only: the typed confirmation, for unattended runs (must equal the label).
        #[arg(long, value_name = "LABEL")]
        confirm: Option<String>,
        #[command(flatten)]
        token: TokenArgs,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Runs an `hsm` command.
pub fn run(globals: &Globals, command: HsmCommand) -> anyhow::Result<ExitCode> {
    match command {
        HsmCommand::Info { json } => info::info(globals, json),
        HsmCommand::Init {
            label,
            force,
            yes,
            token_label,
            current_so_pin_fd,
            so_pin_fd,
            pin_fd,
            json,
        } => admin::init(
            globals,
            &admin::InitArgs {
                label,
                force,
                yes,
                token_label,
                current_so_pin_fd,
                so_pin_fd,
                pin_fd,
                json,
            },
        ),
        HsmCommand::Keys { token, json } => keys::keys(globals, &token, json),
        HsmCommand::Generate {
            policy,
            label,
            token,
            json,
        } => keys::generate(globals, &token, &policy, &label, json),
        HsmCommand::Backup {
            label,
            kek_label,
            out,
            policy,
            token,
            json,
        } => admin::backup(
            globals,
            &token,
            &admin::BackupArgs {
                label,
                kek_label,
                out,
                policy,
                json,
            },
        ),
        HsmCommand::Restore {
            input,
            kek_label,
            token,
            json,
        } => admin::restore(globals, &token, &input, kek_label.as_deref(), json),
        HsmCommand::Destroy {
            label,
            confirm,
            token,
            json,
        } => admin::destroy(globals, &token, &label, confirm.as_deref(), json),
    }
}
