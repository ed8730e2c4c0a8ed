//! `keyrite`'s exit codes: one meaning each, so that a script can tell a refusal from a failed
//! verification from a mistyped command without reading the message.
//!
//! The table below is the only place they are defined; `--help` and the man pages show
//! [`TABLE`], docs/cli.md repeats it. Commands return these constants (`crate::exit::…`),
//! never a bare number; main.rs translates the older codes that `journal verify`,
//! `record verify` and `ceremony run|resume` still return until their modules use them.

use std::process::ExitCode;

/// Everything asked was done; a check found everything valid.
pub const OK: u8 = 0;
/// The command failed or was refused (bad input, HSM or file error); the message on stderr
/// says why, and nothing was changed.
pub const ERROR: u8 = 1;
/// The command line is wrong (unknown option, missing argument): clap's usage error.
pub const USAGE: u8 = 2;
/// `inventory reconcile` found differences between the inventory and the token.
pub const DIFFERENCES: u8 = 3;
/// A verification ran to the end and found what it checked invalid (`journal verify`,
/// `record verify`).
pub const INVALID: u8 = 4;
/// `record verify` could not read the record at all (missing file, not a PDF record).
pub const UNREADABLE: u8 = 5;
/// `ceremony run|resume`: the ceremony ended without completing (aborted or failed); the
/// journal says why.
pub const NOT_COMPLETED: u8 = 6;

/// (code, meaning) for help texts and docs, in order.
pub const TABLE: [(u8, &str); 7] = [
    (OK, "success; for checks: everything checked is valid"),
    (
        ERROR,
        "error or refusal (bad input, HSM or file error); nothing was changed",
    ),
    (USAGE, "usage: the command line is wrong"),
    (
        DIFFERENCES,
        "inventory reconcile: the inventory and the token differ",
    ),
    (
        INVALID,
        "verification failed: journal verify or record verify found it invalid",
    ),
    (UNREADABLE, "record verify: the record cannot be read"),
    (
        NOT_COMPLETED,
        "ceremony run|resume: the ceremony ended without completing",
    ),
];

/// The "EXIT STATUS" text shown after `--help` and in the man page.
pub fn help_text() -> String {
    let mut s = String::from("Exit status:\n");
    for (code, meaning) in TABLE {
        s.push_str(&format!("  {code}  {meaning}\n"));
    }
    s
}

/// `code` as a process exit code.
pub fn code(code: u8) -> ExitCode {
    ExitCode::from(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_one_meaning_and_the_table_is_in_order() {
        let codes: Vec<u8> = TABLE.iter().map(|(c, _)| *c).collect();
        assert_eq!(codes, vec![0, 1, 2, 3, 4, 5, 6]);
        let mut meanings: Vec<&str> = TABLE.iter().map(|(_, m)| *m).collect();
        meanings.sort_unstable();
        meanings.dedup();
        assert_eq!(meanings.len(), TABLE.len());
    }
}
