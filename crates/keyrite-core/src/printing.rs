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

/// Why a document was not printed: the queue, and what went wrong there.
#[derive(Debug, thiserror::Error)]
#[error("printing on queue \"{queue}\" failed: {problem}")]
pub struct PrintError {
    /// The queue asked for.
    pub queue: String,
    /// What went wrong: what `lp` said, or why it could not run.
    #[source]
    pub problem: PrintProblem,
}

/// What went wrong handing a document to `lp`. `program` is the command run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrintProblem {
    /// The queue name is not one Keyrite passes to `lp`.
    #[error(transparent)]
    QueueName(#[from] QueueNameError),
    /// `lp` could not be started.
    #[error("cannot run {}: {source}", program.display())]
    Spawn {
        /// The command.
        program: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `lp` did not end in time and was stopped.
    #[error(
        "{} did not finish within {timeout:?} and was stopped; the job may or may not be \
         queued: check with `lpstat -o` and cancel it before printing again",
        program.display()
    )]
    TimedOut {
        /// The command.
        program: PathBuf,
        /// How long it was given.
        timeout: Duration,
    },
    /// Waiting for `lp` failed.
    #[error("waiting for {}: {source}", program.display())]
    Wait {
        /// The command.
        program: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `lp` ended with a failure status.
    #[error("{} failed ({status}): {said}", program.display())]
    Failed {
        /// The command.
        program: PathBuf,
        /// Its exit status.
        status: ExitStatus,
        /// Its standard error, or its standard output when that is empty (trimmed).
        said: String,
    },
    /// The document could not be written to `lp`'s standard input.
    #[error("the document could not be handed to {}: {source}", program.display())]
    NotHandedOver {
        /// The command.
        program: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `lp` succeeded but named no job.
    #[error("{} gave no request id (it said: {stdout:?})", program.display())]
    NoRequestId {
        /// The command.
        program: PathBuf,
        /// Its standard output (trimmed).
        stdout: String,
    },
}

/// A print queue name Keyrite does not accept ([`check_queue_name`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "print queue name {name:?} is not a CUPS queue name Keyrite accepts: 1 to 127 ASCII \
     letters, digits, '-', '_' or '.', starting with a letter or digit"
)]
pub struct QueueNameError {
    /// The name refused.
    pub name: String,
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
pub fn check_queue_name(name: &str) -> Result<(), QueueNameError> {
    let ok_first = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    let ok_rest = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if name.is_empty() || name.len() > 127 || !ok_first || !ok_rest {
        return Err(QueueNameError {
            name: name.to_string(),
        });
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
    fn finish(&self, child: &mut Child, pdf: &[u8]) -> Result<Finished, PrintProblem> {
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
                        break Err(PrintProblem::TimedOut {
                            program: self.program.clone(),
                            timeout: self.timeout,
                        });
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                    Err(e) => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break Err(PrintProblem::Wait {
                            program: self.program.clone(),
                            source: e,
                        });
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
        let fail = |problem: PrintProblem| PrintError {
            queue: queue.to_string(),
            problem,
        };
        check_queue_name(queue).map_err(|e| fail(e.into()))?;
        let program = || self.program.clone();
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
            .map_err(|source| {
                fail(PrintProblem::Spawn {
                    program: program(),
                    source,
                })
            })?;
        let (status, written, stdout, stderr) = self.finish(&mut child, pdf).map_err(fail)?;
        let stderr = String::from_utf8_lossy(&stderr).trim().to_string();
        let stdout = String::from_utf8_lossy(&stdout).trim().to_string();
        if !status.success() {
            let said = if stderr.is_empty() { stdout } else { stderr };
            return Err(fail(PrintProblem::Failed {
                program: program(),
                status,
                said,
            }));
        }
        if let Err(source) = written {
            return Err(fail(PrintProblem::NotHandedOver {
                program: program(),
                source,
            }));
        }
        let job_id = parse_request_id(&stdout).ok_or_else(|| {
            fail(PrintProblem::NoRequestId {
                program: program(),
                stdout: stdout.clone(),
            })
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

    #[test]
    fn print_errors_name_the_queue_the_program_and_what_happened() {
        let lp = || PathBuf::from("/usr/bin/lp");
        let table = [
            (
                PrintProblem::from(check_queue_name("a b").unwrap_err()),
                "printing on queue \"q\" failed: print queue name \"a b\" is not a CUPS queue \
                 name Keyrite accepts: 1 to 127 ASCII letters, digits, '-', '_' or '.', starting \
                 with a letter or digit",
            ),
            (
                PrintProblem::Spawn {
                    program: lp(),
                    source: std::io::Error::from(std::io::ErrorKind::NotFound),
                },
                "printing on queue \"q\" failed: cannot run /usr/bin/lp: entity not found",
            ),
            (
                PrintProblem::TimedOut {
                    program: lp(),
                    timeout: Duration::from_millis(300),
                },
                "printing on queue \"q\" failed: /usr/bin/lp did not finish within 300ms and was \
                 stopped; the job may or may not be queued: check with `lpstat -o` and cancel it \
                 before printing again",
            ),
            (
                PrintProblem::NoRequestId {
                    program: lp(),
                    stdout: "ok".into(),
                },
                "printing on queue \"q\" failed: /usr/bin/lp gave no request id (it said: \"ok\")",
            ),
        ];
        for (problem, expected) in table {
            let e = PrintError {
                queue: "q".into(),
                problem,
            };
            assert_eq!(e.to_string(), expected);
        }
    }
}
