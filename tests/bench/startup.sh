#!/usr/bin/env bash
# Startup benchmark of the desktop app: time to first window and idle memory (PSS of the app
# and its WebKit processes), under Xvfb, on a fresh rehearsal data directory.
#
#   bash tests/bench/startup.sh            # release build (what ships; the first build is slow: LTO)
#   bash tests/bench/startup.sh --debug    # the debug build, for a quick look
#   RUNS=5 bash tests/bench/startup.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
profile=release
[[ "${1:-}" == "--debug" ]] && profile=debug
runs="${RUNS:-3}"

npm --prefix ui run build >/dev/null
if [[ $profile == release ]]; then
  cargo build --locked --release -p keyrite-desktop
else
  cargo build --locked -p keyrite-desktop
fi
app="target/$profile/keyrite-desktop"

display=":$((90 + RANDOM % 9))"
Xvfb "$display" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
xvfb=$!
trap 'kill $xvfb 2>/dev/null || true' EXIT
sleep 1

descendants() { # pid, then every descendant once
  echo "$1"
  local c
  for c in $(pgrep -P "$1" || true); do descendants "$c"; done
}

pss_kib() {
  local total=0 p
  for p in $(descendants "$1"); do
    if [[ -r /proc/$p/smaps_rollup ]]; then
      total=$((total + $(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup")))
    fi
  done
  echo "$total"
}

echo "Keyrite desktop ($profile build, $(du -h "$app" | cut -f1) binary), $runs run(s), Xvfb 1280x800:"
for i in $(seq 1 "$runs"); do
  data=$(mktemp -d)
  # First launch creates the rehearsal token; measure the second, as an operator sees it daily.
  KEYRITE_DATA_DIR="$data" DISPLAY="$display" timeout 20 "$app" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do
    DISPLAY="$display" xwininfo -root -tree 2>/dev/null | grep -q '"Keyrite"' && break
    sleep 0.1
  done
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true

  start=$(date +%s.%N)
  KEYRITE_DATA_DIR="$data" DISPLAY="$display" "$app" >/dev/null 2>&1 &
  pid=$!
  mapped=""
  for _ in $(seq 1 400); do
    if DISPLAY="$display" xwininfo -root -tree 2>/dev/null | grep -q '"Keyrite"'; then
      mapped=$(date +%s.%N)
      break
    fi
    sleep 0.02
  done
  sleep 5 # idle
  pss=$(pss_kib "$pid")
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$data"
  if [[ -z $mapped ]]; then
    echo "  run $i: no window within 8 s"
    continue
  fi
  printf '  run %d: window mapped after %4.0f ms; idle memory %5.1f MiB PSS (app + WebKit processes)\n' \
    "$i" "$(echo "($mapped - $start) * 1000" | bc)" "$(echo "$pss / 1024" | bc -l)"
done
