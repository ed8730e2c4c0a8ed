//! Names that cannot escape: the one check for every label, id and file name that comes from a
//! ceremony script, a site profile or an operator.
//!
//! Key labels become file names (`DATA/backups/<label>-<ceremony>.krbak`), inventory ids and
//! PKCS#11 labels. A name that could be read as a path (`../../elsewhere`, `a/b`, `.`), that
//! hides a file (`.x`), reads as a command-line option (`-x`), or carries bytes a terminal or a
//! record would show differently (NUL, control characters, look-alike Unicode) is refused here,
//! once, with the same message in both faces. The allowed set is deliberately small and ASCII:
//! what is printed on paper is what is on the token.

/// Characters allowed besides ASCII letters and digits.
pub const NAME_PUNCTUATION: &str = "-_.~@+";

/// Why a name was refused. Every message starts with what the name is and shows it escaped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// Nothing (or only spaces) was given.
    #[error("{what} is empty; give a name of 1 to {max} characters")]
    Empty {
        /// What the name is ("key label", "token label", "backup file name"…).
        what: &'static str,
        /// The longest name allowed.
        max: usize,
    },
    /// More bytes than the limit (the module's label limit for labels).
    #[error("{what} \"{shown}\" has {len} bytes; at most {max} are allowed ({why})")]
    TooLong {
        /// What the name is.
        what: &'static str,
        /// The name, escaped.
        shown: String,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
        /// Where the limit comes from.
        why: &'static str,
    },
    /// `.` or `..` as a whole path segment: it would name this or the parent directory.
    #[error(
        "{what} \"{shown}\" contains the dot segment \"{segment}\"; a name must not lead out \
         of its directory"
    )]
    DotSegment {
        /// What the name is.
        what: &'static str,
        /// The name, escaped.
        shown: String,
        /// `.` or `..`.
        segment: &'static str,
    },
    /// `/` or `\`: the name would be a path into another directory.
    #[error(
        "{what} \"{shown}\" contains the path separator '{separator}'; a name must not lead \
         into another directory"
    )]
    Separator {
        /// What the name is.
        what: &'static str,
        /// The name, escaped.
        shown: String,
        /// The separator found.
        separator: char,
    },
    /// NUL or another control character: cut short by C APIs, invisible on paper.
    #[error(
        "{what} \"{shown}\" contains the control character U+{code:04X}; names are printed \
         on records and must read the same everywhere"
    )]
    Control {
        /// What the name is.
        what: &'static str,
        /// The name, escaped.
        shown: String,
        /// The character's code point.
        code: u32,
    },
    /// Starts with `.` (a hidden file) or `-` (read as an option by command-line tools).
    #[error(
        "{what} \"{shown}\" starts with '{first}'; a name must start with a letter or a digit"
    )]
    BadStart {
        /// What the name is.
        what: &'static str,
        /// The name, escaped.
        shown: String,
        /// The first character.
        first: char,
    },
    /// Any other character outside the allowed set.
    #[error(
        "{what} \"{shown}\" contains the character '{ch}' (U+{code:04X}); allowed are ASCII \
         letters, digits and {NAME_PUNCTUATION_WORDS}"
    )]
    Character {
        /// What the name is.
        what: &'static str,
        /// The name, escaped.
        shown: String,
        /// The character.
        ch: char,
        /// Its code point.
        code: u32,
    },
}

/// [`NAME_PUNCTUATION`] as the messages spell it.
const NAME_PUNCTUATION_WORDS: &str = "- _ . ~ @ +";

/// The longest key or token label a script or profile may use: the smallest `label_max` of the
/// shipped vendor quirks, so that a script valid here is valid on every module Keyrite knows.
/// (The module in use is checked again, with its own limit, before anything is created.)
pub fn label_max() -> usize {
    // The shipped quirks always parse (a unit test holds them to it); 32 is CK_TOKEN_INFO's
    // label size should that ever change.
    crate::hsm::quirks::Quirks::builtin()
        .map(|q| {
            q.modules
                .iter()
                .map(|m| m.label_max)
                .fold(q.default.label_max, usize::min)
        })
        .unwrap_or(32)
}

/// Where the length limit of a label comes from, for messages.
pub const LABEL_LIMIT_WHY: &str = "the vendor quirks' label limit";

/// Checks a label: [`check_name`] with [`label_max`] as the limit.
pub fn check_label(what: &'static str, value: &str) -> Result<(), NameError> {
    check_name(what, value, label_max(), LABEL_LIMIT_WHY)
}

/// Checks one name taken from input. `what` says what it is in messages; `max` is its longest
/// length in bytes and `why` where that limit comes from.
pub fn check_name(
    what: &'static str,
    value: &str,
    max: usize,
    why: &'static str,
) -> Result<(), NameError> {
    let shown = || value.escape_debug().to_string();
    if value.trim().is_empty() {
        return Err(NameError::Empty { what, max });
    }
    // Control characters first: NUL would truncate the name in every C API after this one.
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(NameError::Control {
            what,
            shown: shown(),
            code: c as u32,
        });
    }
    // Dot segments before separators: "../x" is refused for leaving the directory, which is
    // the reason that matters, not for its slash.
    for segment in value.split(['/', '\\']) {
        let dot = match segment {
            "." => Some("."),
            ".." => Some(".."),
            _ => None,
        };
        if let Some(segment) = dot {
            return Err(NameError::DotSegment {
                what,
                shown: shown(),
                segment,
            });
        }
    }
    if let Some(separator) = value.chars().find(|c| *c == '/' || *c == '\\') {
        return Err(NameError::Separator {
            what,
            shown: shown(),
            separator,
        });
    }
    if let Some(first @ ('.' | '-')) = value.chars().next() {
        return Err(NameError::BadStart {
            what,
            shown: shown(),
            first,
        });
    }
    if let Some(ch) = value
        .chars()
        .find(|c| !c.is_ascii_alphanumeric() && !NAME_PUNCTUATION.contains(*c))
    {
        return Err(NameError::Character {
            what,
            shown: shown(),
            ch,
            code: ch as u32,
        });
    }
    if value.len() > max {
        return Err(NameError::TooLong {
            what,
            shown: shown(),
            len: value.len(),
            max,
            why,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(value: &str) -> String {
        check_name("key label", value, 32, LABEL_LIMIT_WHY)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn every_refusal_has_its_message() {
        let cases = [
            ("", "key label is empty; give a name of 1 to 32 characters"),
            (
                "  ",
                "key label is empty; give a name of 1 to 32 characters",
            ),
            (
                "../../elsewhere",
                "key label \"../../elsewhere\" contains the dot segment \"..\"; a name must not \
                 lead out of its directory",
            ),
            (
                "..",
                "key label \"..\" contains the dot segment \"..\"; a name must not lead out of \
                 its directory",
            ),
            (
                ".",
                "key label \".\" contains the dot segment \".\"; a name must not lead out of its \
                 directory",
            ),
            (
                "a\\..\\b",
                "key label \"a\\\\..\\\\b\" contains the dot segment \"..\"; a name must not lead \
                 out of its directory",
            ),
            (
                "a/b",
                "key label \"a/b\" contains the path separator '/'; a name must not lead into \
                 another directory",
            ),
            (
                "a\\b",
                "key label \"a\\\\b\" contains the path separator '\\'; a name must not lead into \
                 another directory",
            ),
            (
                "a\0b",
                "key label \"a\\0b\" contains the control character U+0000; names are printed on \
                 records and must read the same everywhere",
            ),
            (
                "a\nb",
                "key label \"a\\nb\" contains the control character U+000A; names are printed on \
                 records and must read the same everywhere",
            ),
            (
                ".hidden",
                "key label \".hidden\" starts with '.'; a name must start with a letter or a digit",
            ),
            (
                "-rf",
                "key label \"-rf\" starts with '-'; a name must start with a letter or a digit",
            ),
            (
                "my key",
                "key label \"my key\" contains the character ' ' (U+0020); allowed are ASCII \
                 letters, digits and - _ . ~ @ +",
            ),
            (
                "clé",
                "key label \"clé\" contains the character 'é' (U+00E9); allowed are ASCII \
                 letters, digits and - _ . ~ @ +",
            ),
            (
                "a23456789012345678901234567890123",
                "key label \"a23456789012345678901234567890123\" has 33 bytes; at most 32 are \
                 allowed (the vendor quirks' label limit)",
            ),
        ];
        for (value, want) in cases {
            assert_eq!(msg(value), want, "{value:?}");
        }
    }

    #[test]
    fn names_keyrite_itself_uses_pass() {
        for ok in [
            "keyrite-root-kek",
            "keyrite-record-signing",
            "sig-1",
            "k~2",
            "kek-r2",
            "a.b",
            "x@y+1",
            "a2345678901234567890123456789012",
        ] {
            check_name("key label", ok, 32, LABEL_LIMIT_WHY).unwrap_or_else(|e| panic!("{e}"));
        }
    }

    #[test]
    fn label_max_is_the_strictest_shipped_limit() {
        assert_eq!(label_max(), 32);
    }
}
