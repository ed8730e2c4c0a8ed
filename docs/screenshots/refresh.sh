#!/usr/bin/env bash
# Refreshes the screenshots in this folder from the GUI tests (docs/gui.md shows them): every
# GUI test writes the screens it visits here (KEYRITE_SCREENSHOT_DIR), one test file at a time,
# each screen also passing the accessibility check. `--all` adds the tests that need
# virtual YubiKeys (root and pcscd; never run them beside another pcscd user).
# Run from anywhere: bash docs/screenshots/refresh.sh [--all]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"
export PATH="$HOME/.cache/keyrite-tools/bin:$PATH"
tests=(gui_home gui_journal gui_records gui_resume gui_ceremony gui_room)
if [[ "${1:-}" == "--all" ]]; then
  tests+=(gui_quorum gui_replace_custodian gui_key_lifecycle)
fi
npm --prefix ui ci --no-audit --no-fund
npm --prefix ui run build
cargo build --workspace
for t in "${tests[@]}"; do
  KEYRITE_SCREENSHOT_DIR="$here" xvfb-run -a -s "-screen 0 1280x800x24" \
    cargo test --workspace --test gui -- --ignored --test-threads=1 "$t::"
done
echo "screenshots refreshed in $here"
