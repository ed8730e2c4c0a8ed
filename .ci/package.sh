#!/usr/bin/env bash
# Package and rebuild checks (issue 20). Not yet part of .ci/test.sh: its two release builds
# and the SBOM tool's build would take CI past its time budget on a 2-core machine until they
# are measured there; run it by hand before a release (`bash .ci/package.sh` after `.ci/test.sh`):
#   1. a source tree of HEAD with every crate vendored (packaging/source-tree.sh), copied to a
#      second directory before anything is built;
#   2. the release build of the recipe (packaging/rebuild.sh) in the first: keyrite-cli, then
#      keyrite-desktop (each alone, as the recipe says);
#   3. keyrite-cli alone again in the second directory (beside the desktop's build): both
#      `keyrite` must be bit-identical;
#   4. CycloneDX SBOMs of both binaries (cargo-cyclonedx, pinned in .ci/setup.sh);
#   5. the .deb (packaging/build-deb.sh) and lintian, which must report no error;
#   6. the .deb installed into an empty dpkg root and run from there
#      (packaging/install-check.sh: hsm info, a rehearsal ceremony, man, completions, and the
#      desktop's first paint under Xvfb).
# Everything lands in target/package/ (the .deb, binaries, SBOMs and SHA256SUMS in out/).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${KEYRITE_TOOLS:-$HOME/.cache/keyrite-tools}/bin:$PATH"
WORK="$PWD/target/package"
TOOLS="${KEYRITE_TOOLS:-$HOME/.cache/keyrite-tools}"
if ! { [[ -x "$TOOLS/bin/cargo-cyclonedx" ]] && "$TOOLS/bin/cargo-cyclonedx" --version 2>/dev/null | grep -q 0.5.9; }; then
  cargo install cargo-cyclonedx --version '=0.5.9' --locked --root "$TOOLS"
fi
step() { printf '\n==> package: %s (%ds so far)\n' "$*" "$SECONDS"; }

KEYRITE_COMMIT=$(git rev-parse HEAD)
SOURCE_DATE_EPOCH=$(git log -1 --format=%ct HEAD)
export KEYRITE_COMMIT SOURCE_DATE_EPOCH
A="$WORK/first/keyrite"
B="$WORK/second-build/elsewhere/keyrite"
OUT="$WORK/out"
rm -rf "$WORK"
mkdir -p "$OUT" "$(dirname "$B")"

step "source tree of $KEYRITE_COMMIT with vendored crates"
cargo fetch --locked >/dev/null
bash packaging/source-tree.sh "$KEYRITE_COMMIT" "$A"
cp -a "$A" "$B"
# The desktop embeds the built UI (ui/dist, not in git); .ci/test.sh built it already.
[[ -f ui/dist/index.html ]] || { echo "package: build the UI first: npm --prefix ui run build" >&2; exit 1; }
cp -a ui/dist "$A/ui/dist"

step "release build of keyrite-cli (first directory)"
bash packaging/rebuild.sh "$A" keyrite-cli
# The second CLI build runs beside the desktop's: each ends in a long single-threaded LTO
# step, so together they keep both cores busy (it writes to its own log).
step "release builds of keyrite-desktop (first directory) and keyrite-cli (second directory)"
bash packaging/rebuild.sh "$B" keyrite-cli >"$WORK/second-build.log" 2>&1 &
second_pid=$!
bash packaging/rebuild.sh "$A" keyrite-desktop
if ! wait "$second_pid"; then
  cat "$WORK/second-build.log" >&2
  echo "package: the second build of keyrite-cli failed" >&2
  exit 1
fi
tail -n 1 "$WORK/second-build.log"
first=$(sha256sum "$A/target/release/keyrite" | cut -d' ' -f1)
second=$(sha256sum "$B/target/release/keyrite" | cut -d' ' -f1)
echo "keyrite SHA-256, first directory:  $first"
echo "keyrite SHA-256, second directory: $second"
if [[ "$first" != "$second" ]]; then
  echo "package: the two builds of keyrite differ; see docs/rebuild.md (diffoscope helps)" >&2
  exit 1
fi
rm -rf "$B"

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
step "done"
