#!/usr/bin/env bash
# The journal at scale (issue 21 items 2, 3): one `keyrite` binary, a real data directory
# (the rehearsal hsm-initialisation ceremony) and a copy grown to EVENTS entries by replaying
# that ceremony's own entries under fresh ids (tests/bench/journal_fill.py: real event types
# and sizes, closed ceremonies with their closing checkpoints). Prints, for a person to read
# (docs/performance.md); nothing is asserted:
#
#   1. `journal verify` of the big journal (without and with --sqlite-check), in events/s,
#      beside `sha256sum` of the same body bytes in the same run;
#   2. the root-key-generation ceremony (argon2id sealing included) on the small and on the
#      big data directory, alternated: wall and CPU time, and the journal's fsyncs (strace);
#   3. `record verify --journal` of that ceremony's record against the big journal.
#
#   tests/bench/journal.sh target/release/keyrite        # EVENTS=1000000 ROUNDS=3 by default
#
# On a loaded machine read the CPU times (user + system): wall times then measure the queue.
# `journal verify` uses every core (each worker reads chunks of rows on its own SQLite
# connection and hashes and scans them; the calling thread folds them in order), so its wall
# time only shows that on an otherwise idle machine.
# NICE=-15 (as root) runs the timed commands at that priority, both alike; PERF=1 also prints
# how verification's CPU divides between its threads (perf), i.e. its critical path.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
scripts="$here/../../ceremony-scripts"
bin="$(realpath "$1")"
events="${EVENTS:-1000000}"
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
nice_="${NICE:-0}"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg); timed commands at nice $nice_"
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
timed() { # output file, command...: appends "wall cpu" (s); the command's exit status
  local out="$1"; shift
  local rc=0
  /usr/bin/time -f "%e %U %S" -o "$work/t" nice -n "$nice_" "$@" >"$work/out" 2>"$work/err" || rc=$?
  read -r e u s < <(tail -1 "$work/t")
  echo "$e $(echo "$u + $s" | bc)" >> "$out"
  return "$rc"
}
col() { awk -v c="$1" '{print $c}' "$2" | median; }

"$bin" --data-dir "$work/small" ceremony run "$scripts/hsm-initialisation.toml" \
  --answers "$work/answers.toml" >/dev/null
cp -a "$work/small" "$work/big"
python3 "$here/journal_fill.py" "$work/big/journal.sqlite" "$events"
python3 - "$work/big/journal.sqlite" "$work/bodies" <<'P'
import sqlite3, sys
with open(sys.argv[2], "wb") as f:
    for (b,) in sqlite3.connect(sys.argv[1]).execute("SELECT body FROM journal_entry ORDER BY seq"):
        f.write(b)
P
n=$(sqlite3 "$work/big/journal.sqlite" "SELECT count(*) FROM journal_entry")
echo "journal: $n entries, $(stat -c %s "$work/big/journal.sqlite") bytes; bodies: $(stat -c %s "$work/bodies") bytes"
cat "$work/big/journal.sqlite" "$work/bodies" > /dev/null # page cache, as for every run below

for r in $(seq "$rounds"); do
  timed "$work/verify" "$bin" journal verify --db "$work/big/journal.sqlite"
  timed "$work/sha" sha256sum "$work/bodies"
  if "$bin" journal verify --help | grep -q -- --sqlite-check; then
    timed "$work/verify-sqlite" "$bin" journal verify --sqlite-check --db "$work/big/journal.sqlite"
  else # a Keyrite before the option: its verify always runs the page check
    cp "$work/verify" "$work/verify-sqlite"
  fi
done
for k in verify verify-sqlite sha; do
  w=$(col 1 "$work/$k")
  c=$(col 2 "$work/$k")
  printf "%-30s median %6.2f s wall, %5.2f s CPU: %5.2f M events/s by wall, %5.2f by CPU\n" \
    "$(case $k in verify) echo "keyrite journal verify";; verify-sqlite) echo "  … --sqlite-check";; sha) echo "sha256sum of the same bodies";; esac)" \
    "$w" "$c" "$(echo "$n / $w / 1000000" | bc -l)" "$(echo "$n / $c / 1000000" | bc -l)"
done

echo "load average after verification: $(cut -d' ' -f1-3 /proc/loadavg)"
if [[ "${PERF:-0}" == 1 ]] && command -v perf >/dev/null; then
  perf record -q -F 1999 -o "$work/perf" -- "$bin" journal verify --db "$work/big/journal.sqlite" >/dev/null 2>&1
  echo "journal verify, CPU samples by thread (the first is the folding thread, the others read):"
  perf script -i "$work/perf" -F tid 2>/dev/null | sort -n | uniq -c |
    awk '{n[NR] = $1; t += $1} END {for (i = 1; i <= NR; i++) printf "  thread %d: %4.1f %% (%.2f s)\n", i, 100 * n[i] / t, n[i] / 1999}'
fi

fsyncs() { # data dir: fsync+fdatasync calls on the journal's files in one ceremony
  strace -f -e trace=fsync,fdatasync -o "$work/strace" "$bin" --data-dir "$1" ceremony run \
    "$scripts/root-key-generation.toml" --answers "$work/answers.toml" >/dev/null 2>&1
  grep -c -E "^[0-9]+ +f(data)?sync" "$work/strace" || true
}
for r in $(seq "$rounds"); do
  for d in small big; do
    rm -rf "$work/run-$d"
    cp -a "$work/$d" "$work/run-$d"
    # The copy's pages are dirty; without this the ceremony's first fsync would wait for the
    # bench's own 554 MB copy to reach the disk (1 s of wall time on the big one, none of it
    # the ceremony's). A real data directory is not freshly copied.
    sync
    timed "$work/cer-$d" "$bin" --data-dir "$work/run-$d" ceremony run \
      "$scripts/root-key-generation.toml" --answers "$work/answers.toml"
  done
done
for d in small big; do
  printf "root-key-generation on %-5s (%7s entries before): median %5.2f s wall, %5.2f s CPU\n" \
    "$d" "$(sqlite3 "$work/$d/journal.sqlite" "SELECT count(*) FROM journal_entry")" \
    "$(col 1 "$work/cer-$d")" "$(col 2 "$work/cer-$d")"
done
if command -v strace >/dev/null; then
  rm -rf "$work/run-f"; cp -a "$work/small" "$work/run-f"
  echo "fsync/fdatasync calls in one root-key-generation: $(fsyncs "$work/run-f")"
fi

record=$(ls "$work"/run-big/records/root-key-generation-*.pdf | head -1)
for r in $(seq "$rounds"); do
  timed "$work/rv" "$bin" record verify "$record" --journal "$work/run-big/journal.sqlite" || true
done
grep -i "journal" "$work/out" | head -3
printf "record verify --journal (%s entries): median %5.3f s wall, %5.3f s CPU\n" \
  "$(sqlite3 "$work/run-big/journal.sqlite" "SELECT count(*) FROM journal_entry")" \
  "$(col 1 "$work/rv")" "$(col 2 "$work/rv")"
