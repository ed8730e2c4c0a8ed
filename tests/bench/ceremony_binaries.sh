#!/usr/bin/env bash
# Compares `keyrite` binaries (e.g. release builds at opt-level "s" and 3) on the rehearsal
# root-key pair (hsm-initialisation + root-key-generation, unattended, embedded SoftHSM2):
# binary size, median wall time and CPU time of the pair over ROUNDS alternated runs, median
# startup (`keyrite --version`), and the root-key record's size. For a person to read
# (docs/performance.md); nothing is asserted. Argon2id share sealing is included.
#
#   tests/bench/ceremony_binaries.sh /tmp/keyrite-s /tmp/keyrite-3
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
scripts="$here/../../ceremony-scripts"
rounds="${ROUNDS:-3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cat > "$work/answers.toml" <<'A'
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
A
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
declare -A wall cpu start
for r in $(seq "$rounds"); do
  for bin in "$@"; do
    d="$work/data-$r-$(basename "$bin")"
    /usr/bin/time -f "%e %U %S" -o "$work/t" bash -c '
      for s in hsm-initialisation root-key-generation; do
        "$0" --data-dir "$1" ceremony run "$2/$s.toml" --answers "$3" >/dev/null
      done' "$bin" "$d" "$scripts" "$work/answers.toml"
    read -r e u s < "$work/t"
    wall[$bin]+="$e "; cpu[$bin]+="$(echo "$u + $s" | bc) "
    /usr/bin/time -f "%e" -o "$work/t" "$bin" --version >/dev/null
    start[$bin]+="$(cat "$work/t") "

  done
done
printf "%-28s %10s %9s %9s %9s %10s\n" binary size_bytes wall_s cpu_s start_s record_B
for bin in "$@"; do
  printf "%-28s %10s %9s %9s %9s %10s\n" "$bin" "$(stat -c %s "$bin")" \
    "$(tr ' ' '\n' <<<"${wall[$bin]}" | grep . | median)" \
    "$(tr ' ' '\n' <<<"${cpu[$bin]}" | grep . | median)" \
    "$(tr ' ' '\n' <<<"${start[$bin]}" | grep . | median)" \
    "$(stat -c %s "$(ls "$work"/data-1-"$(basename "$bin")"/records/root-key-generation-*.pdf)")"
done
