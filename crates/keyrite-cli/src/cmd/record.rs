//! `keyrite record …`: produce a ceremony's signed record, verify a record offline.

use super::hsm::context::{open, Opened, TokenArgs};
use super::Globals;
use crate::exit;
use crate::output::print_json;
use anyhow::Context;
use clap::Subcommand;
use keyrite_core::hsm::signer::HsmSigner;
use keyrite_core::hsm::{TokenSession, UserKind};
use keyrite_core::journal::Journal;
use keyrite_core::paths::DataDir;
use keyrite_core::pdf::PageSize;
use keyrite_core::record::{
    produce_record, record_certificate, verify_record, Outcome, RECORD_SIGNING_LABEL,
};
use keyrite_core::store::StoreOptions;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Record commands.
#[derive(Debug, Subcommand)]
pub enum RecordCommand {
    /// Check a record: signature over the whole file, signer, transcript, checkpoint,
    /// approvals and (with --journal) the journal. Exit 0 valid, 4 invalid, 5 unreadable.
    Verify {
        /// The record PDF.
        record: PathBuf,
        /// The pinned record-signing certificate (DER).
        #[arg(long, value_name = "CERT")]
        trust: Option<PathBuf>,
        /// A copy of the journal database to compare with.
        #[arg(long, value_name = "DB")]
        journal: Option<PathBuf>,
        /// Print the verdict as JSON (the same verdict the desktop's Records screen shows).
        #[arg(long)]
        json: bool,
    },
    /// Produce the signed record of a ceremony from the journal, signed by the token's
    /// record-signing key.
    Produce {
        /// Ceremony id.
        #[arg(long)]
        ceremony: String,
        /// The PDF to write: a new file (never overwritten, never written through a link).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Paper: a4 or letter.
        #[arg(long, default_value = "a4", value_parser = ["a4", "letter"])]
        paper: String,
        /// Also write the record-signing certificate (DER) here, for `record verify --trust`
        /// (a new file, like --out).
        #[arg(long, value_name = "FILE")]
        cert_out: Option<PathBuf>,
        /// Journal database (default: the data directory's).
        #[arg(long, value_name = "FILE")]
        db: Option<PathBuf>,
        #[command(flatten)]
        token: TokenArgs,
    },
}

/// The journal at `db` or the data directory's, read-only.
pub fn open_journal(globals: &Globals, db: Option<&Path>) -> anyhow::Result<Journal> {
    let db = match db {
        Some(d) => d.to_path_buf(),
        None => DataDir::open(globals.data_dir.as_deref())?.journal_db(),
    };
    if !db.exists() {
        anyhow::bail!("the journal {} does not exist", db.display());
    }
    Ok(Journal::open_read_only(&db, &StoreOptions::default())?)
}

/// Opens the token, logs the user in and opens the record-signing key. The returned
/// [`Opened`] owns the module and must outlive the signer.
pub fn record_signer(
    globals: &Globals,
    token: &TokenArgs,
) -> anyhow::Result<(Opened, HsmSigner, TokenSession)> {
    let quirks = keyrite_core::hsm::sitedata::quirks_for(globals.environment()?.profile())?;
    let (o, pins) = open(
        globals,
        token.token_label.as_deref(),
        "--pin-fd",
        token.pin_fd,
        token.rehearsal_pins,
    )?;
    let (s, _) = o.login(pins, UserKind::User)?;
    let second = TokenSession::open(&o.module, &o.selector)?;
    let signer = HsmSigner::open(s, RECORD_SIGNING_LABEL, &quirks).with_context(|| {
        format!("the record-signing key \"{RECORD_SIGNING_LABEL}\": the hsm-initialisation ceremony makes it and stores its certificate")
    })?;
    Ok((o, signer, second))
}

/// Runs a `record` command.
pub fn run(globals: &Globals, command: RecordCommand) -> anyhow::Result<ExitCode> {
    match command {
        RecordCommand::Verify {
            record,
            trust,
            journal,
            json,
        } => verify(globals, &record, trust.as_deref(), journal.as_deref(), json),
        RecordCommand::Produce {
            ceremony,
            out,
            paper,
            cert_out,
            db,
            token,
        } => {
            let journal = open_journal(globals, db.as_deref())?;
            let (_, signer, session) = record_signer(globals, &token)?;
            let cert = record_certificate(&session, RECORD_SIGNING_LABEL).with_context(|| {
                "no record can be signed without the key's certificate: run the hsm-initialisation \
                 ceremony, whose record-signing step makes the key and stores it"
            })?;
            let size = if paper == "letter" {
                PageSize::Letter
            } else {
                PageSize::A4
            };
            let pdf = produce_record(&journal, &ceremony, &signer, &cert, size)?;
            // Never over an existing file, never through a link (the core's one rule).
            keyrite_core::paths::write_new_named(&out, "the record", &pdf)?;
            if let Some(c) = &cert_out {
                keyrite_core::paths::write_new_named(c, "the certificate", &cert)?;
            }
            println!(
                "Wrote the signed record of ceremony {ceremony} to {} ({} bytes)",
                out.display(),
                pdf.len()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn verify(
    globals: &Globals,
    record: &Path,
    trust: Option<&Path>,
    journal: Option<&Path>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let pdf = match std::fs::read(record) {
        Ok(b) => b,
        Err(e) => {
            println!("INVALID: cannot read {}: {e}", record.display());
            return Ok(exit::code(exit::UNREADABLE));
        }
    };
    let trust = match trust {
        Some(t) => Some(std::fs::read(t).with_context(|| format!("reading {}", t.display()))?),
        None => None,
    };
    let journal = match journal {
        Some(j) => Some(open_journal(globals, Some(j))?),
        None => None,
    };
    let v = verify_record(&pdf, trust.as_deref(), journal.as_ref());
    if json {
        print_json(&v)?;
    } else {
        println!("{}", v.verdict);
        for l in &v.checks {
            let mark = match l.outcome {
                Outcome::Pass => "ok  ",
                Outcome::Fail => "FAIL",
                Outcome::Skipped => "skip",
            };
            println!("  {mark} {:<10} {}", l.check, l.detail);
        }
    }
    Ok(exit::code(if v.unreadable {
        exit::UNREADABLE
    } else if v.valid {
        exit::OK
    } else {
        exit::INVALID
    }))
}
