"""Validates the signature of a PDF with pyHanko, trusting one certificate (DER).

Usage: python pyhanko_validate.py RECORD.pdf CERT.der
Prints one JSON line with what pyHanko found; exits 0 only when pyHanko's bottom line is
true (intact, valid, trusted) and the signature covers the entire file.
Used by tests/tests/e2e/record_pdf.rs as an independent validator of Keyrite's records.
"""

import json
import sys

from asn1crypto import x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext


def main() -> int:
    pdf_path, cert_path = sys.argv[1], sys.argv[2]
    with open(cert_path, "rb") as f:
        cert = x509.Certificate.load(f.read())
    # The record-signing certificate is self-signed and pinned: it is the only trust root.
    context = ValidationContext(trust_roots=[cert])
    with open(pdf_path, "rb") as f:
        reader = PdfFileReader(f, strict=True)
        signatures = reader.embedded_signatures
        if len(signatures) != 1:
            print(json.dumps({"error": f"{len(signatures)} signatures"}))
            return 1
        status = validate_pdf_signature(signatures[0], context)
        result = {
            "intact": status.intact,
            "valid": status.valid,
            "trusted": status.trusted,
            "bottom_line": status.bottom_line,
            "coverage": status.coverage.name if status.coverage else None,
            "modification_level": status.modification_level.name
            if status.modification_level
            else None,
        }
        print(json.dumps(result))
        ok = status.bottom_line and result["coverage"] == "ENTIRE_FILE"
        return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # a refused file is a verdict, not a crash of the test harness
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
        sys.exit(1)
