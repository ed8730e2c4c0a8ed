#!/usr/bin/env bash
# Makes the RustSec snapshot in ../shared/advisory-db available to cargo-deny offline: cargo-deny
# expects a git clone at target/advisory-dbs/advisory-db-<hash of the URL>.
set -euo pipefail
cd "$(dirname "$0")/.."
src="${KEYRITE_ADVISORY_DB:-../shared/advisory-db}"
dst="target/advisory-dbs/advisory-db-3157b0e258782691"
if [[ ! -d "$src/crates" ]]; then
  echo "advisory-db: no RustSec snapshot at $src (set KEYRITE_ADVISORY_DB)" >&2
  exit 1
fi
want="$(cat "$src/SNAPSHOT_COMMIT" 2>/dev/null || echo unknown)"
if [[ -f "$dst/.snapshot" && "$(cat "$dst/.snapshot")" == "$want" ]]; then
  exit 0
fi
rm -rf "$dst"
mkdir -p "$dst"
cp -r "$src"/. "$dst"/
(
  cd "$dst"
  git init -q
  git add -A
  git -c user.name=keyrite-ci -c user.email=ci@keyrite.invalid commit -qm "RustSec snapshot $want"
)
echo "$want" > "$dst/.snapshot"
echo "advisory-db: snapshot $want ready"
