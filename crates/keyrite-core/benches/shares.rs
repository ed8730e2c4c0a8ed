//! Benchmark: split + encode + seal for 5 custodians, and the Argon2id cost.
//! Run: `cargo bench -p keyrite-core --bench shares`.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_core::secret::{SecretBytes, SecretText};
use keyrite_core::shares::seal::{seal_to_p256, seal_with_passphrase, Argon2Params};
use keyrite_core::shares::split;
use std::time::Instant;

fn main() {
    let secret = SecretBytes::from_slice(&[0x11; 32]);
    let keys: Vec<p256::SecretKey> = (0..5)
        .map(|_| p256::SecretKey::random(&mut rand::rngs::OsRng))
        .collect();
    let rounds = 20;
    let start = Instant::now();
    for _ in 0..rounds {
        let set = split(&secret, 3, 5).expect("split");
        for (s, k) in set.shares.iter().zip(&keys) {
            let _ = s.human_form();
            let _ = s.qr_payload();
            let _ = seal_to_p256(s, &k.public_key()).expect("seal");
        }
    }
    let per = start.elapsed() / rounds;
    println!("split 3-of-5 + encode + seal to P-256 for 5 custodians: {per:?} per ceremony");

    let set = split(&secret, 3, 5).expect("split");
    let pass = SecretText::new("benchmark passphrase".into());
    let params = Argon2Params::MINIMUM;
    let start = Instant::now();
    let _ = seal_with_passphrase(&set.shares[0], &pass, params).expect("seal");
    println!(
        "Argon2id m={} MiB t={} p={} (one passphrase seal): {:?}; 5 custodians: {:?}",
        params.m_kib / 1024,
        params.t,
        params.p,
        start.elapsed(),
        start.elapsed() * 5
    );
}
