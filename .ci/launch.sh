#!/usr/bin/env bash
# The README's run command: installs what is missing, builds, and launches the desktop app.
# Without a site profile it runs in rehearsal mode on an embedded SoftHSM2 token that it
# creates under the data directory ($KEYRITE_DATA_DIR, else $XDG_DATA_HOME/keyrite).
# Extra arguments go to the app (e.g. --profile FILE, --data-dir DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
# The app needs none of the test-only second PKCS#11 module (Kryoptic).
KEYRITE_SETUP_APP_ONLY=1 bash .ci/setup.sh
npm --prefix ui run build
cargo build --locked -p keyrite-desktop -p keyrite-cli
if [[ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]]; then
  echo "launch: no display (DISPLAY/WAYLAND_DISPLAY unset). On a headless machine run:" >&2
  echo "  xvfb-run -a bash .ci/launch.sh" >&2
  exit 1
fi
exec target/debug/keyrite-desktop "$@"
