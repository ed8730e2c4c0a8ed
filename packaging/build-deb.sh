#!/usr/bin/env bash
# Builds keyrite_VERSION_ARCH.deb from release binaries and the source tree, with dpkg-deb
# (no debhelper, no tauri bundler: every file and field is listed here, nothing is fetched).
#
#   packaging/build-deb.sh SRC_DIR BIN_DIR OUT_DIR
#
# SRC_DIR: the source tree (ceremony scripts, docs, icons, packaging/); BIN_DIR: release
# `keyrite` and `keyrite-desktop`, plus the SBOMs (*.cdx.json) to ship beside them. Man pages
# and completions come from the `keyrite` being packaged (generated from its clap
# definitions). With SOURCE_DATE_EPOCH set, every file time in the package is that time, so
# the same inputs give the same .deb.
set -euo pipefail
SRC=$(realpath "$1")
BIN=$(realpath "$2")
OUT=$(realpath "$3")
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' "$SRC/Cargo.toml" | head -1)
DEB_VERSION="$VERSION-1"
ARCH=$(dpkg --print-architecture)
: "${SOURCE_DATE_EPOCH:=$(date +%s)}"
export SOURCE_DATE_EPOCH

STAGE="$OUT/stage"
ROOT="$STAGE/keyrite"
rm -rf "$STAGE"
mkdir -p "$ROOT/DEBIAN" "$OUT"
d() { install -d -m 0755 "$ROOT/$1"; }
f() { install -D -m 0644 "$1" "$ROOT/$2"; }

# Programs.
install -D -m 0755 "$BIN/keyrite" "$ROOT/usr/bin/keyrite"
install -D -m 0755 "$BIN/keyrite-desktop" "$ROOT/usr/bin/keyrite-desktop"

# Ceremony scripts: reviewed data, hashed into every record; never edited in place.
d usr/share/keyrite/ceremony-scripts
for s in "$SRC"/ceremony-scripts/*.toml; do
  f "$s" "usr/share/keyrite/ceremony-scripts/$(basename "$s")"
done

# Documentation, copyright, changelog, SBOMs.
DOC=usr/share/doc/keyrite
f "$SRC/README.md" "$DOC/README.md"
for m in "$SRC"/docs/*.md; do f "$m" "$DOC/$(basename "$m")"; done
for m in "$SRC"/docs/formats/*.md; do f "$m" "$DOC/formats/$(basename "$m")"; done
f "$SRC/packaging/copyright" "$DOC/copyright"
gzip -9n <"$SRC/packaging/changelog" >"$STAGE/changelog.Debian.gz"
f "$STAGE/changelog.Debian.gz" "$DOC/changelog.Debian.gz"
for s in "$BIN"/*.cdx.json; do f "$s" "$DOC/sbom/$(basename "$s")"; done

# Man pages (gzip -n: no name or time in the header) and completions, from the binary.
mkdir -p "$STAGE/man"
"$ROOT/usr/bin/keyrite" man --out-dir "$STAGE/man" >/dev/null
cp "$SRC/packaging/keyrite-desktop.1" "$STAGE/man/"
for p in "$STAGE"/man/*.1; do
  gzip -9n <"$p" >"$p.gz"
  f "$p.gz" "usr/share/man/man1/$(basename "$p").gz"
done
"$ROOT/usr/bin/keyrite" completions bash >"$STAGE/keyrite.bash"
"$ROOT/usr/bin/keyrite" completions zsh >"$STAGE/_keyrite"
f "$STAGE/keyrite.bash" usr/share/bash-completion/completions/keyrite
f "$STAGE/_keyrite" usr/share/zsh/vendor-completions/_keyrite

# Desktop entry and icons.
f "$SRC/packaging/keyrite.desktop" usr/share/applications/keyrite.desktop
f "$SRC/icons/32x32.png" usr/share/icons/hicolor/32x32/apps/keyrite.png
f "$SRC/icons/64x64.png" usr/share/icons/hicolor/64x64/apps/keyrite.png
f "$SRC/icons/128x128.png" usr/share/icons/hicolor/128x128/apps/keyrite.png
f "$SRC/icons/128x128@2x.png" usr/share/icons/hicolor/256x256/apps/keyrite.png
if [[ -s "$SRC/packaging/lintian-overrides" ]]; then
  f "$SRC/packaging/lintian-overrides" usr/share/lintian/overrides/keyrite
fi

# Shared-library dependencies as dpkg computes them (dpkg-shlibdeps wants a debian/control).
mkdir -p "$STAGE/shlibs/debian"
printf 'Source: keyrite\n\nPackage: keyrite\nArchitecture: any\n' >"$STAGE/shlibs/debian/control"
SHLIBS=$(cd "$STAGE/shlibs" && dpkg-shlibdeps -O -e "$ROOT/usr/bin/keyrite" \
  -e "$ROOT/usr/bin/keyrite-desktop" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[[ -n "$SHLIBS" ]] || { echo "build-deb: dpkg-shlibdeps found no libraries" >&2; exit 1; }
# Beyond linked libraries: pcscd serves the YubiKeys (libpcsclite talks to it), softhsm2 is
# the rehearsal HSM (loaded with dlopen, so no linker sees it).
DEPENDS="$SHLIBS, pcscd, softhsm2"

sed -e "s/@VERSION@/$DEB_VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@DEPENDS@/$DEPENDS/" \
  -e "s/@SIZE@/$(du -sk --exclude=DEBIAN "$ROOT" | cut -f1)/" \
  "$SRC/packaging/control.in" >"$ROOT/DEBIAN/control"
(cd "$ROOT" && find usr -type f -print0 | sort -z | xargs -0 md5sum) >"$ROOT/DEBIAN/md5sums"
chmod 0644 "$ROOT/DEBIAN/control" "$ROOT/DEBIAN/md5sums"

find "$ROOT" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
DEB="$OUT/keyrite_${DEB_VERSION}_${ARCH}.deb"
rm -f "$DEB"
dpkg-deb --root-owner-group -Zxz --build "$ROOT" "$DEB" >/dev/null
echo "$DEB"
