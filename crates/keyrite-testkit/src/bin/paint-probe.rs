//! The startup bench's eye (tests/bench/startup.sh): waits for a window named TITLE on
//! `$DISPLAY` and prints, as Unix seconds, when it became viewable and when it first showed
//! more than COLOURS distinct colours. Reads the window through Xlib every 10 ms — a few
//! milliseconds of CPU each, where a screenshot tool takes about 0.2 s and would compete with
//! the app it measures.
//!
//!     paint-probe TITLE COLOURS TIMEOUT_SECONDS
//!     → "mapped 1765123456.123456789" and "painted 1765123457.012345678" (each only if seen)

use std::time::{Duration, Instant, UNIX_EPOCH};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [title, colours, timeout] = args.as_slice() else {
        eprintln!("usage: paint-probe TITLE COLOURS TIMEOUT_SECONDS");
        std::process::exit(2);
    };
    let (Ok(colours), Ok(timeout)) = (colours.parse::<usize>(), timeout.parse::<u64>()) else {
        eprintln!("paint-probe: COLOURS and TIMEOUT_SECONDS are whole numbers");
        std::process::exit(2);
    };
    let deadline = Instant::now() + Duration::from_secs(timeout);
    let seen = keyrite_testkit::x11::watch_first_paint(
        title,
        colours,
        Duration::from_millis(10),
        deadline,
    );
    let unix = |t: std::time::SystemTime| {
        t.duration_since(UNIX_EPOCH)
            .map(|d| format!("{}.{:09}", d.as_secs(), d.subsec_nanos()))
            .unwrap_or_default()
    };
    if let Some(seen) = seen {
        println!("mapped {}", unix(seen.mapped));
        if let Some(painted) = seen.painted {
            println!("painted {}", unix(painted));
        }
    }
}
