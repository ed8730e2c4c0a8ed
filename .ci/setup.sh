#!/usr/bin/env bash
# Installs, idempotently, everything a fresh Debian 12 machine lacks to build, run and test Keyrite:
# Debian packages, the UI's npm packages, and the cargo tools (tauri-driver, cargo-deny).
# Safe to run again: each step checks first and does nothing when already satisfied.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PKGS=(
  # Tauri 2 / WebKitGTK 4.1 build stack
  libwebkit2gtk-4.1-dev build-essential curl wget file libxdo-dev libssl-dev
  libayatana-appindicator3-dev librsvg2-dev pkg-config
  # PKCS#11: SoftHSM2 (the rehearsal HSM) and OpenSC's pkcs11-tool (independent cross-check)
  softhsm2 opensc
  # YubiKey PIV path: PC/SC daemon, headers, virtual reader driver for the test card, bindgen needs
  pcscd libpcsclite-dev vsmartcard-vpcd pcsc-tools libclang-dev clang iproute2
  # Records: poppler (pdfsig, pdftotext, pdffonts, pdftoppm) and zbar (QR decoding); qpdf
  # (structure check) and python3-venv (for pyHanko, below): independent validators in tests
  poppler-utils zbar-tools qpdf python3-venv
  # Share cards printed through CUPS: tests start a private cupsd (own config, socket and spool)
  # with a raw queue; cups-client brings lp and lpadmin, cups-bsd the lpr family sites may use
  cups cups-client cups-bsd
  # openssl(1): independent cross-check of YubiKey attestation chains in tests
  openssl
  # Headless GUI tests
  xvfb xauth webkit2gtk-driver imagemagick x11-utils fonts-dejavu-core bc
)

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi

missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# UI packages from the committed lockfile.
if [[ ! -d ui/node_modules ]] || [[ ui/package-lock.json -nt ui/node_modules/.package-lock.json ]]; then
  (cd ui && npm ci --no-audit --no-fund)
fi

# Cargo tools, outside the work tree so that fresh clones reuse them.
TOOLS="${KEYRITE_TOOLS:-$HOME/.cache/keyrite-tools}"
mkdir -p "$TOOLS"
need_tool() { # name version
  [[ -x "$TOOLS/bin/$1" ]] && "$TOOLS/bin/$1" --version 2>/dev/null | grep -q "$2"
}
# tauri-driver has no --version (it exits 1 with its usage): ask cargo's install record instead,
# else `cargo install` ran, and queried the registry, on every setup.
if ! { [[ -x "$TOOLS/bin/tauri-driver" ]] && grep -q '^"tauri-driver 2\.' "$TOOLS/.crates.toml" 2>/dev/null; }; then
  cargo install tauri-driver --version '^2' --locked --root "$TOOLS"
fi
if ! need_tool cargo-deny 0.20.2; then
  cargo install cargo-deny --version '=0.20.2' --locked --root "$TOOLS"
fi
# pyHanko, pinned, in its own virtualenv: the record tests validate signatures with it
# (KEYRITE_PYHANKO_PYTHON points them at this interpreter).
PYHANKO_VERSION=0.38.0
PYHANKO_CERTVALIDATOR_VERSION=0.33.0
PYHANKO_VENV="$TOOLS/pyhanko"
if ! "$PYHANKO_VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('pyhanko') != '$PYHANKO_VERSION')" 2>/dev/null; then
  python3 -m venv "$PYHANKO_VENV"
  "$PYHANKO_VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    "pyhanko==$PYHANKO_VERSION" "pyhanko-certvalidator==$PYHANKO_CERTVALIDATOR_VERSION"
fi
# --- SIEM export validators (tests/siem/validate.py, run by tests/tests/siem_export.rs) ---
# Third-party checkers, pinned: pydantic-ocsf ships the OCSF 1.3.0 schema it validates with
# (no network at test time), pycef splits CEF, syslog-rfc5424-parser parses RFC 5424.
SIEM_VENV="$TOOLS/venv"
SIEM_PY=("pydantic-ocsf==3.0.0" "pycef==1.11" "syslog-rfc5424-parser==0.3.2")
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-venv
fi
[[ -x "$SIEM_VENV/bin/python" ]] || python3 -m venv "$SIEM_VENV"
siem_missing=()
for req in "${SIEM_PY[@]}"; do
  "$SIEM_VENV/bin/python" -m pip show "${req%%==*}" 2>/dev/null | grep -qx "Version: ${req##*==}" ||
    siem_missing+=("$req")
done
if ((${#siem_missing[@]})); then
  "$SIEM_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${siem_missing[@]}"
fi
# --- end SIEM export validators ---

# --- Recovery without Keyrite (tools/recover-reference/recover.py, docs/recovery-without-keyrite.md,
# run by tests/tests/recovery_reference.rs): `cryptography` and `argon2-cffi`, pinned in the
# tool's requirements.txt, in their own virtualenv ---
RECOVER_VENV="$TOOLS/recover-reference"
RECOVER_REQ=tools/recover-reference/requirements.txt
[[ -x "$RECOVER_VENV/bin/python" ]] || python3 -m venv "$RECOVER_VENV"
# Every pin installed at its version? (importlib.metadata; a missing package raises.)
if ! "$RECOVER_VENV/bin/python" -c '
import sys, importlib.metadata as m
pins = [l.split("==") for l in map(str.strip, open(sys.argv[1])) if l and not l.startswith("#")]
sys.exit(any(m.version(name) != version for name, version in pins))' "$RECOVER_REQ" 2>/dev/null; then
  "$RECOVER_VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$RECOVER_REQ"
fi
# --- end recovery without Keyrite ---

# --- packaging (.ci/package.sh, the last step of .ci/test.sh): dpkg-dev (dpkg-shlibdeps) computes
# the .deb's Depends, lintian checks it, zsh loads the completion script, man-db renders the man
# pages (tests/tests/cli_conventions.rs too); xvfb, imagemagick and x11-utils (above) watch the
# installed desktop's first paint. cargo-cyclonedx writes the SBOMs: pinned, built once into
# $TOOLS (a few minutes), checked with `cargo-cyclonedx cyclonedx --version` because the bare
# binary takes no --version ---
PKG_APT=(dpkg-dev lintian zsh man-db)
pkg_missing=()
for p in "${PKG_APT[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || pkg_missing+=("$p")
done
if ((${#pkg_missing[@]})); then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${pkg_missing[@]}"
fi
if [[ -z "${KEYRITE_SETUP_APP_ONLY:-}" ]] &&
  ! "$TOOLS/bin/cargo-cyclonedx" cyclonedx --version 2>/dev/null | grep -qx 'cargo-cyclonedx-cyclonedx 0.5.9'; then
  cargo install cargo-cyclonedx --version '=0.5.9' --locked --root "$TOOLS"
fi
# --- end packaging ---

# --- openCryptoki: a third PKCS#11 module, Debian's soft token, one that lacks most of what
# Keyrite needs (tests/tests/cli_opencryptoki.rs). The tests start its pkcsslotd themselves, in a
# private mount and IPC namespace with their own state (tests/src/opencryptoki.rs, needs root);
# the package's own service and /var/lib/opencryptoki are never used. ---
OCK_APT=(opencryptoki)
ock_missing=()
for p in "${OCK_APT[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || ock_missing+=("$p")
done
if ((${#ock_missing[@]})); then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${ock_missing[@]}"
fi
# --- end openCryptoki ---

# --- Kryoptic: a second, independent PKCS#11 module (tests/tests/*kryoptic*.rs) ---
# kryoptic-lib is a library; the module is a cdylib exporting the three PKCS#11 entry points,
# written here (a few lines) and built once into $TOOLS/lib. Without EdDSA: Debian 12's
# OpenSSL 3.0 lacks what its `eddsa` feature needs, and Keyrite must refuse Ed25519 cleanly.
KRYOPTIC_VERSION=1.5.4
KRYOPTIC_SO="$TOOLS/lib/libkryoptic_pkcs11.so"
# Tests only: .ci/launch.sh sets KEYRITE_SETUP_APP_ONLY=1 and skips this build (minutes).
if [[ -z "${KEYRITE_SETUP_APP_ONLY:-}" ]] &&
  { [[ ! -f "$TOOLS/lib/kryoptic-$KRYOPTIC_VERSION.stamp" ]] || [[ ! -f "$KRYOPTIC_SO" ]]; }; then
  for p in libssl-dev libsqlite3-dev libclang-dev clang pkg-config; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
      { $SUDO apt-get update -qq; DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$p"; }
  done
  src="$TOOLS/kryoptic-src"
  mkdir -p "$src/src" "$TOOLS/lib"
  cat > "$src/Cargo.toml" <<EOT
[package]
name = "kryoptic-pkcs11"
version = "$KRYOPTIC_VERSION"
edition = "2021"
publish = false
[lib]
crate-type = ["cdylib"]
[dependencies]
kryoptic-lib = { version = "=$KRYOPTIC_VERSION", default-features = false, features = ["minimal", "dynamic"] }
[profile.dev]
debug = false
EOT
  cat > "$src/src/lib.rs" <<'EOT'
//! The PKCS#11 entry points of kryoptic-lib, exported from a shared library.
use kryoptic_lib::fns::general as g;
use kryoptic_lib::pkcs11::*;
#[no_mangle]
pub extern "C" fn C_GetFunctionList(list: CK_FUNCTION_LIST_PTR_PTR) -> CK_RV {
    g::fn_get_function_list(list)
}
#[no_mangle]
pub extern "C" fn C_GetInterfaceList(list: CK_INTERFACE_PTR, count: CK_ULONG_PTR) -> CK_RV {
    g::fn_get_interface_list(list, count)
}
#[no_mangle]
pub extern "C" fn C_GetInterface(
    name: CK_UTF8CHAR_PTR,
    version: CK_VERSION_PTR,
    iface: CK_INTERFACE_PTR_PTR,
    flags: CK_FLAGS,
) -> CK_RV {
    g::fn_get_interface(name, version, iface, flags)
}
EOT
  (cd "$src" && CARGO_TARGET_DIR="$src/target" cargo build --quiet)
  cp "$src/target/debug/libkryoptic_pkcs11.so" "$KRYOPTIC_SO"
  rm -rf "$src/target"
  touch "$TOOLS/lib/kryoptic-$KRYOPTIC_VERSION.stamp"
fi
# --- end Kryoptic ---

echo "setup: done (tools in $TOOLS/bin, pyHanko in $PYHANKO_VENV, SIEM validators in $SIEM_VENV, recovery reference in $RECOVER_VENV)"
