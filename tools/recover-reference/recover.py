#!/usr/bin/env python3
"""Recovery without Keyrite: the reference implementation of docs/recovery-without-keyrite.md.

Rebuilds the root KEK from K Keyrite shares (typed share texts, or passphrase-sealed .krseal
files and their passphrase), checks the share set's digest, and, given a .krbak backup, checks
the backup, unwraps its key (RFC 5649) and writes it as PKCS#8 with its public key.

Uses no Keyrite code: the share format, Shamir over GF(256) and the backup format are written
out here from the documentation; the cryptography comes from `cryptography` (AES key wrap with
padding, ChaCha20-Poly1305, key parsing) and `argon2-cffi` (Argon2id). Pinned versions:
requirements.txt beside this file.

Exit status: 0 done, 1 refused (the reason on stderr, starting "recover: refused:"), 2 usage.
"""

import argparse
import base64
import getpass
import hashlib
import hmac
import itertools
import os
import struct
import sys

try:
    from argon2.low_level import Type, hash_secret_raw
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
    from cryptography.hazmat.primitives.keywrap import (
        InvalidUnwrap,
        aes_key_unwrap_with_padding,
        aes_key_wrap_with_padding,
    )
except ImportError as e:  # pragma: no cover - depends on the machine
    sys.exit(
        f"recover: missing Python package ({e}); install the pinned ones: "
        "python3 -m pip install -r requirements.txt"
    )


class Refused(Exception):
    """A check failed; the message says which and what to do."""


# ---------------------------------------------------------------------------------------------
# Share text -> bytes (docs/formats/share.md)
# ---------------------------------------------------------------------------------------------

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U
LOOKALIKE = {"O": "0", "I": "1", "L": "1"}
SEPARATORS = "-._"
QR_PREFIX = "KEYRITE-SHARE:"
HEADER_LEN = 20


def gf1024_mul(a, b):
    """Multiplication in GF(2^10) modulo x^10 + x^3 + 1."""
    r = 0
    for i in range(10):
        if (b >> i) & 1:
            r ^= a << i
    for bit in range(18, 9, -1):
        if (r >> bit) & 1:
            r ^= 0x409 << (bit - 10)
    return r


def rs1024_generator():
    """Coefficients (x^2, x^1, x^0) of g(x) = (x + a)(x + a^2)(x + a^3), a = x = 2."""
    poly, root = [1], 2
    for _ in range(3):
        nxt = poly + [0]
        for i, c in enumerate(poly):
            nxt[i + 1] ^= gf1024_mul(c, root)
        poly, root = nxt, gf1024_mul(root, 2)
    return poly[1:]


G = rs1024_generator()


def rs1024_valid(symbols):
    """(b"keyrite-share" || symbols) * x^3 mod g(x) == 0."""
    r = [0, 0, 0]
    for s in list(b"keyrite-share") + symbols:
        f = s ^ r[0]
        r = [r[1] ^ gf1024_mul(f, G[0]), r[2] ^ gf1024_mul(f, G[1]), gf1024_mul(f, G[2])]
    return r == [0, 0, 0]


class Share:
    def __init__(self, name, set_id, k, n, x, digest, y, canonical):
        self.name, self.set_id, self.k, self.n = name, set_id, k, n
        self.x, self.digest, self.y = x, digest, y
        # The ceremony record lists SHA-256("keyrite share fingerprint v1" || 0 || canonical text).
        self.fingerprint = hashlib.sha256(b"keyrite share fingerprint v1\x00" + canonical.encode("ascii")).hexdigest()

    def label(self):
        return f"share {self.x} of set {self.set_id.hex()} ({self.name})"


def parse_share(text, name):
    t = text.strip()
    if t.upper().startswith(QR_PREFIX):
        t = t[len(QR_PREFIX):]
    values = []
    for pos, c in enumerate(t, 1):
        if c.isspace() or c in SEPARATORS:
            continue
        u = c.upper()
        u = LOOKALIKE.get(u, u)
        if u not in ALPHABET:
            raise Refused(
                f"{name}: character {pos} {c!r} is not a share character "
                "(0-9, A-Z without I L O U); retype it from the card"
            )
        values.append(ALPHABET.index(u))
    if not values:
        raise Refused(f"{name}: is empty")
    if len(values) % 2:
        raise Refused(f"{name}: has {len(values)} characters, an odd number: one is missing or extra")
    symbols = [(values[i] << 5) | values[i + 1] for i in range(0, len(values), 2)]
    if len(symbols) < 32:
        raise Refused(f"{name}: is truncated ({len(values)} characters; a share has at least 64)")
    if not rs1024_valid(symbols):
        raise Refused(
            f"{name}: its checksum does not match: a character is wrong, missing or swapped; "
            "compare every group with the card"
        )
    data = symbols[:-3]
    bits = 10 * len(data)
    number = 0
    for s in data:
        number = (number << 10) | s
    nbytes = bits // 8
    raw = (number >> (bits - 8 * nbytes)).to_bytes(nbytes, "big")
    if raw[0] != 1:
        raise Refused(f"{name}: share format version {raw[0]}; this reference reads version 1")
    length = raw[11]
    if not 16 <= length <= 64:
        raise Refused(f"{name}: secret length {length} is outside 16..64")
    used = 8 * (HEADER_LEN + length)
    expected_chars = 2 * (-(-used // 10) + 3)
    if len(values) != expected_chars:
        raise Refused(f"{name}: has {len(values)} characters, a {length}-byte secret needs {expected_chars}")
    if number & ((1 << (bits - used)) - 1):
        raise Refused(f"{name}: the padding bits are not zero")
    k, n, x = (raw[9] >> 4) + 1, (raw[9] & 15) + 1, raw[10]
    if not 2 <= k <= n:
        raise Refused(f"{name}: threshold {k} of {n} is not 2 <= K <= N")
    if not 1 <= x <= n:
        raise Refused(f"{name}: index {x} is not in 1..{n}")
    canonical = "".join(ALPHABET[v] for v in values)
    return Share(name, raw[1:9], k, n, x, raw[12:20], raw[20:20 + length], canonical)


# ---------------------------------------------------------------------------------------------
# Passphrase-sealed share files (docs/formats/sealing.md, kind 2)
# ---------------------------------------------------------------------------------------------

SEAL_COMMON = 17  # "KRSEAL" || version || kind || set id (8) || index
SEAL_PASS_HEADER = SEAL_COMMON + 12 + 16 + 12  # || m, t, p (u32 BE) || salt (16) || nonce (12)


def open_sealed(blob, passphrase, name):
    if blob[:6] != b"KRSEAL":
        raise Refused(f"{name}: not a Keyrite sealed share (it does not start with KRSEAL)")
    if len(blob) < SEAL_COMMON:
        raise Refused(f"{name}: truncated ({len(blob)} bytes)")
    if blob[6] != 1:
        raise Refused(f"{name}: sealed-share format version {blob[6]}; this reference reads version 1")
    set_id, index = blob[8:16], blob[16]
    who = f"{name} (share {index} of set {set_id.hex()})"
    if blob[7] == 1:
        raise Refused(
            f"{who}: is sealed to a P-256 key (a custodian's YubiKey), not to a passphrase; "
            "open it as docs/recovery-without-keyrite.md describes, or give the share text"
        )
    if blob[7] != 2:
        raise Refused(f"{who}: unknown sealing kind {blob[7]}")
    if len(blob) < SEAL_PASS_HEADER + 16:
        raise Refused(f"{who}: truncated ({len(blob)} bytes); copy the whole file")
    m, t, p = struct.unpack(">III", blob[SEAL_COMMON:SEAL_COMMON + 12])
    if m < 65536 or t < 3 or p < 4:
        raise Refused(f"{who}: Argon2id parameters m={m} KiB, t={t}, p={p} are below the minimum (65536, 3, 4)")
    if m > 4 * 1024 * 1024 or t > 64 or p > 64:
        raise Refused(f"{who}: Argon2id parameters m={m} KiB, t={t}, p={p} are above the maximum")
    salt = blob[SEAL_COMMON + 12:SEAL_COMMON + 28]
    nonce = blob[SEAL_COMMON + 28:SEAL_PASS_HEADER]
    key = hash_secret_raw(
        passphrase.encode("utf-8"), salt, time_cost=t, memory_cost=m, parallelism=p,
        hash_len=32, type=Type.ID, version=19,
    )
    try:
        text = ChaCha20Poly1305(key).decrypt(nonce, blob[SEAL_PASS_HEADER:], blob[:SEAL_PASS_HEADER])
    except InvalidTag:
        raise Refused(f"{who}: wrong passphrase (or the file is damaged); nothing was opened") from None
    share = parse_share(text.decode("ascii", errors="replace"), name)
    if share.set_id != set_id or share.x != index:
        raise Refused(f"{who}: the share inside is share {share.x} of set {share.set_id.hex()}")
    return share


# ---------------------------------------------------------------------------------------------
# Shamir over GF(256): Lagrange interpolation at x = 0
# ---------------------------------------------------------------------------------------------

def gf256_mul(a, b):
    """Multiplication in GF(2^8) modulo x^8 + x^4 + x^3 + x + 1 (0x11B, AES's field)."""
    r = 0
    while b:
        if b & 1:
            r ^= a
        b >>= 1
        a <<= 1
        if a & 0x100:
            a ^= 0x11B
    return r


def gf256_inv(a):
    """a^254 = a^-1 for a != 0."""
    r = 1
    for _ in range(254):
        r = gf256_mul(r, a)
    return r


def interpolate_at_zero(shares):
    """f(0) byte by byte: sum over i of y_i * prod over j != i of x_j / (x_j + x_i)."""
    coefficients = []
    for i in shares:
        c = 1
        for j in shares:
            if j is not i:
                c = gf256_mul(c, gf256_mul(j.x, gf256_inv(j.x ^ i.x)))
        coefficients.append(c)
    secret = bytearray(len(shares[0].y))
    for share, c in zip(shares, coefficients):
        for b in range(len(secret)):
            secret[b] ^= gf256_mul(share.y[b], c)
    return bytes(secret)


def share_digest(s, secret):
    h = hashlib.sha256(b"keyrite share digest v1\x00" + s.set_id + bytes([s.k, s.n, len(secret)]) + secret)
    return h.digest()[:8]


def combine(shares):
    if not shares:
        raise Refused("no shares given")
    first = shares[0]
    seen = set()
    for s in shares:
        if s.set_id != first.set_id:
            raise Refused(f"{s.label()}: belongs to another set than {first.label()}")
        if (s.k, s.n, len(s.y), s.digest) != (first.k, first.n, len(first.y), first.digest):
            raise Refused(f"{s.label()}: disagrees with {first.label()} on K, N, length or digest")
        if s.x in seen:
            raise Refused(f"{s.label()}: was given twice")
        seen.add(s.x)
    indices = ", ".join(str(s.x) for s in sorted(shares, key=lambda s: s.x))
    if len(shares) < first.k:
        raise Refused(
            f"too few shares: set {first.set_id.hex()} needs {first.k} of {first.n}, "
            f"{len(shares)} given (indices {indices}); bring {first.k - len(shares)} more"
        )
    ordered = sorted(shares, key=lambda s: s.x)
    for subset in itertools.combinations(ordered, first.k):
        secret = interpolate_at_zero(list(subset))
        if hmac.compare_digest(share_digest(first, secret), first.digest):
            for extra in ordered:
                if extra not in subset:
                    trial = list(subset[:first.k - 1]) + [extra]
                    if interpolate_at_zero(trial) != secret:
                        raise Refused(f"{extra.label()}: passes its checksum but does not fit the other shares")
            return secret, [s.x for s in subset]
    raise Refused(
        f"digest mismatch: shares {indices} of set {first.set_id.hex()} do not rebuild the secret "
        f"their digest {first.digest.hex()} records; one of them is wrong although it passes its "
        "checksum: try another combination of shares"
    )


# ---------------------------------------------------------------------------------------------
# Key backup (docs/formats/backup.md)
# ---------------------------------------------------------------------------------------------

BACKUP_FIELDS = [
    "label", "id", "key", "policy", "wrapping-key-label", "wrapping-key-kcv", "mechanism",
    "public", "spki-sha256", "wrapped",
]


def read_backup(path):
    raw = open(path, "rb").read()
    text = raw.decode("utf-8")
    lines = text.split("\n")
    if lines[-1] != "" or len(lines) != len(BACKUP_FIELDS) + 3:
        raise Refused(f"backup {path}: not {len(BACKUP_FIELDS) + 2} complete lines; restore from another copy")
    if lines[0] != "keyrite-key-backup-v1":
        raise Refused(f"backup {path}: the first line is not keyrite-key-backup-v1")
    values = {}
    for n, (name, line) in enumerate(zip(BACKUP_FIELDS + ["sha256"], lines[1:-1]), 2):
        if not line.startswith(name + ": "):
            raise Refused(f"backup {path}: line {n} is not the {name!r} line")
        values[name] = line[len(name) + 2:]
    body = raw[:raw.rindex(b"\nsha256: ") + 1]
    computed = hashlib.sha256(body).hexdigest()
    if computed != values["sha256"]:
        raise Refused(
            f"backup {path}: its recorded SHA-256 {values['sha256']} does not match its contents "
            f"({computed}); restore from another copy"
        )
    if values["mechanism"] not in ("CKM_AES_KEY_WRAP_PAD", "CKM_AES_KEY_WRAP_KWP"):
        raise Refused(f"backup {path}: unknown mechanism {values['mechanism']}")
    return values


def kek_check_value(kek):
    """kwp-zero-key-sha256: SHA-256("keyrite-kcv-v1" || RFC 5649(KEK, 32 zero bytes))[0..8]."""
    return hashlib.sha256(b"keyrite-kcv-v1" + aes_key_wrap_with_padding(kek, bytes(32))).hexdigest()[:16]


def data_key_check_value(key):
    """ecb-zero-block-sha256, for an unwrapped AES key."""
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return hashlib.sha256(b"keyrite-kcv-v1" + enc.update(bytes(16)) + enc.finalize()).hexdigest()[:16]


def der_octet_string(content):
    n = len(content)
    length = bytes([n]) if n < 0x80 else bytes([0x81, n])
    return b"\x04" + length + content


def check_private_key(values, der, path):
    """Loads the PKCS#8 key, checks its type and public half against the backup; returns its public key."""
    try:
        key = serialization.load_der_private_key(der, password=None)
    except ValueError as e:
        raise Refused(f"backup {path}: the unwrapped bytes are not a PKCS#8 private key ({e})") from None
    kind = values["key"]
    want = {
        "ec-p256": lambda k: isinstance(k, ec.EllipticCurvePrivateKey) and k.curve.name == "secp256r1",
        "ec-p384": lambda k: isinstance(k, ec.EllipticCurvePrivateKey) and k.curve.name == "secp384r1",
        "ed25519": lambda k: isinstance(k, ed25519.Ed25519PrivateKey),
        "rsa-3072": lambda k: isinstance(k, rsa.RSAPrivateKey) and k.key_size == 3072,
        "rsa-4096": lambda k: isinstance(k, rsa.RSAPrivateKey) and k.key_size == 4096,
    }.get(kind)
    if want is None or not want(key):
        raise Refused(f"backup {path}: the unwrapped key is not the {kind} key the backup names")
    public = key.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        nums = public.public_numbers()
        n_hex, _, e_hex = values["public"].partition(":")
        matches = int(n_hex, 16) == nums.n and int(e_hex, 16) == nums.e
    elif isinstance(public, ec.EllipticCurvePublicKey):
        point = public.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        matches = der_octet_string(point).hex() == values["public"]
    else:
        point = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        matches = values["public"] in (der_octet_string(point).hex(), point.hex())
    spki = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    spki_sha256 = hashlib.sha256(spki).hexdigest()
    if not matches or spki_sha256 != values["spki-sha256"]:
        raise Refused(
            f"backup {path}: the unwrapped key's public half (SPKI SHA-256 {spki_sha256}) is not "
            f"the one the backup records ({values['spki-sha256']})"
        )
    return public, spki_sha256


def pem(der, label):
    b64 = base64.encodebytes(der).decode("ascii").replace("\n", "")
    body = "\n".join(b64[i:i + 64] for i in range(0, len(b64), 64))
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n"


def write_secret(path, data):
    """Creates `path` (never overwrites) readable by its owner only."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise Refused(f"{path} already exists; choose a new file name") from None
    with os.fdopen(fd, "wb") as f:
        f.write(data)


# ---------------------------------------------------------------------------------------------

def read_passphrase(args):
    if args.passphrase_file:
        with open(args.passphrase_file, encoding="utf-8") as f:
            return f.read().rstrip("\r\n")
    return getpass.getpass("Passphrase of the sealed shares: ")


def main(argv):
    ap = argparse.ArgumentParser(
        description="Rebuild Keyrite's root KEK from K shares and unwrap a .krbak backup, without Keyrite.",
    )
    ap.add_argument("--share", action="append", default=[], metavar="TEXT",
                    help="one share as typed (human form, canonical text or QR payload); repeat")
    ap.add_argument("--shares-file", action="append", default=[], metavar="FILE",
                    help="a text file with one share per line (blank lines and # comments ignored)")
    ap.add_argument("--sealed", action="append", default=[], metavar="FILE.krseal",
                    help="a passphrase-sealed share file; repeat")
    ap.add_argument("--passphrase-file", metavar="FILE",
                    help="read the sealed shares' passphrase from FILE (first line) instead of asking")
    ap.add_argument("--backup", metavar="FILE.krbak", help="the key backup to unwrap")
    ap.add_argument("--out", metavar="KEY.pem", help="write the unwrapped private key here (PKCS#8 PEM, 0600)")
    ap.add_argument("--out-der", metavar="KEY.der", help="also write it as PKCS#8 DER (the exact unwrapped bytes)")
    ap.add_argument("--write-kek", metavar="FILE",
                    help="write the rebuilt root KEK as hex (0600): for loading it into a new HSM")
    args = ap.parse_args(argv)

    shares = []
    for i, text in enumerate(args.share, 1):
        shares.append(parse_share(text, f"--share #{i}"))
    for path in args.shares_file:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if line.strip() and not line.lstrip().startswith("#"):
                    shares.append(parse_share(line, f"{path} line {n}"))
    if args.sealed:
        passphrase = read_passphrase(args)
        for path in args.sealed:
            with open(path, "rb") as f:
                shares.append(open_sealed(f.read(), passphrase, path))
    kek, used = combine(shares)
    first = shares[0]
    print(f"set: {first.set_id.hex()} ({first.k} of {first.n}), shares used: {', '.join(map(str, used))}")
    for s in sorted(shares, key=lambda s: s.x):
        print(f"share {s.x} fingerprint: {s.fingerprint} ({s.name})")
    print(f"digest: {first.digest.hex()} matches the rebuilt secret ({len(kek)} bytes)")
    if len(kek) != 32:
        raise Refused(f"the rebuilt secret is {len(kek)} bytes; a root KEK is 32 (AES-256)")
    kcv = kek_check_value(kek)
    print(f"kek-kcv: {kcv} (kwp-zero-key-sha256; compare with the record of the root-key ceremony)")
    if args.write_kek:
        write_secret(args.write_kek, (kek.hex() + "\n").encode("ascii"))
        print(f"kek written: {args.write_kek}")
    if not args.backup:
        return 0
    values = read_backup(args.backup)
    print(f"backup: {args.backup}: key {values['label']!r} ({values['key']}, policy {values['policy']})")
    if values["wrapping-key-kcv"] != kcv:
        raise Refused(
            f"backup {args.backup} was wrapped under a KEK with check value {values['wrapping-key-kcv']}, "
            f"but these shares rebuild a KEK with check value {kcv}: use the shares of the KEK it was made under"
        )
    try:
        plain = aes_key_unwrap_with_padding(kek, bytes.fromhex(values["wrapped"]))
    except InvalidUnwrap:
        raise Refused(
            f"backup {args.backup}: RFC 5649 unwrap failed its integrity check: the wrapped bytes "
            "are damaged or forged; restore from another copy"
        ) from None
    if values["key"] == "aes-256":
        if len(plain) != 32:
            raise Refused(f"backup {args.backup}: the unwrapped AES key is {len(plain)} bytes, not 32")
        print(f"unwrapped: AES-256 key, check value {data_key_check_value(plain)} (ecb-zero-block-sha256)")
        if args.out:
            write_secret(args.out, plain)
            print(f"key written: {args.out} (32 raw bytes)")
        return 0
    public, spki_sha256 = check_private_key(values, plain, args.backup)
    print(f"spki-sha256: {spki_sha256} (matches the backup)")
    if args.out:
        write_secret(args.out, pem(plain, "PRIVATE KEY").encode("ascii"))
        print(f"key written: {args.out} (PKCS#8 PEM)")
    if args.out_der:
        write_secret(args.out_der, plain)
        print(f"key written: {args.out_der} (PKCS#8 DER)")
    sys.stdout.write(
        public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")
    )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except Refused as e:
        print(f"recover: refused: {e}", file=sys.stderr)
        sys.exit(1)
    except (OSError, ValueError) as e:  # unreadable files, text that is not UTF-8 or hex
        print(f"recover: refused: {e}", file=sys.stderr)
        sys.exit(1)
