#!/usr/bin/env bash
# The README's test command: formatting, lints, supply-chain checks, every unit, integration
# and end-to-end test (the GUI ones in a real window under Xvfb), then the release package
# (.ci/package.sh: bit-for-bit rebuild of the CLI, .deb, lintian, SBOMs, installed run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/setup.sh
export PATH="${KEYRITE_TOOLS:-$HOME/.cache/keyrite-tools}/bin:$PATH"
export CARGO_TERM_COLOR=never

step() { printf '\n==> %s\n' "$*"; }

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
mkdir -p target/screenshots
KEYRITE_SCREENSHOT_DIR="$PWD/target/screenshots" \
  xvfb-run -a -s "-screen 0 1280x800x24" cargo test --workspace --locked --test 'gui_*' -- --ignored

step "release package: two bit-identical CLI builds, .deb, lintian, SBOMs, installed run"
# .ci/package.sh (its header lists the checks): release builds of its own, from a vendored
# tree of HEAD, in target/package/.
bash .ci/package.sh
