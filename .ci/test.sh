#!/usr/bin/env bash
# The README's test command: formatting, lints, supply-chain checks, every unit, integration
# and end-to-end test (the GUI ones in a real window under Xvfb), then the release package
# (.ci/package.sh: bit-for-bit rebuild of the CLI, .deb, lintian, SBOMs, installed run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/setup.sh
export PATH="${KEYRITE_TOOLS:-$HOME/.cache/keyrite-tools}/bin:$PATH"
export CARGO_TERM_COLOR=never

# Each step's elapsed time is printed when the next one starts (and at exit, also on failure),
# so a CI log shows where the time goes (docs/testing.md compares runs).
STEP_NAME=""
STEP_START=$SECONDS
step_done() {
  if [ -n "$STEP_NAME" ]; then
    printf '==> %ss: %s\n' "$((SECONDS - STEP_START))" "$STEP_NAME"
  fi
}
step() {
  step_done
  printf '\n==> %s\n' "$*"
  STEP_NAME="$*"
  STEP_START=$SECONDS
}
trap step_done EXIT

step "cargo fmt --check"
cargo fmt --all --check

step "UI: type-check and build (ui/dist is embedded in the desktop binary)"
npm --prefix ui run build

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo deny check (offline, RustSec snapshot from ../shared/advisory-db)"
cargo fetch --locked >/dev/null
bash .ci/advisory-db.sh
cargo deny --offline check

step "build every binary (the end-to-end tests run them)"
cargo build --workspace --bins --locked

step "unit, integration and CLI end-to-end tests"
cargo test --workspace --locked

step "GUI end-to-end tests in a real window (Xvfb + tauri-driver + WebKitWebDriver)"
# --workspace, as the step above: the same package selection unifies the same features, so
# the workspace's test build is reused (with -p keyrite-tests, 118 crates were rebuilt).
# One test at a time: the GUI tests share one X display, and a test that closes the app's
# window as a window manager would (keyrite_testkit::x11) closes every window of that title.
mkdir -p target/screenshots
KEYRITE_SCREENSHOT_DIR="$PWD/target/screenshots" \
  xvfb-run -a -s "-screen 0 1280x800x24" \
  cargo test --workspace --locked --test gui -- --ignored --test-threads=1

step "release package: two bit-identical CLI builds, .deb, lintian, SBOMs, installed run"
# .ci/package.sh (its header lists the checks): release builds of its own, from a vendored
# tree of HEAD, in target/package/.
bash .ci/package.sh
