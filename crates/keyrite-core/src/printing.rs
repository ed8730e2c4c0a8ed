//! Printing through the CUPS client: a PDF is handed to `lp -d QUEUE -t TITLE -` on its
//! standard input, so Keyrite never writes it to a file. CUPS spools it (see
//! `docs/security.md`, "Printed share cards").
//!
//! The command is injectable ([`LpCommand::program`]): tests drive a fake `lp`, or the real one
//! against a private `cupsd` (`CUPS_SERVER`, inherited from the environment).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

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
    /// How long `lp` may take: a spooler that hangs must not hang the ceremony.
    pub timeout: Duration,
}

/// How long `lp` may take by default: it only hands the job to the scheduler.
pub const LP_TIMEOUT: Duration = Duration::from_secs(60);

impl Default for LpCommand {
    fn default() -> Self {
        LpCommand {
            program: PathBuf::from("lp"),
            server: None,
            timeout: LP_TIMEOUT,
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

/// What `lp` ended with: its status, whether the document was handed over, its output.
type Finished = (ExitStatus, std::io::Result<()>, Vec<u8>, Vec<u8>);

impl LpCommand {
    /// Hands `pdf` to the running `child` and waits for it, at most [`LpCommand::timeout`]:
    /// the document is written and the output read on their own threads (borrowing `pdf`,
    /// never copying it), so a child that stops reading cannot block the wait.
    fn finish(&self, child: &mut Child, pdf: &[u8]) -> Result<Finished, String> {
        let stdin = child.stdin.take();
        let out = child.stdout.take();
        let err = child.stderr.take();
        let read = |pipe: Option<Box<dyn std::io::Read + Send>>| {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        };
        std::thread::scope(|s| {
            let writer = s.spawn(move || match stdin {
                Some(mut w) => w.write_all(pdf).and_then(|()| w.flush()),
                None => Ok(()),
            });
            let out = s.spawn(move || read(out.map(|p| Box::new(p) as _)));
            let err = s.spawn(move || read(err.map(|p| Box::new(p) as _)));
            let deadline = Instant::now() + self.timeout;
            let status = loop {
                match child.try_wait() {
                    Ok(Some(status)) => break Ok(status),
                    Ok(None) if Instant::now() >= deadline => {
                        // Killing it closes the pipes, so the threads above end too.
                        let _ = child.kill();
                        let _ = child.wait();
                        break Err(format!(
                            "{} did not finish within {:?} and was stopped; the job may or may \
                             not be queued: check with `lpstat -o` and cancel it before printing \
                             again",
                            self.program.display(),
                            self.timeout
                        ));
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                    Err(e) => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break Err(format!("waiting for {}: {e}", self.program.display()));
                    }
                }
            };
            let written = writer
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("the writer thread panicked")));
            let out = out.join().unwrap_or_default();
            let err = err.join().unwrap_or_default();
            status.map(|st| (st, written, out, err))
        })
    }
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
        let (status, written, stdout, stderr) = self.finish(&mut child, pdf).map_err(fail)?;
        let stderr = String::from_utf8_lossy(&stderr).trim().to_string();
        let stdout = String::from_utf8_lossy(&stdout).trim().to_string();
        if !status.success() {
            let said = if stderr.is_empty() { stdout } else { stderr };
            return Err(fail(format!(
                "{} failed ({}): {said}",
                self.program.display(),
                status
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
