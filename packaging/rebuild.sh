#!/usr/bin/env bash
# The rebuild recipe of docs/rebuild.md: a release build of one package of a vendored source
# tree (packaging/source-tree.sh), locked and offline, with every path that differs between
# two machines or two directories remapped to a fixed name.
#
#   SOURCE_DATE_EPOCH=… KEYRITE_COMMIT=… packaging/rebuild.sh SRC_DIR PACKAGE
#
# PACKAGE is keyrite-cli or keyrite-desktop, each built alone: building them together would
# unify their dependencies' features and so give a different `keyrite` than the recipe.
# The binary lands in SRC_DIR/target/release/.
set -euo pipefail
SRC=$(realpath "$1")
PKG=$2
: "${SOURCE_DATE_EPOCH:?set SOURCE_DATE_EPOCH (the commit time: git log -1 --format=%ct)}"
: "${KEYRITE_COMMIT:?set KEYRITE_COMMIT (the commit: git rev-parse HEAD)}"
export SOURCE_DATE_EPOCH KEYRITE_COMMIT
CARGO_HOME_DIR=$(realpath "${CARGO_HOME:-$HOME/.cargo}")
# Only what this script sets may reach rustc.
unset CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_RUSTFLAGS CARGO_TARGET_DIR CARGO_BUILD_TARGET_DIR
export RUSTFLAGS="--remap-path-prefix=$SRC=/build/keyrite --remap-path-prefix=$CARGO_HOME_DIR=/cargo"
cd "$SRC"
cargo build --release --locked --offline -p "$PKG"
