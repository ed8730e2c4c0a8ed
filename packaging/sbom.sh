#!/usr/bin/env bash
# CycloneDX SBOMs (JSON, spec 1.5) of the two shipped binaries, by cargo-cyclonedx (pinned in
# .ci/setup.sh), from the vendored tree the binaries were built from (offline):
#
#   packaging/sbom.sh SRC_DIR OUT_DIR   ->  OUT_DIR/keyrite.cdx.json, keyrite-desktop.cdx.json
#
# Each lists the crates compiled into that binary for this machine's target (dev-dependencies
# and other platforms' crates left out), with versions, licences and checksums.
set -euo pipefail
SRC=$(realpath "$1")
OUT=$(realpath "$2")
cd "$SRC"
for pair in keyrite-cli:keyrite src-tauri:keyrite-desktop; do
  dir=${pair%%:*}
  bin=${pair##*:}
  manifest="$SRC/$dir/Cargo.toml"
  [[ -f "$manifest" ]] || manifest="$SRC/crates/$dir/Cargo.toml"
  # The vendored sources need no network; CARGO_NET_OFFLINE keeps cargo metadata from trying.
  CARGO_NET_OFFLINE=true cargo cyclonedx --manifest-path "$manifest" --format json \
    --spec-version 1.5 --describe binaries -q
  found=$(find "$(dirname "$manifest")" -maxdepth 1 -name "${bin}_bin.cdx.json" | head -1)
  [[ -n "$found" ]] || { echo "sbom: no SBOM written for $bin" >&2; exit 1; }
  mv "$found" "$OUT/$bin.cdx.json"
  python3 - "$OUT/$bin.cdx.json" "$bin" <<'PY'
import json, sys
path, binary = sys.argv[1], sys.argv[2]
bom = json.load(open(path))
names = {c["name"] for c in bom.get("components", [])}
need = {"keyrite-core", "rusqlite", "cryptoki"} | ({"tauri"} if binary == "keyrite-desktop" else set())
missing = need - names
if bom.get("bomFormat") != "CycloneDX" or bom.get("specVersion") != "1.5" or missing:
    sys.exit(f"sbom: {path} is not the expected CycloneDX 1.5 SBOM (missing {sorted(missing)})")
print(f"sbom: {path}: {len(names)} components")
PY
done
