//! `keyrite shares …`: check shares without ever printing a secret.

use crate::output::print_json;
use anyhow::Context;
use clap::Subcommand;
use keyrite_core::shares::{self, Share};
use keyrite_core::view::ShareCheck;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Share commands.
#[derive(Debug, Subcommand)]
pub enum SharesCommand {
    /// Check one share alone (human form or QR payload text): checksum, set, index i of N.
    Verify {
        /// File holding the share, or `-` (default) for standard input.
        #[arg(default_value = "-")]
        file: String,
        /// Print what identifies the share as JSON (never the share itself).
        #[arg(long)]
        json: bool,
    },
    /// Check that shares rebuild their secret.
    Combine {
        /// Only prove the set rebuilds; print the digest words, never the secret (required).
        #[arg(long)]
        check_only: bool,
        /// One file per share.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// Runs a `shares` command.
pub fn run(command: SharesCommand) -> anyhow::Result<ExitCode> {
    match command {
        SharesCommand::Verify { file, json } => verify(&file, json),
        SharesCommand::Combine { check_only, files } => combine(check_only, &files),
    }
}

fn read(file: &str) -> anyhow::Result<keyrite_core::secret::SecretText> {
    let mut s = String::new();
    if file == "-" {
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading the share from standard input")?;
    } else {
        s = std::fs::read_to_string(Path::new(file)).with_context(|| format!("reading {file}"))?;
    }
    Ok(keyrite_core::secret::SecretText::new(s))
}

fn verify(file: &str, json: bool) -> anyhow::Result<ExitCode> {
    let text = read(file)?;
    let share = ShareCheck::from(&Share::parse(text.expose(), None)?);
    if json {
        print_json(&share)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "OK: share {} of {} (any {} rebuild), set {} ({})",
        share.index, share.count, share.threshold, share.set_id, share.set_words
    );
    println!("Fingerprint: {}", share.fingerprint_words);
    Ok(ExitCode::SUCCESS)
}

fn combine(check_only: bool, files: &[PathBuf]) -> anyhow::Result<ExitCode> {
    if !check_only {
        anyhow::bail!("`keyrite shares combine` only checks: pass --check-only (the secret is rebuilt inside ceremonies, never printed)");
    }
    let mut parsed = Vec::with_capacity(files.len());
    for (i, f) in files.iter().enumerate() {
        let text = read(&f.to_string_lossy())?;
        let share = Share::parse(text.expose(), Some(i + 1))
            .with_context(|| format!("in {}", f.display()))?;
        parsed.push(share);
    }
    let r = shares::combine(&parsed)?;
    println!(
        "OK: shares {} of set {} rebuild the recorded secret (any {} of {}).",
        r.indices
            .iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        r.set_id,
        r.threshold,
        r.count
    );
    println!("Digest: {}", r.digest_words);
    Ok(ExitCode::SUCCESS)
}
