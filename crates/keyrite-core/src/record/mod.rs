//! Signed ceremony records: the transcript built from the journal ([`RecordTranscript`]), its
//! rendering ([`render_record`]), production ([`produce_record`]) and checking
//! ([`check_record`]), over the signature and attachment layers below.
//!
//! The signature and attachment layers work over any PDF.
//!
//! The record's content is rendered elsewhere (`pdf`); this module takes those PDF bytes,
//! embeds the canonical transcript as a file attachment ([`attach_file`]), signs the result with
//! a PAdES baseline `ETSI.CAdES.detached` signature through a [`crate::signer::Signer`]
//! ([`sign_pdf`]) and verifies records offline ([`verify_pdf`]). The byte-level format is in
//! `docs/formats/record-signature.md`.
//!
//! Every change is an incremental update appended to the input, so the renderer's bytes stay
//! as they were and the signature's ByteRange covers the whole signed file.

mod assemble;
mod attachment;
mod check;
mod cms;
mod compliance;
pub mod corrections;
mod error;
mod evidence_text;
mod input;
mod kek;
pub mod model;
mod notes;
mod produce;
mod render;
mod sign;
mod signing_key;
mod transcript;
mod verdict;
mod verify;

pub use attachment::{
    attach_file, extract_attachment, list_attachments, Attachment, AttachmentError,
};
pub use check::{check_record, CheckLine, Outcome, RecordReport};
pub use compliance::compliance_for;
pub use error::RecordError;
pub use input::PdfInputError;
pub use produce::{
    ceremony_environment, produce_from_transcript, produce_record, record_certificate,
    TRANSCRIPT_ATTACHMENT,
};
pub use render::{render_record, REHEARSAL_STAMP};
pub use sign::{sign_pdf, SignError, CONTENTS_RESERVED_BYTES};
pub use signing_key::RECORD_SIGNING_LABEL;
pub use transcript::{RecordTranscript, TRANSCRIPT_FORMAT};
pub use verdict::{verify_record, AttachmentView, RecordCheck, RecordVerdict};
pub use verify::{verify_pdf, Rejection, Trust, Verdict, VerifiedRecord};
