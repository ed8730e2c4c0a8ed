#!/usr/bin/env bash
# Package and rebuild checks (issue 20), the last step of `.ci/test.sh` (and so of CI); also
# runs alone (`bash .ci/package.sh`, after `.ci/setup.sh`):
#   1. a source tree of HEAD with every crate vendored (packaging/source-tree.sh), copied to a
#      second directory before anything is built; the UI is built inside the first tree from
#      the commit's sources (npm's offline cache, filled by setup.sh's `npm ci`), so the
#      desktop never embeds a stale or uncommitted ui/dist of the work tree;
#   2. the release builds of the recipe (packaging/rebuild.sh): keyrite-cli then
#      keyrite-desktop in the first directory (each alone, as the recipe says) and, at the same
#      time, keyrite-cli alone in the second directory, with its own target directory: both
#      `keyrite` must be bit-identical;
#   3. CycloneDX SBOMs of both binaries (cargo-cyclonedx, pinned in .ci/setup.sh);
#   4. the .deb (packaging/build-deb.sh) and lintian, which must report no error;
#   5. the .deb installed into an empty dpkg root and run from there
#      (packaging/install-check.sh: --version against sha256sum, hsm info, a rehearsal
#      ceremony, the production refusal of a software token, man, completions, and the
#      desktop's first paint under Xvfb).
# Everything lands in target/package/, emptied first: the .deb, binaries, SBOMs and SHA256SUMS
# in out/, beside the two build trees. After a failure out/ is renamed failed-out/, so no
# artefact of a failed run sits where a good one is expected.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS="${KEYRITE_TOOLS:-$HOME/.cache/keyrite-tools}"
export PATH="$TOOLS/bin:$PATH"
export CARGO_TERM_COLOR=never
WORK="$PWD/target/package"
step() { printf '\n==> package: %s (%ds so far)\n' "$*" "$SECONDS"; }
# Each release build reports its wall and CPU time (bash's `time`, no extra tool).
TIMEFORMAT="%R s wall, %U s user + %S s system"

if ! "$TOOLS/bin/cargo-cyclonedx" cyclonedx --version 2>/dev/null | grep -qx 'cargo-cyclonedx-cyclonedx 0.5.9'; then
  echo "package: cargo-cyclonedx 0.5.9 missing in $TOOLS/bin: run bash .ci/setup.sh" >&2
  exit 1
fi

KEYRITE_COMMIT=$(git rev-parse HEAD)
SOURCE_DATE_EPOCH=$(git log -1 --format=%ct HEAD)
export KEYRITE_COMMIT SOURCE_DATE_EPOCH
if [[ -n "$(git status --porcelain --untracked-files=no)" ]]; then
  echo "package: note: the work tree has uncommitted changes; the package is built from HEAD ($KEYRITE_COMMIT) without them"
fi
A="$WORK/first/keyrite"
B="$WORK/second-build/elsewhere/keyrite"
OUT="$WORK/out"
rm -rf "$WORK"
mkdir -p "$OUT" "$(dirname "$B")"
second_pid=""
finish() {
  local rc=$?
  if [[ -n "$second_pid" ]]; then kill -- "-$second_pid" 2>/dev/null || true; fi
  if ((rc != 0)) && [[ -d "$OUT" ]]; then
    mv "$OUT" "$WORK/failed-out"
    echo "package: failed (exit $rc); artefacts so far in $WORK/failed-out, build trees kept" >&2
  fi
}
trap finish EXIT

step "source tree of $KEYRITE_COMMIT with vendored crates"
cargo fetch --locked >/dev/null
bash packaging/source-tree.sh "$KEYRITE_COMMIT" "$A"
cp -a "$A" "$B"

# The second CLI build starts now, in its own directory and target directory, and runs beside
# the first directory's two builds: each build has phases that keep fewer than two cores busy
# (the crates at the top of the graph, the link-time optimisation), and overlapping them fills
# the other core. Its output goes to its own log.
step "release build of keyrite-cli in the second directory (background, log: second-build.log)"
# setsid: its own process group, so that a failure here stops the whole build (cargo, rustc).
setsid bash -c 'TIMEFORMAT="$1"; time bash packaging/rebuild.sh "$0" keyrite-cli' "$B" "$TIMEFORMAT" \
  >"$WORK/second-build.log" 2>&1 &
second_pid=$!

step "release build of keyrite-cli (first directory)"
time bash packaging/rebuild.sh "$A" keyrite-cli
# Only now, so that the two CLI builds ran in identical trees.
step "UI of the commit, built in the first directory (embedded in the desktop)"
(cd "$A/ui" && npm ci --offline --no-audit --no-fund --loglevel=error && npm run --silent build) >"$WORK/ui-build.log" 2>&1 || {
  cat "$WORK/ui-build.log" >&2
  echo "package: the UI build failed" >&2
  exit 1
}
step "release build of keyrite-desktop (first directory)"
time bash packaging/rebuild.sh "$A" keyrite-desktop

step "waiting for the second directory's keyrite-cli"
if ! wait "$second_pid"; then
  second_pid=""
  cat "$WORK/second-build.log" >&2
  echo "package: the second build of keyrite-cli failed" >&2
  exit 1
fi
second_pid=""
echo "second directory's build: $(tail -n 1 "$WORK/second-build.log")"
first=$(sha256sum "$A/target/release/keyrite" | cut -d' ' -f1)
second=$(sha256sum "$B/target/release/keyrite" | cut -d' ' -f1)
echo "keyrite SHA-256, first directory:  $first"
echo "keyrite SHA-256, second directory: $second"
if [[ "$first" != "$second" ]]; then
  echo "package: the two builds of keyrite differ; see docs/rebuild.md (diffoscope helps)" >&2
  exit 1
fi

step "CycloneDX SBOMs"
bash packaging/sbom.sh "$A" "$OUT"

step ".deb"
cp "$A/target/release/keyrite" "$A/target/release/keyrite-desktop" "$OUT/"
DEB=$(bash packaging/build-deb.sh "$A" "$OUT" "$OUT")
(cd "$OUT" && sha256sum keyrite keyrite-desktop ./*.cdx.json "$(basename "$DEB")" >SHA256SUMS)
cat "$OUT/SHA256SUMS"

step "lintian (no error allowed)"
lintian --fail-on error "$DEB"

step "install into an empty root and run"
bash packaging/install-check.sh "$DEB" "$WORK/install"

# The build trees (about 4 GB) stay until the next run empties target/package: removing them
# here took 2.5 minutes of CI time on the shared machine, and CI discards its clone anyway.
step "done"
