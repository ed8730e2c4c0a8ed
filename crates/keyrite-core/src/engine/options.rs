//! How a ceremony runs: the face's choices, given once at start or resume.

use super::cards::CardAccess;
use super::record::RecordProducer;
use crate::preflight::AirGapCheck;

/// How a ceremony runs.
#[derive(Default)]
pub struct CeremonyOptions {
    /// Answers come from a file, not from people at the screen (refused in production).
    pub unattended: bool,
    /// Renders and signs the record for `sign-record`; `None`: that step fails precisely.
    pub record_producer: Option<Box<dyn RecordProducer>>,
    /// The air-gap check to run (tests point it at a fake root).
    pub airgap: AirGapCheck,
    /// How custodians' YubiKeys are opened; `None`: PC/SC ([`super::PcscCards`], waiting up
    /// to two minutes for the card asked for).
    pub cards: Option<Box<dyn CardAccess>>,
    /// How share cards reach the printer when the site profile names a queue; `None`: the
    /// CUPS client `lp` ([`crate::printing::LpCommand`]).
    pub spooler: Option<Box<dyn crate::printing::Spooler>>,
}

impl std::fmt::Debug for CeremonyOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CeremonyOptions")
            .field("unattended", &self.unattended)
            .field("record_producer", &self.record_producer.is_some())
            .field("spooler", &self.spooler.is_some())
            .finish()
    }
}
