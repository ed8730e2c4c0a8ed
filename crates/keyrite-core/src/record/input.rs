//! Loading untrusted PDF bytes with precise errors.

use lopdf::Document;

/// Why bytes could not be read as a PDF.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PdfInputError {
    /// The bytes do not start with a PDF header.
    #[error("not a PDF: the file does not start with %PDF-")]
    NotPdf,
    /// The file does not end with `%%EOF`: it was cut short.
    #[error(
        "the PDF is truncated: it does not end with %%EOF (copy the file again from its source)"
    )]
    Truncated,
    /// The PDF structure could not be parsed.
    #[error("the PDF is damaged and cannot be read: {0}")]
    Damaged(String),
    /// The PDF is encrypted; Keyrite records never are.
    #[error("the PDF is encrypted; Keyrite records are never encrypted")]
    Encrypted,
}

/// Checks the header and the end marker, then parses.
pub(crate) fn load(pdf: &[u8]) -> Result<Document, PdfInputError> {
    check_envelope(pdf)?;
    let doc = Document::load_mem(pdf).map_err(|e| PdfInputError::Damaged(e.to_string()))?;
    if doc.is_encrypted() || doc.trailer.get(b"Encrypt").is_ok() {
        return Err(PdfInputError::Encrypted);
    }
    Ok(doc)
}

/// Header at offset 0 and `%%EOF` at the end (trailing whitespace allowed).
pub(crate) fn check_envelope(pdf: &[u8]) -> Result<(), PdfInputError> {
    if !pdf.starts_with(b"%PDF-") {
        return Err(PdfInputError::NotPdf);
    }
    let end = pdf
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map(|i| i + 1)
        .unwrap_or(0);
    if !pdf[..end].ends_with(b"%%EOF") {
        return Err(PdfInputError::Truncated);
    }
    Ok(())
}
