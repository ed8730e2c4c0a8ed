//! `keyrite ceremony …`: validate, show, run, resume, status.

mod run;

use crate::cmd::Globals;
use crate::output::print_json;
use clap::Subcommand;
use keyrite_core::script::{Script, SignOffCount};
use keyrite_core::view::ScriptView;
use std::path::PathBuf;
use std::process::ExitCode;

/// Ceremony commands.
#[derive(Debug, Subcommand)]
pub enum CeremonyCommand {
    /// Check a ceremony script; exit 0 when valid, 1 with every problem (file:line:column: key: …).
    Validate {
        /// The script (TOML).
        script: PathBuf,
        /// Print the valid script as JSON (what the desktop shows before a ceremony).
        #[arg(long)]
        json: bool,
    },
    /// Show a script: title, purpose, roles, K of N, steps, and its SHA-256 as hex and words.
    Show {
        /// The script (TOML).
        script: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Run a ceremony (resumes an unfinished one of the same script).
    Run {
        /// The script (TOML).
        script: PathBuf,
        /// Unattended rehearsal: take every answer from this TOML file (refused in production).
        #[arg(long, value_name = "FILE")]
        answers: Option<PathBuf>,
    },
    /// Resume the unfinished ceremony of SCRIPT.
    Resume {
        /// The script it started with.
        script: PathBuf,
        /// Unattended rehearsal answers (refused in production).
        #[arg(long, value_name = "FILE")]
        answers: Option<PathBuf>,
    },
    /// Ceremonies in the journal: finished and unfinished.
    Status {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a `ceremony` command.
pub fn run(globals: &Globals, command: CeremonyCommand) -> anyhow::Result<ExitCode> {
    match command {
        CeremonyCommand::Run { script, answers } | CeremonyCommand::Resume { script, answers } => {
            run::run(globals, &script, answers.as_deref())
        }
        CeremonyCommand::Status { json } => run::status(globals, json),
        CeremonyCommand::Validate { script, json } => {
            let s = Script::load(&script)?;
            if json {
                print_json(&ScriptView::from(&s))?;
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "{}: valid ceremony script \"{}\" ({} v{}, {} steps)",
                s.file,
                s.title,
                s.id,
                s.version,
                s.steps.len()
            );
            println!("SHA-256: {}", s.digest.hex());
            println!("Words:   {}", s.digest.words());
            Ok(ExitCode::SUCCESS)
        }
        CeremonyCommand::Show { script, json } => {
            let s = Script::load(&script)?;
            if json {
                print_json(&s)?;
            } else {
                show(&s);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn show(s: &Script) {
    println!("{}", s.title);
    println!("Script:  {} version {} ({})", s.id, s.version, s.file);
    println!("SHA-256: {}", s.digest.hex());
    println!("Words:   {}", s.digest.words());
    println!("\nPurpose:\n{}", indent(s.purpose.trim()));
    let r = &s.roles;
    println!("\nRoles:");
    println!("  administrator: {}", r.administrators);
    if r.witnesses > 0 {
        println!("  witness:       {}", r.witnesses);
    }
    if r.auditors > 0 {
        println!("  auditor:       {}", r.auditors);
    }
    if let Some(t) = r.custodians {
        println!(
            "  custodians:    {} (any {} of the {} rebuild or approve)",
            t.n(),
            t.k(),
            t.n()
        );
    }
    println!("\nSteps:");
    for st in &s.steps {
        println!(
            "  {:>2}. {} [{}] — {} by {}{}",
            st.number,
            st.title,
            st.id,
            st.action.kind(),
            st.role,
            if st.quorum { ", QUORUM" } else { "" }
        );
        let params = st.action.describe_params();
        if !params.is_empty() {
            let p: Vec<String> = params.iter().map(|(k, v)| format!("{k} = {v}")).collect();
            println!("      params:   {}", p.join(", "));
        }
        if !st.sign_offs.is_empty() {
            let so: Vec<String> = st
                .sign_offs
                .iter()
                .map(|so| {
                    let how = match so.count {
                        SignOffCount::Exactly(n) => n.to_string(),
                        SignOffCount::All => format!("all {}", so.needed(r)),
                        SignOffCount::Threshold => format!("threshold {}", so.needed(r)),
                    };
                    format!("{} × {how}", so.role)
                })
                .collect();
            println!("      sign-off: {}", so.join(", "));
        }
        if !st.compliance.is_empty() {
            let c: Vec<String> = st.compliance.iter().map(|c| c.to_string()).collect();
            println!("      controls: {}", c.join("; "));
        }
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
