//! Man pages and shell completions, generated from the clap definitions so they never drift
//! from the parser: `keyrite completions bash|zsh` prints a completion script, and the hidden
//! `keyrite man --out-dir DIR` writes `keyrite.1` and one page per subcommand
//! (`keyrite-hsm-init.1`, …) for the package (packaging/build-deb.sh).

use clap::Command;
use std::io::Write;
use std::path::Path;

/// Shells with a completion script.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Shell {
    /// bash (install as /usr/share/bash-completion/completions/keyrite).
    Bash,
    /// zsh (install as /usr/share/zsh/vendor-completions/_keyrite).
    Zsh,
}

/// Writes the completion script for `shell` to `out`.
pub fn completions(cmd: &mut Command, shell: Shell, out: &mut dyn Write) {
    let name = cmd.get_name().to_string();
    match shell {
        Shell::Bash => clap_complete::generate(clap_complete::Shell::Bash, cmd, name, out),
        Shell::Zsh => clap_complete::generate(clap_complete::Shell::Zsh, cmd, name, out),
    }
}

/// Writes `NAME.1` for `cmd` and every (visible) subcommand below it into `dir`, which must
/// exist; refuses to overwrite a page. Returns the file names written.
pub fn man_pages(cmd: &Command, dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut written = Vec::new();
    // Subcommands are rendered under their full name ("keyrite-hsm-init"), which is what
    // clap_mangen's title and SEE ALSO use.
    let mut stack = vec![(cmd.get_name().to_string(), cmd.clone())];
    while let Some((name, c)) = stack.pop() {
        let c = c.name(name.clone()).bin_name(name.replace('-', " "));
        let mut page = Vec::new();
        let man = clap_mangen::Man::new(c.clone()).date(man_date());
        // Every section clap_mangen has but its "EXTRA" (the exit-code table of --help), which
        // becomes the conventional EXIT STATUS section on every page.
        man.render_title(&mut page)?;
        man.render_name_section(&mut page)?;
        man.render_synopsis_section(&mut page)?;
        man.render_description_section(&mut page)?;
        if c.get_arguments().any(|a| !a.is_hide_set()) {
            man.render_options_section(&mut page)?;
        }
        if c.has_subcommands() {
            man.render_subcommands_section(&mut page)?;
        }
        page.extend_from_slice(exit_status_section().as_bytes());
        if c.get_version().is_some() {
            man.render_version_section(&mut page)?;
        }
        let file = format!("{name}.1");
        keyrite_core::paths::write_new_named(&dir.join(&file), "man page", &page)?;
        written.push(file);
        for sub in c.get_subcommands().filter(|s| !s.is_hide_set()) {
            stack.push((format!("{name}-{}", sub.get_name()), sub.clone()));
        }
    }
    written.sort();
    Ok(written)
}

/// The exit-code table as a roff section (codes and meanings are plain ASCII words; `-` is
/// escaped as roff wants).
fn exit_status_section() -> String {
    let mut s = String::from(".SH \"EXIT STATUS\"\n");
    for (code, meaning) in crate::exit::TABLE {
        s.push_str(&format!(".TP\n{code}\n{}\n", meaning.replace('-', "\\-")));
    }
    s
}

/// The page date: SOURCE_DATE_EPOCH when set (reproducible packages), else empty (clap_mangen
/// then prints none) rather than the build machine's clock.
fn man_date() -> String {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .map(|secs| {
            let days = secs.div_euclid(86_400);
            let (y, m, d) = civil_from_days(days);
            format!("{y:04}-{m:02}-{d:02}")
        })
        .unwrap_or_default()
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::civil_from_days;

    #[test]
    fn dates_from_days() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }
}
