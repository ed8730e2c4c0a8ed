//! Machine time of the unattended rehearsal ceremonies on SoftHSM2: hsm-initialisation then
//! root-key-generation (3 of 5, shares sealed with Argon2id passphrases, record signed).
//!
//! `cargo bench -p keyrite-core --bench ceremony` (set KEYRITE_BENCH_RUNS, default 3).
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_core::engine::answers::AnswerFile;
use keyrite_core::engine::{Ceremony, CeremonyOptions, JournalRecordProducer, Prompt};
use keyrite_core::environment::Environment;
use keyrite_core::journal::Journal;
use keyrite_core::script::Script;
use std::path::Path;
use std::time::{Duration, Instant};

const ANSWERS: &str = r#"
so_pin = "so-pin-12345678"
user_pin = "user-pin-1234567"
share_passphrase = "rehearsal passphrase"
[participants]
administrator = ["Ada Admin"]
witness = ["Wes Witness"]
auditor = ["Aud Auditor"]
custodian = ["C One", "C Two", "C Three", "C Four", "C Five"]
[clock]
reference = "bench clock"
offset_seconds = 0
"#;

fn run(data: &Path, script: &str, answers: &AnswerFile) -> Duration {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ceremony-scripts");
    let script = Script::load(&root.join(format!("{script}.toml"))).expect("script");
    let env = Environment::open(Some(data), None).expect("environment");
    let journal = Journal::open_data_dir(env.data()).expect("journal");
    let options = CeremonyOptions {
        unattended: true,
        record_producer: Some(Box::new(JournalRecordProducer {
            page_size: keyrite_core::pdf::PageSize::A4,
        })),
        ..Default::default()
    };
    let t = Instant::now();
    let mut c = Ceremony::start(env, journal, script, options).expect("start");
    loop {
        let p = c.prompt();
        if let Prompt::Done { summary } = &p {
            assert_eq!(summary.outcome, "completed");
            break;
        }
        let a = answers.answer(&p).expect("answer");
        c.answer(a).expect("step");
    }
    t.elapsed()
}

fn main() {
    let runs: usize = std::env::var("KEYRITE_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let answers = AnswerFile::parse("bench-answers.toml", ANSWERS).expect("answers");
    println!("Unattended rehearsal ceremonies on SoftHSM2, {runs} run(s):");
    for i in 1..=runs {
        let tmp = tempfile::tempdir().expect("tempdir");
        let data = tmp.path().join("data");
        let init = run(&data, "hsm-initialisation", &answers);
        let root = run(&data, "root-key-generation", &answers);
        println!(
            "  run {i}: hsm-initialisation {:>8.1} ms   root-key-generation (3 of 5) {:>8.1} ms",
            init.as_secs_f64() * 1e3,
            root.as_secs_f64() * 1e3
        );
    }
    println!("(root-key-generation includes 5 Argon2id seals at m=64 MiB, t=3, p=4 and the signed record)");
}
