//! Signed ceremony records: the signature and attachment layers over any PDF.
//!
//! The record's content is rendered elsewhere (`pdf`); this module takes those PDF bytes,
//! embeds the canonical transcript as a file attachment ([`attach_file`]), signs the result with
//! a PAdES baseline `ETSI.CAdES.detached` signature through a [`crate::signer::Signer`]
//! ([`sign_pdf`]) and verifies records offline ([`verify_pdf`]). The byte-level format is in
//! `docs/formats/record-signature.md`.
//!
//! Every change is an incremental update appended to the input, so the renderer's bytes stay
//! as they were and the signature's ByteRange covers the whole signed file.

mod attachment;
mod cms;
mod input;
mod sign;
mod verify;

pub use attachment::{
    attach_file, extract_attachment, list_attachments, Attachment, AttachmentError,
};
pub use input::PdfInputError;
pub use sign::{sign_pdf, SignError, CONTENTS_RESERVED_BYTES};
pub use verify::{verify_pdf, Rejection, Trust, Verdict, VerifiedRecord};
