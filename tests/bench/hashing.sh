#!/usr/bin/env bash
# Release-profile choices measured on this machine: SHA-256 (300-byte journal events and a
# 256 MiB buffer), Argon2id (64 MiB, t=3, p=4) and Deflate, built with
#   s        — opt-level "s" everywhere (the profile before issue 21)
#   s+pkg3   — opt-level "s", but 3 for sha2, argon2, blake2, flate2, miniz_oxide, adler2
#   3        — opt-level 3 everywhere
#   3+par    — opt-level 3, Argon2id's four lanes on the machine's cores (argon2 `parallel`,
#              as Keyrite builds it; the other variants fill the lanes on one thread)
# Each variant builds the small crate in tests/bench/hashing (same crate versions as Keyrite,
# same LTO / codegen-units as the workspace profile) and runs it once. Output is for a person
# to read (docs/performance.md); nothing is asserted.
#
#   tests/bench/hashing.sh            # all three variants
#   BENCH_TARGET=/tmp/x tests/bench/hashing.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
target="${BENCH_TARGET:-$here/hashing/target}"
grep -q -m1 -w sha_ni /proc/cpuinfo && echo "CPU has SHA-NI" || echo "CPU has no SHA-NI"
pkg3=()
for p in sha2 argon2 blake2 flate2 miniz_oxide adler2; do
  pkg3+=(--config "profile.release.package.$p.opt-level=3")
done
run() {
  local name="$1"; shift
  local dir="$target/$name"
  cargo build --quiet --release --offline --manifest-path "$here/hashing/Cargo.toml" \
    --target-dir "$dir" "$@"
  "$dir/release/keyrite-hashing-bench" "$name"
}
run s
run s+pkg3 "${pkg3[@]}"
run 3 --config 'profile.release.opt-level=3'
run 3+par --config 'profile.release.opt-level=3' --features parallel
