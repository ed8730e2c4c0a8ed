//! Share cards: one single-page PDF per custodian with their share and nothing about any
//! other share.

use super::envelope::Share;
use crate::pdf::{DocInfo, Document, Font, PageSize, PdfError};

/// What a card shows besides the share.
#[derive(Debug, Clone)]
pub struct CardInfo {
    /// Ceremony id.
    pub ceremony_id: String,
    /// The custodian's name.
    pub custodian: String,
    /// Paper size.
    pub page: PageSize,
    /// Stamp on top of the page, e.g. "REHEARSAL — SOFTWARE HSM".
    pub stamp: Option<String>,
    /// Document date (Unix seconds).
    pub created_unix: i64,
}

/// Renders the card for `share`: human form, QR payload, set id in words, "share i of N —
/// any K rebuild", ceremony id, custodian, signature line, bag number field. The returned bytes contain the
/// share: treat the file as the share itself.
pub fn render_card(share: &Share, info: &CardInfo) -> Result<Vec<u8>, PdfError> {
    let title = format!("Keyrite share {} of {}", share.index(), share.count());
    let mut doc = Document::new(
        &DocInfo {
            title: title.clone(),
            author: "Keyrite".into(),
            created_unix: info.created_unix,
        },
        info.page,
        info.stamp.as_deref(),
    )?;
    let mut p = doc.page();
    p.gap(6.0);
    p.text(Font::Sans, 20.0, &title);
    p.text(
        Font::Sans,
        12.0,
        &format!(
            "Share {} of {} — any {} rebuild the secret",
            share.index(),
            share.count(),
            share.threshold()
        ),
    );
    p.gap(2.0);
    p.text(Font::Sans, 10.0, &format!("Ceremony: {}", info.ceremony_id));
    p.text(Font::Sans, 10.0, &format!("Custodian: {}", info.custodian));
    p.text(
        Font::Sans,
        10.0,
        &format!("Share set: {}", share.set_id().words()),
    );
    p.text(
        Font::Mono,
        9.0,
        &format!(
            "Set id {}   fingerprint {}",
            share.set_id(),
            share.fingerprint().words()
        ),
    );
    p.gap(4.0);
    p.text(
        Font::Sans,
        10.0,
        "Your share (type it back in any case; spaces and dashes are ignored):",
    );
    p.gap(1.0);
    let human = share.human_form();
    // Six groups per line, so the card reads like the screen.
    let groups: Vec<&str> = human.expose().split(' ').collect();
    for row in groups.chunks(6) {
        p.text(Font::Mono, 13.0, &row.join("  "));
    }
    p.gap(5.0);
    let qr = share.qr_payload();
    doc.qr(&mut p, qr.expose(), 60.0)?;
    p.text(
        Font::Sans,
        9.0,
        "Keep this card sealed and private. Anyone holding enough shares can rebuild the secret. \
         Keyrite checks every share when it is typed or scanned back.",
    );
    p.gap(4.0);
    p.signature_line(&format!(
        "Received and checked by {} (signature, date)",
        info.custodian
    ));
    p.gap(4.0);
    p.signature_line(
        "Tamper-evident bag number (written by the custodian when the card is sealed)",
    );
    doc.add_page(p)?;
    doc.save()
}
