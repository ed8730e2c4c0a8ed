//! A pseudo-terminal driver for the interactive CLI: `keyrite` runs with a PTY as its
//! controlling terminal and as standard input, output and error, as in a terminal window.
//! The test reads everything the program writes (escape sequences included), types lines,
//! and types secrets only once the prompt is shown *and* the terminal's echo is off, which it
//! reads from the terminal itself (`tcgetattr` on the master reports the slave's modes on
//! Linux), so "PINs are typed without echo" is checked at each PIN, not assumed.
#![expect(
    unsafe_code,
    reason = "test fixture: openpty, setsid and TIOCSCTTY for a child's controlling terminal"
)]

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How long one `expect` waits before the test fails with what the screen showed.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// What the reader thread has seen so far, and whether the terminal was closed.
#[derive(Default)]
struct Screen {
    bytes: Vec<u8>,
    closed: bool,
}

/// A program running on a pseudo-terminal.
pub struct Pty {
    master: std::fs::File,
    child: Child,
    seen: Arc<(Mutex<Screen>, Condvar)>,
    reader: Option<std::thread::JoinHandle<()>>,
    /// Where the next `expect` starts looking (bytes already matched are behind it).
    cursor: usize,
    /// Every secret typed, so `finish` can check none of them was ever written back.
    typed_secrets: Vec<String>,
}

impl Pty {
    /// Starts `cmd` with a new PTY (200 columns, so lines do not wrap) as its controlling
    /// terminal and its standard input, output and error.
    pub fn spawn(mut cmd: Command) -> Self {
        let (mut m, mut s) = (-1, -1);
        let ws = libc::winsize {
            ws_row: 50,
            ws_col: 200,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: openpty writes two descriptors into valid ints; name and termios are null
        // (defaults), the window size is a valid struct.
        let rc =
            unsafe { libc::openpty(&mut m, &mut s, std::ptr::null_mut(), std::ptr::null(), &ws) };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: both descriptors were just returned by openpty and are owned here alone.
        let (master, slave) = unsafe { (OwnedFd::from_raw_fd(m), OwnedFd::from_raw_fd(s)) };
        // SAFETY: fcntl on a descriptor we own; the master must not leak into the child.
        unsafe {
            libc::fcntl(master.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC);
        }
        let dup = |fd: &OwnedFd| Stdio::from(fd.try_clone().expect("dup the PTY slave"));
        cmd.stdin(dup(&slave))
            .stdout(dup(&slave))
            .stderr(dup(&slave));
        // SAFETY: setsid and ioctl are async-signal-safe; the child becomes a session leader
        // and takes the PTY (its stdin) as controlling terminal, so /dev/tty is this PTY.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("start the program on the PTY");
        drop(slave);
        let master = std::fs::File::from(master);
        let seen = Arc::new((Mutex::new(Screen::default()), Condvar::new()));
        let mut rd = master.try_clone().expect("dup the PTY master");
        let shared = Arc::clone(&seen);
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                // EIO once the last slave descriptor is closed: the program has exited.
                let n = rd.read(&mut buf).unwrap_or(0);
                let (lock, cv) = &*shared;
                // A test that failed while holding the lock poisons it; keep reading anyway.
                let mut s = lock
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if n == 0 {
                    s.closed = true;
                    cv.notify_all();
                    return;
                }
                s.bytes.extend_from_slice(&buf[..n]);
                cv.notify_all();
            }
        });
        Self {
            master,
            child,
            seen,
            reader: Some(reader),
            cursor: 0,
            typed_secrets: Vec::new(),
        }
    }

    /// Everything the program wrote so far, as text (carriage returns kept).
    pub fn output(&self) -> String {
        let s = self.seen.0.lock().expect("screen lock");
        String::from_utf8_lossy(&s.bytes).into_owned()
    }

    /// Waits until `needle` appears after the cursor; moves the cursor past it and returns the
    /// text from the old cursor to the end of the match. Fails with the screen's tail when the
    /// program ends or [`TIMEOUT`] passes first.
    pub fn expect(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + TIMEOUT;
        let (lock, cv) = &*self.seen;
        let mut s = lock.lock().expect("screen lock");
        loop {
            let hay = &s.bytes[self.cursor.min(s.bytes.len())..];
            if let Some(at) = find(hay, needle.as_bytes()) {
                let end = self.cursor + at + needle.len();
                let text = String::from_utf8_lossy(&s.bytes[self.cursor..end]).into_owned();
                self.cursor = end;
                return text;
            }
            let now = Instant::now();
            if s.closed || now >= deadline {
                let all = String::from_utf8_lossy(&s.bytes).into_owned();
                let tail: String = all
                    .chars()
                    .rev()
                    .take(3000)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                panic!(
                    "the program {} before showing {needle:?}; its last output:\n{tail}",
                    if s.closed { "ended" } else { "timed out" }
                );
            }
            s = cv.wait_timeout(s, deadline - now).expect("screen lock").0;
        }
    }

    /// Waits until one of `needles` appears after the cursor; the one that starts first wins
    /// (the longer on a tie, so "new SO PIN: " is not taken for "SO PIN: "). Moves the cursor
    /// past it and returns its index and the text *before* it.
    pub fn expect_any(&mut self, needles: &[&str]) -> (usize, String) {
        let deadline = Instant::now() + TIMEOUT;
        let (lock, cv) = &*self.seen;
        let mut s = lock.lock().expect("screen lock");
        loop {
            let from = self.cursor.min(s.bytes.len());
            let hay = &s.bytes[from..];
            let best = needles
                .iter()
                .enumerate()
                .filter_map(|(i, n)| {
                    find(hay, n.as_bytes()).map(|at| (at, usize::MAX - n.len(), i))
                })
                .min();
            if let Some((at, _, i)) = best {
                let text = String::from_utf8_lossy(&hay[..at]).into_owned();
                self.cursor = from + at + needles[i].len();
                return (i, text);
            }
            let now = Instant::now();
            if s.closed || now >= deadline {
                let all = String::from_utf8_lossy(&s.bytes[from..]).into_owned();
                panic!(
                    "the program {} before showing any of {needles:?}; its output since the last \
                     prompt:\n{all}",
                    if s.closed { "ended" } else { "timed out" }
                );
            }
            s = cv.wait_timeout(s, deadline - now).expect("screen lock").0;
        }
    }

    /// Types `text` and Enter (for answers that are shown: names, "yes", ids).
    pub fn line(&mut self, text: &str) {
        self.master
            .write_all(format!("{text}\n").as_bytes())
            .expect("type on the PTY");
    }

    /// Waits for `prompt`, then until the terminal's echo is off, then types `secret` and
    /// Enter. Fails if echo stays on: the secret would have been shown. [`Pty::finish`]
    /// checks that the secret never appears in the output.
    pub fn secret(&mut self, prompt: &str, secret: &str) {
        self.hidden(prompt, secret);
        self.typed_secrets.push(secret.to_string());
    }

    /// As [`Pty::secret`], for text typed at a hidden prompt that the screen may show at
    /// another time (the type-back of a share shown a moment before).
    pub fn hidden(&mut self, prompt: &str, secret: &str) {
        self.expect(prompt);
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.echo_on() {
            assert!(
                Instant::now() < deadline,
                "terminal echo is still on at the prompt {prompt:?}: the secret would be shown"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        self.line(secret);
    }

    /// Whether the terminal echoes what is typed (`ECHO` in the PTY's local modes).
    pub fn echo_on(&self) -> bool {
        // SAFETY: termios is plain data; tcgetattr fills it from a descriptor we own.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let rc = unsafe { libc::tcgetattr(self.master.as_raw_fd(), &mut t) };
        assert_eq!(rc, 0, "tcgetattr: {}", std::io::Error::last_os_error());
        t.c_lflag & libc::ECHO != 0
    }

    /// Waits for the program to exit (within [`TIMEOUT`]) and returns its status and
    /// everything it wrote, after checking that no secret typed was ever written back.
    pub fn finish(mut self) -> (ExitStatus, String) {
        let deadline = Instant::now() + TIMEOUT;
        let status = loop {
            if let Some(st) = self.child.try_wait().expect("wait for the program") {
                break st;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                panic!("the program did not exit; its output:\n{}", self.output());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        let out = self.output();
        for s in &self.typed_secrets {
            assert!(
                !out.contains(s.as_str()),
                "a secret typed at a hidden prompt appears in the terminal output"
            );
        }
        (status, out)
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        if self.reader.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The text a test asserts against: the terminal's `\r\n` line ends made `\n`.
pub fn plain(text: &str) -> String {
    text.replace("\r\n", "\n")
}
