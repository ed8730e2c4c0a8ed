#!/usr/bin/env bash
# Starts a desktop binary under its own Xvfb and waits for its window to show painted content
# (a screenshot with many colours: a window that has not painted, or a blank webview, has a
# handful) with the amber REHEARSAL banner across its top (no site profile is given, so the
# app must be in rehearsal). Saves the screenshot as WORK/first-paint.png.
#
#   packaging/first-paint.sh BINARY WORK_DIR
set -euo pipefail
BIN=$1
WORK=$(realpath "$2")
mkdir -p "$WORK/desktop-data"
SHOT="$WORK/first-paint.png"
rm -f "$SHOT"
# One shell under xvfb-run: start the app in the background, poll, then stop it (by its PID).
xvfb-run -a -s "-screen 0 1280x800x24" bash -c '
  "$0" --data-dir "$1/desktop-data" >"$1/desktop.log" 2>&1 &
  app=$!
  trap "kill $app 2>/dev/null; wait $app 2>/dev/null" EXIT
  for _ in $(seq 1 120); do
    sleep 0.5
    kill -0 $app 2>/dev/null || { echo "first-paint: the app exited" >&2; exit 1; }
    xwininfo -root -tree 2>/dev/null | grep -q "\"Keyrite\"" || continue
    import -window root "$1/shot.png" 2>/dev/null || continue
    colours=$(convert "$1/shot.png" -format %k info:)
    # The banner: the top row, mid-window; amber is strong red, middling green, little blue.
    rgb=$(convert "$1/shot.png" -format "%[fx:int(255*p{640,8}.r)] %[fx:int(255*p{640,8}.g)] %[fx:int(255*p{640,8}.b)]" info:)
    read -r r g b <<<"$rgb"
    if (( colours > 200 && r > 200 && g > 120 && g < 200 && b < 80 )); then
      mv "$1/shot.png" "$2"
      echo "first-paint: window painted after ~$((SECONDS))s ($colours colours, banner rgb $rgb)"
      exit 0
    fi
  done
  echo "first-paint: no painted window within 60 s" >&2
  exit 1
' "$BIN" "$WORK" "$SHOT" || {
  cat "$WORK/desktop.log" >&2
  exit 1
}
