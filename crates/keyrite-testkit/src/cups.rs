//! A private CUPS scheduler for printing tests: its own configuration, spool, logs and a
//! Unix socket under a temporary directory (reach it with `CUPS_SERVER=<socket>`), and raw
//! queues whose device is a tiny backend that copies each job to `jobs/job-<N>.pdf`.
//!
//! Needs Debian's `cups` (cupsd) and `cups-client` (lp, lpadmin, lpstat), which `.ci/setup.sh`
//! installs, and root: the backend is mode 0700 so that cupsd runs it as root. Nothing is
//! skipped: [`PrivateCups::start`] returns why the scheduler could not start.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The backend scheme of the test queues.
pub const BACKEND: &str = "keyrite-copy";

/// A running private `cupsd`; stopped (by its own pid) when dropped.
pub struct PrivateCups {
    dir: tempfile::TempDir,
    child: Child,
}

fn tool(name: &str) -> Result<PathBuf, String> {
    for d in ["/usr/sbin", "/usr/bin", "/sbin", "/bin"] {
        let p = Path::new(d).join(name);
        if p.exists() {
            return Ok(p);
        }
    }
    Err(format!(
        "{name} is not installed: run .ci/setup.sh (it installs Debian's cups and cups-client)"
    ))
}

impl PrivateCups {
    /// Starts `cupsd -f` on a private configuration and waits until it answers.
    pub fn start() -> Result<Self, String> {
        let cupsd = tool("cupsd")?;
        tool("lpadmin")?;
        tool("lp")?;
        // /proc/self belongs to the process's effective user.
        let uid = std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m));
        if uid.ok() != Some(0) {
            return Err("the private cupsd runs its copying backend as root: run the test as root (CI does)".into());
        }
        let dir = tempfile::Builder::new()
            .prefix("kr-cups")
            .tempdir()
            .map_err(|e| format!("temporary directory: {e}"))?;
        let d = dir.path();
        for sub in [
            "etc",
            "spool",
            "tmp",
            "cache",
            "state",
            "bin/backend",
            "log",
            "jobs",
        ] {
            std::fs::create_dir_all(d.join(sub)).map_err(|e| format!("{sub}: {e}"))?;
        }
        // cupsd runs programs from ServerBin: the system's helpers, and our backend.
        for sub in ["daemon", "filter"] {
            std::os::unix::fs::symlink(
                Path::new("/usr/lib/cups").join(sub),
                d.join("bin").join(sub),
            )
            .map_err(|e| format!("bin/{sub}: {e}"))?;
        }
        let jobs = d.join("jobs");
        let backend = d.join("bin/backend").join(BACKEND);
        std::fs::write(
            &backend,
            format!(
                "#!/bin/sh\n\
                 # CUPS backend: no arguments lists the device; else job user title copies options [file].\n\
                 if [ $# -eq 0 ]; then echo 'direct {BACKEND} \"Unknown\" \"Keyrite test copy\"'; exit 0; fi\n\
                 if [ -n \"$6\" ]; then cat \"$6\"; else cat; fi > \"{jobs}/job-$1.tmp\" && mv \"{jobs}/job-$1.tmp\" \"{jobs}/job-$1.pdf\"\n",
                jobs = jobs.display()
            ),
        )
        .map_err(|e| format!("backend: {e}"))?;
        std::fs::set_permissions(&backend, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| format!("backend: {e}"))?;
        let files_conf = d.join("cups-files.conf");
        std::fs::write(
            &files_conf,
            format!(
                "ServerRoot {d}/etc\nRequestRoot {d}/spool\nTempDir {d}/tmp\nCacheDir {d}/cache\n\
                 StateDir {d}/state\nServerBin {d}/bin\nDataDir /usr/share/cups\n\
                 DocumentRoot /usr/share/cups/doc-root\nErrorLog {d}/log/error_log\n\
                 AccessLog {d}/log/access_log\nPageLog {d}/log/page_log\nPrintcap {d}/printcap\n\
                 FileDevice No\n",
                d = d.display()
            ),
        )
        .map_err(|e| format!("cups-files.conf: {e}"))?;
        let conf = d.join("etc/cupsd.conf");
        std::fs::write(
            &conf,
            format!(
                "Listen {sock}\nLogLevel info\nBrowsing No\nWebInterface No\nDefaultAuthType None\n\
                 PreserveJobFiles No\nPreserveJobHistory Yes\n\
                 <Location />\nOrder allow,deny\nAllow all\n</Location>\n\
                 <Policy default>\n<Limit All>\nOrder deny,allow\nAllow all\n</Limit>\n</Policy>\n",
                sock = d.join("cups.sock").display()
            ),
        )
        .map_err(|e| format!("cupsd.conf: {e}"))?;
        let child = Command::new(cupsd)
            .arg("-f")
            .arg("-c")
            .arg(&conf)
            .arg("-s")
            .arg(&files_conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("log/cupsd.stderr")).map_err(|e| e.to_string())?)
            .spawn()
            .map_err(|e| format!("cannot start cupsd: {e}"))?;
        let mut cups = PrivateCups { dir, child };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = cups.child.try_wait() {
                return Err(format!("cupsd exited at start ({status}): {}", cups.logs()));
            }
            let o = cups.client("lpstat", &["-r"]);
            if o.as_ref().is_ok_and(|o| o.contains("scheduler is running")) {
                return Ok(cups);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "cupsd did not answer on {} within 20 s (lpstat -r: {o:?}): {}",
                    cups.server().display(),
                    cups.logs()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The scheduler's socket: the value of `CUPS_SERVER` for its clients.
    pub fn server(&self) -> PathBuf {
        self.dir.path().join("cups.sock")
    }

    /// Where the test queues' backend copies each job (`job-<N>.pdf`).
    pub fn jobs_dir(&self) -> PathBuf {
        self.dir.path().join("jobs")
    }

    /// The scheduler's spool (`RequestRoot`).
    pub fn spool_dir(&self) -> PathBuf {
        self.dir.path().join("spool")
    }

    /// The error log and cupsd's standard error, for failure messages.
    pub fn logs(&self) -> String {
        let read = |p: &str| std::fs::read_to_string(self.dir.path().join(p)).unwrap_or_default();
        format!("{}{}", read("log/cupsd.stderr"), read("log/error_log"))
    }

    /// Runs a CUPS client (`lpadmin`, `lpstat`, …) against this scheduler; its stdout, or why
    /// it failed.
    pub fn client(&self, name: &str, args: &[&str]) -> Result<String, String> {
        let o = Command::new(tool(name)?)
            .args(args)
            .env("CUPS_SERVER", self.server())
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("{name}: {e}"))?;
        if !o.status.success() {
            return Err(format!(
                "{name} {args:?}: {} {}",
                o.status,
                String::from_utf8_lossy(&o.stderr)
            ));
        }
        Ok(String::from_utf8_lossy(&o.stdout).into_owned())
    }

    /// Adds an enabled raw queue `name` whose device copies each job to [`Self::jobs_dir`].
    pub fn add_raw_queue(&self, name: &str) -> Result<(), String> {
        self.client(
            "lpadmin",
            &[
                "-p",
                name,
                "-E",
                "-v",
                &format!("{BACKEND}:/jobs"),
                "-m",
                "raw",
            ],
        )
        .map(|_| ())
    }

    /// Waits until `n` jobs arrived in [`Self::jobs_dir`]; their paths, sorted by job number.
    pub fn wait_for_jobs(&self, n: usize, timeout: Duration) -> Result<Vec<PathBuf>, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let mut jobs: Vec<(u32, PathBuf)> = std::fs::read_dir(self.jobs_dir())
                .map_err(|e| e.to_string())?
                .filter_map(|e| e.ok())
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let n = name
                        .strip_prefix("job-")?
                        .strip_suffix(".pdf")?
                        .parse()
                        .ok()?;
                    Some((n, e.path()))
                })
                .collect();
            if jobs.len() >= n {
                jobs.sort();
                return Ok(jobs.into_iter().map(|(_, p)| p).collect());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{} of {n} jobs arrived within {timeout:?}: {}",
                    jobs.len(),
                    self.logs()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for PrivateCups {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
