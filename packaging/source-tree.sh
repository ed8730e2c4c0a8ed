#!/usr/bin/env bash
# Lays out a self-contained source tree of one commit for an offline, bit-for-bit rebuild
# (docs/rebuild.md): the commit's files (git archive) plus every crate of Cargo.lock
# vendored under vendor/ with the source replacement in .cargo/config.toml.
#
#   packaging/source-tree.sh COMMIT DIR      (DIR must not exist)
#
# Crates come from cargo's local registry cache (`cargo fetch --locked` fills it), so this
# runs offline. The tree needs no .git: the rebuild takes the commit from KEYRITE_COMMIT.
set -euo pipefail
COMMIT=$1
DIR=$2
if [[ -e "$DIR" ]]; then
  echo "source-tree: $DIR exists; choose a new directory" >&2
  exit 1
fi
mkdir -p "$DIR"
git archive --format=tar "$COMMIT" | tar -x -C "$DIR"
cd "$DIR"
mkdir -p .cargo
# cargo vendor prints the source replacement to use; keep only the TOML.
cargo vendor --offline --locked --versioned-dirs vendor 2>/dev/null |
  sed -n '/^\[source/,$p' >.cargo/config.toml
grep -q 'directory = "vendor"' .cargo/config.toml || {
  echo "source-tree: cargo vendor did not produce a source replacement" >&2
  exit 1
}
