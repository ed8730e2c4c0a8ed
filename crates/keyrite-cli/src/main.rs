//! `keyrite`: Keyrite's command line. Headless ceremonies, verification and export.
//!
//! A thin face over `keyrite-core`: parse arguments, open the environment, call the core,
//! print. Errors reach the user as one line saying what failed and what to do.

mod cmd;
mod exit;
mod generate;
mod output;
mod pin;
mod version;

use clap::{CommandFactory, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Keyrite: key ceremonies with HSMs, Shamir shares, quorum approvals and signed records.
// The version flag is ours: it hashes the running binary, which clap's static text cannot.
#[derive(Debug, Parser)]
#[command(
    name = "keyrite",
    version,
    disable_version_flag = true,
    disable_help_subcommand = true,
    after_help = exit::help_text(),
)]
struct Cli {
    /// Print the version, source commit and this binary's SHA-256 (hex and words), then exit.
    #[arg(short = 'V', long)]
    version: bool,
    /// Site profile (TOML). Without one, Keyrite runs in rehearsal on its embedded SoftHSM2.
    #[arg(long, global = true, value_name = "FILE")]
    profile: Option<PathBuf>,
    /// Data directory (default: $KEYRITE_DATA_DIR, else $XDG_DATA_HOME/keyrite).
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
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
    /// Signed ceremony records: produce, verify.
    #[command(subcommand)]
    Record(cmd::record::RecordCommand),
    /// Print the completion script for a shell on standard output.
    Completions {
        /// The shell.
        shell: generate::Shell,
    },
    /// Write the man pages (keyrite.1 and one per subcommand) into a directory (packaging).
    #[command(hide = true)]
    Man {
        /// Existing directory; no page in it is overwritten.
        #[arg(long, value_name = "DIR")]
        out_dir: PathBuf,
    },
}

#[expect(unsafe_code, reason = "one libc call, explained where it is made")]
fn main() -> ExitCode {
    // Die quietly on a closed pipe (`keyrite … | head`) like other Unix tools, instead of
    // panicking inside println!.
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let hardening = keyrite_core::hardening::harden_process();
    output::init_logging();
    tracing::debug!(?hardening, "process hardened");
    // Usage errors exit with clap's 2 (exit::USAGE); help exits 0.
    let cli = Cli::parse();
    if cli.version {
        print!("{}", version::text());
        return exit::code(exit::OK);
    }
    let Some(command) = cli.command else {
        eprintln!("{}", Cli::command().render_help());
        return exit::code(exit::USAGE);
    };
    let globals = cmd::Globals {
        profile: cli.profile,
        data_dir: cli.data_dir,
    };
    let result = match command {
        Command::Hsm(c) => cmd::hsm::run(&globals, c),
        Command::Ceremony(c) => cmd::ceremony::run(&globals, c),
        Command::Journal(c) => cmd::journal::run(&globals, c),
        Command::Inventory(c) => cmd::inventory::run(&globals, c),
        Command::Shares(c) => cmd::shares::run(c),
        Command::Record(c) => cmd::record::run(&globals, c),
        Command::Completions { shell } => {
            generate::completions(&mut Cli::command(), shell, &mut std::io::stdout());
            Ok(exit::code(exit::OK))
        }
        Command::Man { out_dir } => generate::man_pages(&Cli::command(), &out_dir).map(|pages| {
            println!("Wrote {} man pages to {}", pages.len(), out_dir.display());
            exit::code(exit::OK)
        }),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprint!("{}", error_report(&e));
            exit::code(exit::ERROR)
        }
    }
}

/// The whole cause chain, one cause per line. Core errors often carry their cause in their own
/// message as well as in `source()` (thiserror's `"…: {0}"` with `#[from]`); a cause whose text
/// is already printed is left out, so each is said once.
fn error_report(e: &anyhow::Error) -> String {
    let mut out = format!("keyrite: error: {e}\n");
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(&format!("  caused by: {text}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::error_report;

    #[derive(Debug)]
    struct Locked;
    impl std::fmt::Display for Locked {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("the journal is locked")
        }
    }
    impl std::error::Error for Locked {}

    /// Says its cause in its message and as its source, as thiserror's `"…: {0}"` + `#[from]`.
    #[derive(Debug)]
    struct Opening(Locked);
    impl std::fmt::Display for Opening {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "opening the journal: {}", self.0)
        }
    }
    impl std::error::Error for Opening {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn every_cause_once() {
        // A context over a cause: both said.
        let e = anyhow::Error::new(Locked).context("reading /data/journal.sqlite");
        assert_eq!(
            error_report(&e),
            "keyrite: error: reading /data/journal.sqlite\n  caused by: the journal is locked\n"
        );
        // A core error that already says its cause: said once.
        let e = anyhow::Error::new(Opening(Locked));
        assert_eq!(
            error_report(&e),
            "keyrite: error: opening the journal: the journal is locked\n"
        );
    }
}
