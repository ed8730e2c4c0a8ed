//! Secret memory: fixed-size buffers whose pages are locked in RAM and zeroized on drop.
//!
//! Every secret that Keyrite holds on the host (the root KEK between generation and import,
//! shares, PINs, passphrases) lives in a [`SecretBytes`]. The buffer is allocated once with
//! its final size (a growing `Vec` would leave copies behind), its pages are `mlock`ed so they
//! never reach swap and marked `MADV_DONTDUMP`, and it is zeroized before being freed.
//! `SecretBytes` has no `Clone`, no `Serialize`, and its `Debug` prints only the length.
#![expect(
    unsafe_code,
    reason = "secrets are locked in memory and kept out of core dumps with mlock/madvise"
)]

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use zeroize::Zeroize;

static LOCK_REFUSAL_LOGGED: AtomicBool = AtomicBool::new(false);

/// A fixed-length secret byte buffer, locked in memory and zeroized on drop.
pub struct SecretBytes {
    buf: Box<[u8]>,
    locked: bool,
}

impl SecretBytes {
    /// Allocates `len` zero bytes and locks their pages.
    pub fn zeroed(len: usize) -> Self {
        let buf = vec![0u8; len].into_boxed_slice();
        let locked = lock_pages(&buf);
        Self { buf, locked }
    }

    /// Copies `bytes` into a new locked buffer. The caller remains responsible for zeroizing
    /// its own copy.
    pub fn from_slice(bytes: &[u8]) -> Self {
        let mut s = Self::zeroed(bytes.len());
        s.buf.copy_from_slice(bytes);
        s
    }

    /// Moves `bytes` into a locked buffer, zeroizing the source vector.
    pub fn from_vec_zeroizing(mut bytes: Vec<u8>) -> Self {
        let s = Self::from_slice(&bytes);
        bytes.zeroize();
        s
    }

    /// The secret bytes. Keep the borrow short and never log what it returns.
    pub fn expose(&self) -> &[u8] {
        &self.buf
    }

    /// Mutable access, for filling the buffer in place (e.g. from a RNG or a KDF).
    pub fn expose_mut(&mut self) -> &mut [u8] {
        &mut self.buf
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether the buffer is empty.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Whether the operating system agreed to lock this buffer's pages.
    pub fn is_locked(&self) -> bool {
        self.locked
    }
}

impl Drop for SecretBytes {
    fn drop(&mut self) {
        self.buf.zeroize();
        if self.locked {
            // SAFETY: unlocking the range we locked; the memory is still allocated.
            unsafe {
                libc::munlock(self.buf.as_ptr().cast(), self.buf.len());
            }
        }
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes({} bytes, redacted)", self.buf.len())
    }
}

impl PartialEq for SecretBytes {
    /// Constant-time comparison (length is not secret).
    fn eq(&self, other: &Self) -> bool {
        if self.buf.len() != other.buf.len() {
            return false;
        }
        let mut diff = 0u8;
        for (a, b) in self.buf.iter().zip(other.buf.iter()) {
            diff |= a ^ b;
        }
        diff == 0
    }
}

fn lock_pages(buf: &[u8]) -> bool {
    if buf.is_empty() {
        return true;
    }
    let ptr = buf.as_ptr().cast::<libc::c_void>();
    // SAFETY: ptr/len describe memory we own for the lifetime of the buffer.
    let ok = unsafe { libc::mlock(ptr, buf.len()) } == 0;
    // MADV_DONTDUMP needs a page-aligned start; apply it to the whole pages covering the buffer.
    // SAFETY: sysconf has no memory-safety preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as usize;
    let start = (ptr as usize) & !(page - 1);
    let end = (ptr as usize + buf.len()).div_ceil(page) * page;
    // SAFETY: advising pages that belong to our heap; the advice does not change contents.
    unsafe {
        libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTDUMP);
    }
    if !ok && !LOCK_REFUSAL_LOGGED.swap(true, Ordering::Relaxed) {
        let err = std::io::Error::last_os_error();
        tracing::warn!(
            "the OS refused to lock secret memory ({err}); secrets may reach swap. \
             Raise RLIMIT_MEMLOCK (ulimit -l) or turn swap off on the ceremony machine"
        );
    }
    ok
}

/// A secret text (PIN, passphrase) kept in a [`SecretBytes`].
pub struct SecretText(SecretBytes);

impl SecretText {
    /// Takes ownership of `s`, zeroizing the original `String`.
    pub fn new(mut s: String) -> Self {
        let inner = SecretBytes::from_slice(s.as_bytes());
        s.zeroize();
        Self(inner)
    }

    /// The text. Keep the borrow short and never log what it returns.
    pub fn expose(&self) -> &str {
        // Constructed only from a `String`, so always valid UTF-8.
        std::str::from_utf8(self.0.expose()).unwrap_or("")
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretText(redacted)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_contents() {
        let s = SecretBytes::from_slice(b"top secret kek bytes");
        let shown = format!("{s:?}");
        assert_eq!(shown, "SecretBytes(20 bytes, redacted)");
        let t = SecretText::new("123456".to_string());
        assert_eq!(format!("{t:?}"), "SecretText(redacted)");
        assert_eq!(t.expose(), "123456");
    }

    #[test]
    fn small_buffers_are_locked_under_default_limit() {
        // The default RLIMIT_MEMLOCK (8 MiB on Debian) easily covers a 32-byte key.
        let s = SecretBytes::zeroed(32);
        assert!(s.is_locked());
        assert_eq!(s.len(), 32);
    }

    #[test]
    fn equality_is_by_content() {
        assert_eq!(
            SecretBytes::from_slice(b"ab"),
            SecretBytes::from_slice(b"ab")
        );
        assert_ne!(
            SecretBytes::from_slice(b"ab"),
            SecretBytes::from_slice(b"ac")
        );
        assert_ne!(
            SecretBytes::from_slice(b"ab"),
            SecretBytes::from_slice(b"abc")
        );
    }
}
