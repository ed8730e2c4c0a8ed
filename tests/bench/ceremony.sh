#!/usr/bin/env bash
# The rehearsal root-key ceremony (issue 21): hsm-initialisation then root-key-generation,
# unattended from an answers file, with one `keyrite` binary on a fresh rehearsal data
# directory, ROUNDS times. Prints, for a person to read (docs/performance.md); nothing is
# asserted:
#
#   - per ceremony and for the pair: median wall and CPU time (user + system, /usr/bin/time);
#   - where the CPU goes, from the core's opt-in phase timings (KEYRITE_TIMINGS, see
#     crates/keyrite-core/src/timing.rs; process CPU, each phase exclusive of the timed phases
#     nested in it): PDF rendering (`pdf`: fonts subset, pages compressed, file written; QR
#     images), the rest of record production (`record`: layout, signature layer, self-check),
#     HSM actions (`hsm-action`: PKCS#11 calls into the module, and the engine's work around
#     them), loading the PKCS#11 module (`pkcs11-load`), the journal (`journal`: SQLite,
#     fsync), the executable hash and Argon2id; `other` is the rest (process start, script and
#     answers, inventory, data directory);
#   - the pair's CPU with Argon2id excluded (the acceptance figure: <= 0.25 s);
#   - the records' sizes (ls -l) and the fsync/fdatasync calls of the pair (strace, one run);
#   - with PERF=1, `perf report --sort dso` of one pair: CPU by binary and library (the
#     PKCS#11 module and its crypto library apart from Keyrite's own code).
#
#   tests/bench/ceremony.sh target/release/keyrite          # ROUNDS=5 by default
#
# On a loaded machine read the CPU times: wall times then measure the run queue.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
scripts="$here/../../ceremony-scripts"
bin="$(realpath "${1:-target/release/keyrite}")"
rounds="${ROUNDS:-5}"
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
ceremonies=(hsm-initialisation root-key-generation)
phases=(pdf record hsm-action pkcs11-load journal executable-hash argon2id)
median() { sort -n | awk '{a[NR]=$1} END {print (NR ? a[int((NR+1)/2)] : 0)}'; }

echo "keyrite: $bin ($(stat -c %s "$bin") bytes), $rounds rounds; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
# The executable's hash is cached per data directory (DATA/executable-sha256.json): a fresh
# directory computes it once, as the first ceremony of a real data directory does.
for r in $(seq "$rounds"); do
  d="$work/data-$r"
  for c in "${ceremonies[@]}"; do
    : > "$work/phases-$r-$c"
    KEYRITE_TIMINGS="$work/phases-$r-$c" /usr/bin/time -f "%e %U %S" -o "$work/t" \
      "$bin" --data-dir "$d" ceremony run "$scripts/$c.toml" --answers "$work/answers.toml" \
      >/dev/null
    read -r e u s < <(tail -1 "$work/t")
    echo "$e $(echo "$u + $s" | bc)" > "$work/total-$r-$c"
  done
done

# Per run: "phase cpu_ms" sums (phases appear many times per run), "total" and "other".
for r in $(seq "$rounds"); do
  for c in "${ceremonies[@]}" pair; do
    if [[ $c == pair ]]; then
      cat "$work/phases-$r-${ceremonies[0]}" "$work/phases-$r-${ceremonies[1]}" > "$work/phases-$r-pair"
      awk '{w += $1; c += $2} END {print w, c}' "$work/total-$r-${ceremonies[0]}" \
        "$work/total-$r-${ceremonies[1]}" > "$work/total-$r-pair"
    fi
    read -r wall cpu < "$work/total-$r-$c"
    awk -v cpu="$cpu" -v wall="$wall" '
      {ms[$1] += $2 / 1e6; sum += $2 / 1e6}
      END {
        for (p in ms) print p, ms[p]
        print "other", cpu * 1000 - sum
        print "total", cpu * 1000
        print "total-wall", wall * 1000
        print "total-without-argon2id", cpu * 1000 - ms["argon2id"]
      }' "$work/phases-$r-$c" > "$work/sum-$r-$c"
  done
done

for c in "${ceremonies[@]}" pair; do
  printf '\n%s (median of %d; CPU ms, share of the CPU):\n' "$c" "$rounds"
  total=$(for r in $(seq "$rounds"); do awk '$1 == "total" {print $2}' "$work/sum-$r-$c"; done | median)
  for p in "${phases[@]}" other total-without-argon2id total total-wall; do
    v=$(for r in $(seq "$rounds"); do awk -v p="$p" '$1 == p {print $2; f = 1} END {if (!f) print 0}' "$work/sum-$r-$c"; done | median)
    case $p in
      total-wall) printf '  %-24s %8.1f ms wall\n' "$p" "$v" ;;
      total) printf '  %-24s %8.1f ms CPU\n' "$p" "$v" ;;
      *) printf '  %-24s %8.1f ms  %5.1f %%\n' "$p" "$v" "$(echo "100 * $v / $total" | bc -l)" ;;
    esac
  done
done

printf '\nrecords (round 1):\n'
ls -l "$work"/data-1/records/ | awk 'NR > 1 {printf "  %9d B  %s\n", $5, $NF}'

if command -v strace >/dev/null; then
  d="$work/data-strace"
  for c in "${ceremonies[@]}"; do
    strace -f -e trace=fsync,fdatasync -o "$work/strace-$c" "$bin" --data-dir "$d" ceremony run \
      "$scripts/$c.toml" --answers "$work/answers.toml" >/dev/null 2>&1
  done
  printf '\nfsync + fdatasync calls: %s (hsm-initialisation) + %s (root-key-generation)\n' \
    "$(grep -c -E '^[0-9]+ +f(data)?sync' "$work/strace-${ceremonies[0]}" || true)" \
    "$(grep -c -E '^[0-9]+ +f(data)?sync' "$work/strace-${ceremonies[1]}" || true)"
fi

if [[ "${PERF:-0}" == 1 ]] && command -v perf >/dev/null; then
  d="$work/data-perf"
  printf '\nCPU by binary and library (perf, one pair):\n'
  for c in "${ceremonies[@]}"; do
    perf record -q -F 4999 -o "$work/perf-$c" -- "$bin" --data-dir "$d" ceremony run \
      "$scripts/$c.toml" --answers "$work/answers.toml" >/dev/null 2>&1
    echo "  $c:"
    perf report -q -i "$work/perf-$c" --sort dso --stdio 2>/dev/null | awk 'NF {print "   ", $0}' | head -12
  done
fi
