//! `keyrite journal …`: head, verify, export.

use super::Globals;
use crate::exit;
use crate::output::print_json;
use anyhow::Context;
use clap::Subcommand;
use keyrite_core::journal::export::{
    export_to, ExportFormat, ExportOptions, ExportTarget, PenChoice,
};
use keyrite_core::journal::{Checkpoint, Journal};
use keyrite_core::paths::DataDir;
use keyrite_core::profile::SiteProfile;
use keyrite_core::store::StoreOptions;
use keyrite_core::view::{ExportDone, JournalHead, JournalVerdict};
use std::path::PathBuf;
use std::process::ExitCode;

/// Journal commands.
#[derive(Debug, Subcommand)]
pub enum JournalCommand {
    /// Show the tree head (size, root as hex and words).
    Head {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Verify the hash chain and Merkle head; with --checkpoint, prove the journal extends it.
    Verify {
        /// A checkpoint file (text form, e.g. typed or scanned from a record).
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<PathBuf>,
        /// SPKI SHA-256 (hex) of the trusted record-signing key; repeatable. Without it, the
        /// journal's own key (its latest stored checkpoint's signer) is used and the output
        /// says that nothing was pinned.
        #[arg(long, value_name = "HEX")]
        trust: Vec<String>,
        /// Journal database (default: the data directory's).
        #[arg(long, value_name = "FILE")]
        db: Option<PathBuf>,
        /// Also run SQLite's page check of the whole file (`PRAGMA quick_check`): reads every
        /// page once more; the hash chain does not need it.
        #[arg(long)]
        sqlite_check: bool,
        /// Print the verdict as JSON (the desktop shows the same verdict).
        #[arg(long)]
        json: bool,
    },
    /// The ceremonies most recently active, newest first (the desktop's home screen lists the
    /// same).
    Ceremonies {
        /// How many to list.
        #[arg(long, default_value_t = 10)]
        limit: usize,
        /// Journal database (default: the data directory's).
        #[arg(long, value_name = "FILE")]
        db: Option<PathBuf>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Sign a checkpoint of the journal's head with the token's record-signing key and store it.
    Checkpoint {
        /// Journal database (default: the data directory's).
        #[arg(long, value_name = "FILE")]
        db: Option<PathBuf>,
        #[command(flatten)]
        token: super::hsm::context::TokenArgs,
    },
    /// Export events for a SIEM, with a manifest (`FILE.manifest.json`). Never overwrites.
    Export {
        /// jsonl (OCSF 1.3.0), cef or syslog (RFC 5424).
        #[arg(long)]
        format: ExportFormat,
        /// Output file (must not exist), or - for standard output.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Manifest file (must not exist). Default: FILE.manifest.json; with --out -, none
        /// unless given.
        #[arg(long, value_name = "FILE")]
        manifest: Option<PathBuf>,
        /// IANA Private Enterprise Number for the syslog SD-ID (default: the site profile's
        /// [siem] syslog_enterprise_number, else the documentation number 32473).
        #[arg(long, value_name = "PEN", value_parser = clap::value_parser!(u32).range(1..))]
        enterprise_number: Option<u32>,
        /// First sequence number.
        #[arg(long, default_value_t = 0)]
        from: u64,
        /// Last sequence number (default: the last).
        #[arg(long)]
        to: Option<u64>,
        /// HOSTNAME for syslog lines.
        #[arg(long, default_value = "-")]
        hostname: String,
        /// Journal database (default: the data directory's).
        #[arg(long, value_name = "FILE")]
        db: Option<PathBuf>,
        /// Print what was written (file, manifest) as JSON; not with --out -.
        #[arg(long)]
        json: bool,
    },
}

fn db_path(globals: &Globals, db: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    Ok(match db {
        Some(d) => d,
        None => DataDir::open(globals.data_dir.as_deref())?.journal_db(),
    })
}

fn open(globals: &Globals, db: Option<PathBuf>) -> anyhow::Result<Journal> {
    let db = db_path(globals, db)?;
    Ok(Journal::open_read_only(&db, &StoreOptions::default())?)
}

/// Runs a `journal` command.
pub fn run(globals: &Globals, command: JournalCommand) -> anyhow::Result<ExitCode> {
    match command {
        JournalCommand::Head { json } => {
            let h = JournalHead::of(&open(globals, None)?);
            if json {
                print_json(&h)?;
            } else {
                println!("Journal: {}", h.origin);
                println!("Size:    {}", h.size);
                println!("Root:    {}", h.root_hex);
                println!("Words:   {}", h.root_words);
            }
            Ok(ExitCode::SUCCESS)
        }
        JournalCommand::Verify {
            checkpoint,
            trust,
            db,
            sqlite_check,
            json,
        } => {
            let path = db_path(globals, db)?;
            let j = Journal::open_read_only(&path, &StoreOptions::default())?;
            let cp = match &checkpoint {
                Some(f) => {
                    let text = std::fs::read_to_string(f)
                        .with_context(|| format!("reading {}", f.display()))?;
                    Some(
                        Checkpoint::parse(&scanned_text(&text))
                            .with_context(|| format!("in {}", f.display()))?,
                    )
                }
                None => None,
            };
            let mut trusted = Vec::new();
            for t in &trust {
                let b = hex::decode(t.trim())
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b).ok());
                trusted.push(b.with_context(|| {
                    format!("--trust {t}: expected 64 hex digits (SPKI SHA-256)")
                })?);
            }
            // Without --trust the core takes the journal's own key and says so (trust).
            let options = keyrite_core::journal::VerifyOptions { sqlite_check };
            let v = JournalVerdict::verify_with(&path, Some(&j), cp.as_ref(), &trusted, options);
            if json {
                print_json(&v)?;
            } else {
                print_verdict(&v);
            }
            Ok(exit::code(if v.ok { exit::OK } else { exit::INVALID }))
        }
        JournalCommand::Ceremonies { limit, db, json } => {
            // A data directory without a journal has no ceremony yet (the home screen says
            // the same); a --db that does not exist is an error.
            let path = db_path(globals, db.clone())?;
            let list = if db.is_none() && !path.exists() {
                Vec::new()
            } else {
                let j = Journal::open_read_only(&path, &StoreOptions::default())?;
                keyrite_core::view::recent_ceremonies(&j, limit)?
            };
            if json {
                print_json(&list)?;
            } else if list.is_empty() {
                println!("No ceremony has been journaled yet.");
            } else {
                for c in &list {
                    println!("{}", keyrite_core::view::ceremony_line(c));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        JournalCommand::Checkpoint { db, token } => {
            let db = match db {
                Some(d) => d,
                None => DataDir::open(globals.data_dir.as_deref())?.journal_db(),
            };
            let (_opened, signer, _second) = super::record::record_signer(globals, &token)?;
            let mut j = Journal::open(&db, &StoreOptions::default())?;
            let cp = j.checkpoint(&signer)?;
            println!("Signed checkpoint of {} entries:", cp.size);
            print!("{}", cp.to_text());
            Ok(ExitCode::SUCCESS)
        }
        JournalCommand::Export {
            format,
            out,
            manifest,
            enterprise_number,
            from,
            to,
            hostname,
            db,
            json,
        } => {
            let to_stdout = out.as_os_str() == "-";
            if json && to_stdout {
                anyhow::bail!(
                    "--json cannot be used with --out -: standard output carries the export"
                );
            }
            // Only the profile's [siem] settings are needed: no HSM is opened for an export.
            let profile_pen = match &globals.profile {
                Some(p) => SiteProfile::load(p)?.siem.syslog_enterprise_number,
                None => None,
            };
            let pen = PenChoice::resolve(enterprise_number, profile_pen);
            let j = open(globals, db)?;
            let opts = ExportOptions {
                format,
                from,
                to,
                hostname,
                pen: pen.pen,
            };
            let notice = pen.notice(format);
            if let Some(n) = &notice {
                eprintln!("keyrite: note: {n}");
            }
            let written = if to_stdout {
                let stdout = std::io::stdout();
                let mut lock = stdout.lock();
                export_to(
                    &j,
                    &opts,
                    ExportTarget::Writer(&mut lock),
                    manifest.as_deref(),
                )?
            } else {
                export_to(&j, &opts, ExportTarget::File(&out), manifest.as_deref())?
            };
            let done = ExportDone {
                out: out.display().to_string(),
                manifest_path: written.manifest_path.map(|p| p.display().to_string()),
                manifest: written.manifest,
                notice,
            };
            if json {
                print_json(&done)?;
                return Ok(ExitCode::SUCCESS);
            }
            let m = &done.manifest;
            let what = format!(
                "Exported entries {}..={} ({} events) to {}",
                m.first_seq,
                m.last_seq,
                m.count,
                if to_stdout {
                    "standard output".to_string()
                } else {
                    out.display().to_string()
                }
            );
            let manifest_text = match &done.manifest_path {
                Some(p) => format!("manifest {p}"),
                None => format!(
                    "no manifest written (pass --manifest FILE to keep one); file_sha256 {}",
                    m.file_sha256
                ),
            };
            // With --out - standard output carries the export only.
            if to_stdout {
                eprintln!("{what}; {manifest_text}");
            } else {
                println!("{what}; {manifest_text}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `journal verify` as text: the lines auditors and the tests read.
fn print_verdict(v: &JournalVerdict) {
    if !v.ok {
        eprintln!(
            "keyrite: journal verification FAILED: {}",
            v.error.as_deref().unwrap_or_default()
        );
        if let Some(seq) = v.first_bad_seq {
            eprintln!("first bad sequence number: {seq}");
        }
        return;
    }
    println!(
        "Journal {} verifies: {} entries",
        v.origin.as_deref().unwrap_or_default(),
        v.size
    );
    println!("Root:  {}", v.root_hex);
    println!("Words: {}", v.root_words);
    if let Some((size, root)) = &v.checkpoint {
        println!("Consistent with the checkpoint of {size} entries (root {root})");
    }
    if let Some(t) = &v.trust {
        println!("Trust: {t}");
    }
    println!("Coverage:");
    for l in &v.coverage {
        println!("  {l}");
    }
    if !v.other_signer.is_empty() {
        println!(
            "Stored checkpoints of {} entries are signed by a key that is not trusted here and were not counted",
            v.other_signer
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if let Some(w) = &v.warning {
        println!("WARNING: {w}");
    }
}

/// The checkpoint text as typed, or as `zbarimg` prints it: an optional `QR-Code:` prefix and
/// trailing blank lines are removed, and the text ends in one newline.
fn scanned_text(text: &str) -> String {
    let t = text.strip_prefix("QR-Code:").unwrap_or(text);
    format!("{}\n", t.trim_end_matches(['\n', '\r', ' ']))
}
