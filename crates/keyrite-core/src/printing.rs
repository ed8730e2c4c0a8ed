//! Printing through the CUPS client: a PDF is handed to `lp -d QUEUE -t TITLE -` on its
//! standard input, so Keyrite never writes it to a file. CUPS spools it (see
//! `docs/security.md`, "Printed share cards").
//!
//! The command is injectable ([`LpCommand::program`]): tests drive a fake `lp`, or the real one
//! against a private `cupsd` (`CUPS_SERVER`, inherited from the environment).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// A job CUPS accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrintedJob {
    /// The queue it went to.
    pub queue: String,
    /// CUPS's request id, e.g. `cards-12`.
    pub job_id: String,
}

/// Why a document was not printed. The message names the queue and what `lp` said.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("printing on queue \"{queue}\" failed: {message}")]
pub struct PrintError {
    /// The queue asked for.
    pub queue: String,
    /// What went wrong: `lp`'s own message (its standard error) or why it could not run.
    pub message: String,
}

/// Submits documents to a print queue.
pub trait Spooler: Send + Sync {
    /// Prints `pdf` on `queue` under `title`; the job's id on success.
    fn print(&self, queue: &str, title: &str, pdf: &[u8]) -> Result<PrintedJob, PrintError>;
}

/// The CUPS client `lp` (or a stand-in with its interface).
#[derive(Debug, Clone)]
pub struct LpCommand {
    /// The program run as `PROGRAM -d QUEUE -t TITLE -`; `lp` from `PATH` by default.
    pub program: PathBuf,
    /// `CUPS_SERVER` for it (a host or a scheduler's socket); `None`: inherited.
    pub server: Option<PathBuf>,
}

impl Default for LpCommand {
    fn default() -> Self {
        LpCommand {
            program: PathBuf::from("lp"),
            server: None,
        }
    }
}

/// A queue name Keyrite accepts: 1 to 127 ASCII letters, digits, `-`, `_`, `.`, starting
/// with a letter or digit (CUPS allows more; these never need quoting and never read as an
/// option).
pub fn check_queue_name(name: &str) -> Result<(), String> {
    let ok_first = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    let ok_rest = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if name.is_empty() || name.len() > 127 || !ok_first || !ok_rest {
        return Err(format!(
            "print queue name {name:?} is not a CUPS queue name Keyrite accepts: 1 to 127 ASCII \
             letters, digits, '-', '_' or '.', starting with a letter or digit"
        ));
    }
    Ok(())
}

/// The request id in `lp`'s answer ("request id is QUEUE-N (1 file(s))").
pub fn parse_request_id(stdout: &str) -> Option<String> {
    stdout.lines().find_map(|l| {
        let rest = l.trim().strip_prefix("request id is ")?;
        let id = rest.split_whitespace().next()?;
        (!id.is_empty()).then(|| id.to_string())
    })
}

impl Spooler for LpCommand {
    fn print(&self, queue: &str, title: &str, pdf: &[u8]) -> Result<PrintedJob, PrintError> {
        let fail = |message: String| PrintError {
            queue: queue.to_string(),
            message,
        };
        check_queue_name(queue).map_err(fail)?;
        let mut cmd = Command::new(&self.program);
        if let Some(server) = &self.server {
            cmd.env("CUPS_SERVER", server);
        }
        let mut child = cmd
            .args(["-d", queue, "-t", title, "-"])
            // lp's answer is parsed: in English whatever the operator's locale.
            .env("LC_ALL", "C")
            .env("LANG", "C")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| fail(format!("cannot run {}: {e}", self.program.display())))?;
        let written = match child.stdin.take() {
            Some(mut stdin) => stdin.write_all(pdf).and_then(|()| stdin.flush()),
            None => Ok(()),
        };
        let out = child
            .wait_with_output()
            .map_err(|e| fail(format!("waiting for {}: {e}", self.program.display())))?;
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !out.status.success() {
            let said = if stderr.is_empty() { stdout } else { stderr };
            return Err(fail(format!(
                "{} failed ({}): {said}",
                self.program.display(),
                out.status
            )));
        }
        if let Err(e) = written {
            return Err(fail(format!(
                "the document could not be handed to {}: {e}",
                self.program.display()
            )));
        }
        let job_id = parse_request_id(&stdout).ok_or_else(|| {
            fail(format!(
                "{} gave no request id (it said: {stdout:?})",
                self.program.display()
            ))
        })?;
        Ok(PrintedJob {
            queue: queue.to_string(),
            job_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_id_is_read_from_lps_answer() {
        assert_eq!(
            parse_request_id("request id is cards-12 (0 file(s))\n").as_deref(),
            Some("cards-12")
        );
        assert_eq!(parse_request_id("lp: Error - no such printer"), None);
    }

    #[test]
    fn queue_names_are_checked() {
        assert!(check_queue_name("share-cards_1.a").is_ok());
        for bad in ["", "-d", "a b", "a/b", "a#b", &"q".repeat(128)] {
            assert!(check_queue_name(bad).is_err(), "{bad:?}");
        }
    }
}
