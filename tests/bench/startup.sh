#!/usr/bin/env bash
# Startup benchmark of the desktop app beside a minimal Tauri 2 app (tests/bench/minimal-tauri:
# one window, a static "hello" page, same tauri version, features, release profile and crate
# versions), both measured the same way under Xvfb: time to first window, to first contentful
# paint, and idle memory (PSS from /proc/PID/smaps_rollup, summed over the app and every
# process below it — WebKit's web and network processes — after IDLE seconds).
#
# First contentful paint is read from the X server by the test kit's paint-probe
# (crates/keyrite-testkit/src/bin/paint-probe.rs): every 10 ms it reads the window's pixels and
# takes the first image with more than FCP_COLOURS distinct colours (sampled every 4th pixel of
# every 4th row) — an empty window is one or two flat colours, rendered text brings anti-aliased
# shades. Its resolution is about 10 ms and each read costs a few ms of CPU. (Before session 8
# this script took screenshots with ImageMagick's `import`: 0.2 s of CPU each on one of the
# two cores, so the numbers in docs/performance.md from then are late by up to 0.2 s plus the
# competition.) Each app is launched once unmeasured first (Keyrite's first
# launch creates the rehearsal token; both then start with warm caches, as an operator's
# second launch of the day), then RUNS measured launches, alternated between the two apps.
#
#   bash tests/bench/startup.sh            # release builds (what ships; the first build is slow: LTO)
#   bash tests/bench/startup.sh --debug    # debug builds, for a quick look
#   RUNS=5 IDLE=5 NO_BUILD=1 bash tests/bench/startup.sh
#   NICE=-10 ...   # (as root) both apps and their WebKit processes at that priority, alike
#
# Honours CARGO_TARGET_DIR. Prints for a person to read (docs/performance.md); asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/../.."
profile=release
[[ "${1:-}" == "--debug" ]] && profile=debug
runs="${RUNS:-3}"
idle="${IDLE:-5}"
fcp_colours="${FCP_COLOURS:-16}"
nice_="${NICE:-0}"
target="${CARGO_TARGET_DIR:-$PWD/target}"
flags=()
[[ $profile == release ]] && flags=(--release)

if [[ "${NO_BUILD:-0}" != 1 ]]; then
  npm --prefix ui run build >/dev/null
  cargo build --locked "${flags[@]}" -p keyrite-desktop
  cargo build --locked --release -p keyrite-testkit --bin paint-probe
  # Its Cargo.lock is the workspace's, trimmed to its graph by cargo: the same versions.
  CARGO_TARGET_DIR="$target" cargo build --offline "${flags[@]}" \
    --manifest-path tests/bench/minimal-tauri/Cargo.toml
fi
keyrite="$target/$profile/keyrite-desktop"
minimal="$target/$profile/minimal-tauri"
probe="${PAINT_PROBE:-$target/release/paint-probe}"

work="$(mktemp -d)"
xvfb=""
trap 'kill $xvfb 2>/dev/null || true; rm -rf "$work"' EXIT
# A display of our own: another session's Xvfb may hold a number (then ours exits at once, and
# the apps would open on the other one).
for _ in $(seq 1 20); do
  display=":$((90 + RANDOM % 60))"
  Xvfb "$display" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
  xvfb=$!
  sleep 1
  kill -0 "$xvfb" 2>/dev/null && break
done

descendants() { # pid, then every descendant once
  echo "$1"
  local c
  for c in $(pgrep -P "$1" || true); do descendants "$c"; done
}

pss_kib() {
  local total=0 p v
  for p in $(descendants "$1"); do
    # A process may end between the listing and the read: it then counts 0.
    v=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || true)
    total=$((total + ${v:-0}))
  done
  echo "$total"
}

window_of() { # title: the window id, if mapped
  DISPLAY="$display" xwininfo -root -tree 2>/dev/null | awk -v t="\"$1\"" 'index($0, t) {print $1; exit}'
}

stop() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# name, binary, window title, data directory: one measured launch; appends
# "mapped_ms fcp_ms pss_kib" (a dash for what did not happen) to $work/name.
measure() {
  local name="$1" app="$2" title="$3" data="$4" env_=("${@:5}") start pid watcher mapped painted
  DISPLAY="$display" "$probe" "$title" "$fcp_colours" 20 > "$work/probe" &
  watcher=$!
  start=$(date +%s.%N)
  env KEYRITE_DATA_DIR="$data" DISPLAY="$display" "${env_[@]}" nice -n "$nice_" "$app" >/dev/null 2>&1 &
  pid=$!
  wait "$watcher" || true
  mapped=$(awk '$1 == "mapped" {print $2}' "$work/probe")
  painted=$(awk '$1 == "painted" {print $2}' "$work/probe")
  sleep "$idle"
  local pss
  pss=$(pss_kib "$pid")
  stop "$pid"
  ms() { [[ -n $1 ]] && printf '%.0f' "$(echo "($1 - $start) * 1000" | bc)" || echo -; }
  echo "$(ms "$mapped") $(ms "$painted") $pss" >> "$work/$name"
}

warm() { # binary, window title, data directory: one launch until the window maps
  KEYRITE_DATA_DIR="$3" DISPLAY="$display" timeout 20 "$1" >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do
    [[ -n $(window_of "$2") ]] && break
    sleep 0.1
  done
  sleep 1
  stop "$pid"
}

echo "$profile builds, $runs run(s) each, alternated, Xvfb 1280x800, idle ${idle} s, nice $nice_; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '  %-16s %s, %s bytes\n' keyrite-desktop "$keyrite" "$(stat -L -c %s "$keyrite")"
printf '  %-16s %s, %s bytes\n' minimal-tauri "$minimal" "$(stat -L -c %s "$minimal")"
mkdir -p "$work/data-keyrite" "$work/data-minimal"
warm "$keyrite" Keyrite "$work/data-keyrite"
warm "$minimal" Minimal "$work/data-minimal"
cpu_ticks() { awk '/^cpu / {t = 0; for (i = 2; i <= NF; i++) t += $i; print $9, t}' /proc/stat; }
read -r steal0 total0 < <(cpu_ticks)
: > "$work/keyrite"
: > "$work/minimal"
: > "$work/minimal-nogpu"
# The third: the minimal app drawing as Keyrite draws (Keyrite turns WebKitGTK's GPU compositing
# off for itself, src-tauri/src/lib.rs), so the difference that is Keyrite's own shows too.
for i in $(seq 1 "$runs"); do
  measure keyrite "$keyrite" Keyrite "$work/data-keyrite"
  measure minimal "$minimal" Minimal "$work/data-minimal"
  measure minimal-nogpu "$minimal" Minimal "$work/data-minimal" WEBKIT_DISABLE_COMPOSITING_MODE=1
done

median() { grep -v '^-$' | sort -n | awk '{a[NR]=$1} END {print (NR ? a[int((NR+1)/2)] : "-")}'; }
col() { awk -v c="$1" '{print $c}' "$work/$2" | median; }
for n in keyrite minimal minimal-nogpu; do
  echo "  $n runs (window mapped ms, first contentful paint ms, idle PSS KiB):"
  awk '{print "    " $0}' "$work/$n"
done
printf '\n%-16s %10s %10s %12s\n' app mapped_ms fcp_ms idle_pss_MiB
for n in keyrite minimal minimal-nogpu; do
  p=$(col 3 "$n")
  printf '%-16s %10s %10s %12.1f\n' "$n" "$(col 1 "$n")" "$(col 2 "$n")" "$(echo "$p / 1024" | bc -l)"
done
kp=$(col 3 keyrite)
mp=$(col 3 minimal)
np=$(col 3 minimal-nogpu)
read -r steal1 total1 < <(cpu_ticks)
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); CPU time stolen by the host (a VM's neighbours) during the runs: $(( (steal1 - steal0) * 100 / (total1 - total0 + 1) )) %"
printf 'Keyrite / minimal idle PSS: %.2fx (target <= 1.2x); drawing alike: %.2fx\n' \
  "$(echo "$kp / $mp" | bc -l)" "$(echo "$kp / $np" | bc -l)"
printf 'Keyrite first contentful paint %s ms (target <= 1000); minimal %s ms, drawing alike %s ms\n' \
  "$(col 2 keyrite)" "$(col 2 minimal)" "$(col 2 minimal-nogpu)"
