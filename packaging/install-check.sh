#!/usr/bin/env bash
# Installs the .deb into an empty dpkg root and runs what it installed.
#
#   packaging/install-check.sh DEB WORK_DIR
#
# What this proves, and what not: dpkg installs the package into WORK_DIR/root (an empty
# root with its own dpkg database; --force-depends because that root holds no libraries),
# and the installed programs, man pages, completions and ceremony scripts are used from
# there: `--version` against `sha256sum`, `hsm info`, a rehearsal ceremony, the production
# refusal of a software token, man pages, completions, the desktop's first paint. The
# programs load their libraries from this machine, whose Debian packages must
# satisfy the package's Depends: `apt-get --simulate install` checks that every dependency
# names a real Debian 12 package and that nothing beyond the package itself is missing. A
# missing file in the package, a wrong path, a man page that does not render or a program
# that does not start from its installed place fails here; a missing dependency that this
# machine happens to have installed by other means only shows in the apt check.
set -euo pipefail
DEB=$(realpath "$1")
WORK=$(realpath "$2")
ROOT="$WORK/root"
DATA="$WORK/data"
rm -rf "$ROOT" "$DATA"
mkdir -p "$ROOT/var/lib/dpkg/info" "$ROOT/var/lib/dpkg/updates" "$DATA"
touch "$ROOT/var/lib/dpkg/status" "$ROOT/var/lib/dpkg/available"
fail() { echo "install-check: $*" >&2; exit 1; }

echo "install-check: Depends against Debian's archive (apt-get --simulate)"
sim=$(apt-get --simulate --no-install-recommends install "$DEB" 2>&1) || fail "apt: $sim"
inst=$(grep '^Inst ' <<<"$sim" | awk '{print $2}' | tr '\n' ' ')
[[ "$inst" == "keyrite " ]] || fail "apt would install more than keyrite: $inst"

echo "install-check: dpkg --root $ROOT -i $(basename "$DEB")"
dpkg --root="$ROOT" --force-depends -i "$DEB" >"$WORK/dpkg.log" 2>&1 || {
  cat "$WORK/dpkg.log"
  fail "dpkg -i failed"
}
dpkg --root="$ROOT" -s keyrite | grep -qx 'Status: install ok installed' || fail "not installed"
K="$ROOT/usr/bin/keyrite"

echo "install-check: keyrite --version names the installed file's SHA-256"
v=$("$K" --version)
sum=$(sha256sum "$K" | cut -d' ' -f1)
grep -qx "binary SHA-256: $sum" <<<"$v" || fail "--version does not show $sum: $v"

echo "install-check: keyrite hsm info (rehearsal, SoftHSM2)"
info=$("$K" --data-dir "$DATA" hsm info)
grep -qx 'Mode:   rehearsal' <<<"$info" || fail "hsm info: $info"
grep -q '^Slot [0-9]*: keyrite-rehearsal$' <<<"$info" || fail "hsm info: no rehearsal token: $info"

echo "install-check: a rehearsal ceremony from the installed scripts"
SCRIPTS="$ROOT/usr/share/keyrite/ceremony-scripts"
[[ $(ls "$SCRIPTS"/*.toml | wc -l) -ge 9 ]] || fail "ceremony scripts missing in $SCRIPTS"
cat >"$WORK/answers.toml" <<'ANSWERS'
so_pin = "so-Pin-4417x-package"
user_pin = "user-Pin-8832-package"
share_passphrase = "rehearsal passphrase"
[participants]
administrator = ["Ada Admin"]
witness = ["Wes Witness"]
auditor = ["Aud Auditor"]
[clock]
reference = "test clock"
offset_seconds = 0
ANSWERS
"$K" --data-dir "$DATA" ceremony run "$SCRIPTS/hsm-initialisation.toml" \
  --answers "$WORK/answers.toml" >"$WORK/ceremony.log" 2>&1 || {
  tail -20 "$WORK/ceremony.log"
  fail "the rehearsal ceremony failed"
}
grep -q '^Ceremony hsm-initialisation-.* completed: ' "$WORK/ceremony.log" ||
  fail "ceremony did not complete: $(tail -5 "$WORK/ceremony.log")"
"$K" --data-dir "$DATA" journal verify >/dev/null || fail "journal verify after the ceremony"

echo "install-check: production refuses the software token (issue 17 item 8)"
# The installed release binary with a production site profile pointing at SoftHSM2 and the
# rehearsal token the ceremony above used (profile format: tests/tests/ceremony_production.rs):
# it must refuse before any operation. SOFTHSM2_CONF points SoftHSM2 at that token, as a site
# misconfigured this way would. Nothing may change: every file of the data directory (token
# objects, records, checkpoints, journal database) by content, and the journal's head; SQLite's
# -wal/-shm and the lock file are housekeeping and left out (SoftHSM2 also rewrites its token's
# `generation` file on open, with the same content, which the comparison tolerates).
cat >"$WORK/production.toml" <<'PROFILE'
version = 1
[site]
name = "Vault room B"
mode = "production"
[hsm]
module = "/usr/lib/softhsm/libsofthsm2.so"
token_label = "keyrite-rehearsal"
[hsm.expect]
manufacturer = "SoftHSM project"
model = "SoftHSM v2"
serial = "0000"
PROFILE
serial=$("$K" --data-dir "$DATA" hsm info --json | python3 -c '
import json, sys
print(*[t["serial"] for t in json.load(sys.stdin)["tokens"] if t.get("label") == "keyrite-rehearsal"])')
[[ "$serial" =~ ^[0-9a-f]{16}$ ]] || fail "no single rehearsal token serial: $serial"
snapshot() {
  (cd "$DATA" && find . -type f ! -name 'journal.sqlite-*' ! -name '*.lock' -print0 | sort -z |
    xargs -0 sha256sum)
  "$K" --data-dir "$DATA" journal head
}
before=$(snapshot)
grep -q '^[0-9a-f]\{64\}  \./softhsm/tokens/' <<<"$before" || fail "no token files to compare"
rc=0
SOFTHSM2_CONF="$DATA/softhsm/softhsm2.conf" "$K" --data-dir "$DATA" --profile "$WORK/production.toml" \
  ceremony run "$SCRIPTS/root-key-generation.toml" </dev/null >"$WORK/production.out" \
  2>"$WORK/production.err" || rc=$?
[[ $rc -eq 1 ]] || fail "production run: exit $rc, expected 1: $(cat "$WORK/production.err")"
want="keyrite: error: HSM identity check refused token \"keyrite-rehearsal\" (serial $serial): it is \
a software token (SoftHSM project SoftHSM v2) whose keys live in host files; production needs a \
hardware HSM; no operation was performed"
[[ "$(cat "$WORK/production.err")" == "$want" ]] ||
  fail "production run: stderr is not the refusal: $(cat "$WORK/production.err")"
[[ ! -s "$WORK/production.out" ]] || fail "production run wrote to stdout: $(cat "$WORK/production.out")"
after=$(snapshot)
[[ "$after" == "$before" ]] || fail "the production refusal changed the data directory: $(diff <(echo "$before") <(echo "$after"))"

echo "install-check: man pages"
for page in keyrite keyrite-hsm-init keyrite-record-verify keyrite-desktop; do
  out=$(MANWIDTH=80 man --warnings -M "$ROOT/usr/share/man" "$page" 2>&1) || fail "man $page: $out"
  grep -q '^NAME$' <<<"$out" || fail "man $page: $out"
done
MANWIDTH=80 man -M "$ROOT/usr/share/man" keyrite | grep -q '^EXIT STATUS$' || fail "no EXIT STATUS"

echo "install-check: completions load in bash and zsh"
c=$(bash -c "source '$ROOT/usr/share/bash-completion/completions/keyrite' && complete -p keyrite")
[[ "$c" == *"-F _keyrite keyrite" ]] || fail "bash completion: $c"
z=$(zsh -c "fpath=('$ROOT/usr/share/zsh/vendor-completions' \$fpath); autoload -U compinit; \
  compinit -u -D; print \$_comps[keyrite]")
[[ "$z" == "_keyrite" ]] || fail "zsh completion: $z"

echo "install-check: keyrite-desktop paints its first window under Xvfb"
bash "$(dirname "$0")/first-paint.sh" "$ROOT/usr/bin/keyrite-desktop" "$WORK"
echo "install-check: ok"
