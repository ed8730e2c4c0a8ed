#!/usr/bin/env bash
# Startup benchmark of the desktop app: time to first window, to first contentful paint, and
# idle memory (PSS of the app and its WebKit processes), under Xvfb, on a fresh rehearsal data
# directory. First contentful paint is taken from screenshots of the window (ImageMagick
# `import`, every ~0.1 s): the first one with more than FCP_COLOURS distinct colours — an empty
# window is one or two flat colours, rendered text brings anti-aliased shades. Its resolution
# is the screenshot interval, about 0.1 s.
#
#   bash tests/bench/startup.sh            # release build (what ships; the first build is slow: LTO)
#   bash tests/bench/startup.sh --debug    # the debug build, for a quick look
#   RUNS=5 bash tests/bench/startup.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
profile=release
[[ "${1:-}" == "--debug" ]] && profile=debug
runs="${RUNS:-3}"
fcp_colours="${FCP_COLOURS:-16}"

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
  painted=""
  win=$(DISPLAY="$display" xwininfo -root -tree 2>/dev/null | awk '/"Keyrite"/ {print $1; exit}')
  if [[ -n $mapped && -n $win ]]; then
    for _ in $(seq 1 100); do
      colours=$(DISPLAY="$display" import -window "$win" png:- 2>/dev/null |
        convert - -format '%k' info: 2>/dev/null || echo 0)
      if ((colours > fcp_colours)); then
        painted=$(date +%s.%N)
        break
      fi
    done
  fi
  sleep 5 # idle
  pss=$(pss_kib "$pid")
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$data"
  if [[ -z $mapped ]]; then
    echo "  run $i: no window within 8 s"
    continue
  fi
  fcp="none within 10 s"
  [[ -n $painted ]] && fcp="$(printf '%4.0f ms' "$(echo "($painted - $start) * 1000" | bc)")"
  printf '  run %d: window mapped after %4.0f ms, first contentful paint %s; idle memory %5.1f MiB PSS (app + WebKit processes)\n' \
    "$i" "$(echo "($mapped - $start) * 1000" | bc)" "$fcp" "$(echo "$pss / 1024" | bc -l)"
done
