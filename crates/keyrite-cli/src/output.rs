//! Logging and output helpers for the CLI.

/// Logs go to stderr; `KEYRITE_LOG` sets the filter (default: warnings).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KEYRITE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

/// Prints a value as pretty JSON on stdout.
pub fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Reads `path` as UTF-8 text, `-` meaning standard input. Returns the name to show in
/// messages and journal entries ("standard input" for `-`) and the text. `what` names the
/// input in the error ("backup file").
pub fn read_input(path: &std::path::Path, what: &str) -> anyhow::Result<(String, String)> {
    use std::io::Read;
    if path == std::path::Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| anyhow::anyhow!("cannot read the {what} from standard input: {e}"))?;
        return Ok(("standard input".into(), text));
    }
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read {what} {name}: {e}"))?;
    Ok((name, text))
}
