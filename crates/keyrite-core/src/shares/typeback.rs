//! Typing back a share: after copying a share by hand, the custodian types the last groups of
//! their copy; the shown share leaves the screen only when they match. Both faces ask for it
//! (the desktop's share screen, `keyrite ceremony run` in a terminal).

use super::base32;
use crate::secret::SecretText;

/// How many groups from the end of the share the custodian types back.
pub const CHECK_GROUPS: usize = 2;

/// The typed-back tail does not match the share.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the check characters do not match share {index}: compare your copy with the screen, \
     character by character, and type its last two groups again"
)]
pub struct TypeBackMismatch {
    /// The share's index.
    pub index: u8,
}

/// The values of `s` as the share format reads typed text: separators dropped, case and the
/// look-alikes O → 0, I/L → 1 forgiven. A character outside the alphabet stays as itself, so
/// it can never match.
fn read(s: &str) -> Vec<Result<u8, char>> {
    s.chars()
        .filter(|c| !base32::is_separator(*c))
        .map(|c| base32::value_of(c).ok_or(c))
        .collect()
}

/// Checks that `typed` is the last [`CHECK_GROUPS`] groups of `human_form` (share `index`).
pub fn check_typed_back(
    human_form: &SecretText,
    typed: &SecretText,
    index: u8,
) -> Result<(), TypeBackMismatch> {
    let groups: Vec<&str> = human_form.expose().split_whitespace().collect();
    let tail = SecretText::new(groups[groups.len().saturating_sub(CHECK_GROUPS)..].concat());
    let want = read(tail.expose());
    let got = read(typed.expose());
    if want.is_empty() || want != got {
        return Err(TypeBackMismatch { index });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(form: &str, typed: &str) -> Result<(), TypeBackMismatch> {
        check_typed_back(
            &SecretText::new(form.into()),
            &SecretText::new(typed.into()),
            3,
        )
    }

    #[test]
    fn the_tail_is_read_as_the_share_format_reads_typing() {
        assert_eq!(check("ABCD EFGH 1O1J", "efgh-1o1j"), Ok(()));
        assert_eq!(check("ABCD EFGH 1001", "EFGH lOoI"), Ok(()));
        assert_eq!(check("ABCD EFGH 1001", "EFGH.10.01"), Ok(()));
    }

    #[test]
    fn a_wrong_or_short_tail_is_refused_with_the_index() {
        let e = check("ABCD EFGH 1001", "EFGH 1002").unwrap_err();
        assert_eq!(
            e.to_string(),
            "the check characters do not match share 3: compare your copy with the screen, \
             character by character, and type its last two groups again"
        );
        assert_eq!(
            check("ABCD EFGH 1001", "1001"),
            Err(TypeBackMismatch { index: 3 })
        );
        assert_eq!(
            check("ABCD EFGH 1001", "EFGH 1001 U"),
            Err(TypeBackMismatch { index: 3 })
        );
        assert_eq!(check("", ""), Err(TypeBackMismatch { index: 3 }));
    }
}
