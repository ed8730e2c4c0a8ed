//! Prints throughput of SHA-256 over journal-sized events and over a large buffer, Argon2id at
//! the unseal parameters, and Deflate over a font-sized buffer. Medians of a few rounds; read
//! by a person (see docs/performance.md), never asserted.

use sha2::{Digest, Sha256};
use std::hint::black_box;
use std::time::{Duration, Instant};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time<F: FnMut()>(rounds: usize, mut f: F) -> Duration {
    median(
        (0..rounds)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect(),
    )
}

fn main() {
    let variant = std::env::args().nth(1).unwrap_or_else(|| "?".into());
    // 1 M events of 300 bytes, each hashed on its own as the journal does.
    let events: Vec<[u8; 300]> = (0..1_000_000u32)
        .map(|i| {
            let mut e = [b'x'; 300];
            e[..4].copy_from_slice(&i.to_le_bytes());
            e
        })
        .collect();
    let t_events = time(3, || {
        for e in &events {
            black_box(Sha256::digest(black_box(e)));
        }
    });
    let big = vec![0x5au8; 256 << 20];
    let t_big = time(3, || {
        black_box(Sha256::digest(black_box(&big)));
    });
    drop(big);
    // Argon2id at the share-sealing parameters: 64 MiB, t = 3, p = 4.
    let params = argon2::Params::new(64 * 1024, 3, 4, Some(32)).expect("params");
    let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut key = [0u8; 32];
    let t_argon = time(3, || {
        a.hash_password_into(b"rehearsal passphrase", b"0123456789abcdef", &mut key)
            .expect("argon2");
        black_box(&key);
    });
    // Deflate at the default level over 8 MiB of font-like data (a TrueType file repeated).
    let font: Vec<u8> = (0..(8 << 20))
        .map(|i: usize| (i.wrapping_mul(2654435761) >> 13) as u8 & 0x3f)
        .collect();
    let t_deflate = time(3, || {
        use std::io::Write;
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&font).expect("deflate");
        black_box(z.finish().expect("deflate"));
    });
    let mbs = |bytes: usize, d: Duration| bytes as f64 / d.as_secs_f64() / 1e6;
    println!(
        "{variant:<22} sha256 300B events {:>6.2} M/s ({:>6.0} MB/s) | sha256 256 MiB {:>6.0} MB/s | argon2id 64MiB t3 p4 {:>6.3} s | deflate {:>5.1} MB/s",
        1e6 / t_events.as_secs_f64() / 1e6,
        mbs(300 * events.len(), t_events),
        mbs(256 << 20, t_big),
        t_argon.as_secs_f64(),
        mbs(font.len(), t_deflate),
    );
}
