//! PIN input: from the terminal without echo, or (rehearsal only) one line from an inherited
//! file descriptor for unattended runs.
//!
//! PINs go straight into [`SecretText`] and are never printed, logged or put in an error.
#![expect(
    unsafe_code,
    reason = "reads a PIN byte by byte from an inherited descriptor, without buffering past its line"
)]

use keyrite_core::profile::Mode;
use keyrite_core::secret::{SecretBytes, SecretText};

/// Where a PIN comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinSource {
    /// Typed at the terminal, without echo.
    Terminal,
    /// One line from this file descriptor (rehearsal only).
    Fd(i32),
}

impl PinSource {
    /// The source named by a `--pin-fd`-style option, refused in production.
    pub fn from_option(option: &str, fd: Option<i32>, mode: Mode) -> anyhow::Result<Self> {
        match fd {
            None => Ok(PinSource::Terminal),
            Some(_) if mode == Mode::Production => anyhow::bail!(
                "{option} is refused in production: a PIN read from a file descriptor could \
                 come from a file or a script; type the PIN at the terminal"
            ),
            Some(n) if n < 0 => anyhow::bail!("{option} {n} is not a file descriptor"),
            Some(n) => Ok(PinSource::Fd(n)),
        }
    }
}

/// Reads one PIN; `what` names it in the prompt and in messages ("user PIN of token …").
pub fn read_pin(source: PinSource, what: &str) -> anyhow::Result<SecretText> {
    let pin = match source {
        PinSource::Terminal => SecretText::new(
            rpassword::prompt_password(format!("{what}: ")).map_err(|e| {
                anyhow::anyhow!(
                    "cannot read the {what} from the terminal ({e}); run keyrite from a \
                     terminal (in rehearsal, --pin-fd/--so-pin-fd read it from a file descriptor)"
                )
            })?,
        ),
        PinSource::Fd(fd) => read_line_from_fd(fd, what)?,
    };
    if pin.is_empty() {
        anyhow::bail!("the {what} is empty; nothing was sent to the token");
    }
    Ok(pin)
}

/// Reads a new PIN twice (terminal) and checks both entries agree; from a descriptor, once.
pub fn read_new_pin(source: PinSource, what: &str) -> anyhow::Result<SecretText> {
    let pin = read_pin(source, &format!("new {what}"))?;
    if source == PinSource::Terminal {
        let again = read_pin(source, &format!("new {what} again"))?;
        if again.expose() != pin.expose() {
            anyhow::bail!("the two entries of the new {what} differ; nothing was changed");
        }
    }
    Ok(pin)
}

/// Reads bytes up to a newline from `fd` without taking ownership of it (so two PINs can come
/// from the same descriptor, one per line) and without reading past the newline.
fn read_line_from_fd(fd: i32, what: &str) -> anyhow::Result<SecretText> {
    // SAFETY: fcntl(F_GETFD) only queries the descriptor table.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        anyhow::bail!(
            "cannot read the {what} from file descriptor {fd}: it is not open; pass an inherited \
             descriptor (e.g. `3<pinfile`)"
        );
    }
    let mut buf = SecretBytes::zeroed(256);
    let mut len = 0;
    loop {
        let mut byte = 0u8;
        // SAFETY: reads at most one byte into a valid one-byte buffer.
        let n = unsafe { libc::read(fd, (&mut byte as *mut u8).cast(), 1) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            anyhow::bail!("cannot read the {what} from file descriptor {fd}: {e}");
        }
        if n == 0 || byte == b'\n' {
            break;
        }
        if len == buf.len() {
            anyhow::bail!(
                "the {what} on file descriptor {fd} is longer than {} bytes; nothing was sent \
                 to the token",
                buf.len()
            );
        }
        buf.expose_mut()[len] = byte;
        len += 1;
    }
    let mut line = &buf.expose()[..len];
    if line.last() == Some(&b'\r') {
        line = &line[..line.len() - 1];
    }
    let text = std::str::from_utf8(line)
        .map_err(|_| anyhow::anyhow!("the {what} on file descriptor {fd} is not UTF-8 text"))?;
    Ok(SecretText::new(text.to_string()))
}

/// Reads a typed confirmation line from standard input (echoed: it is not a secret).
pub fn read_confirmation(prompt: &str) -> anyhow::Result<String> {
    use std::io::Write;
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| anyhow::anyhow!("cannot read the confirmation from standard input: {e}"))?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}
