//! The ISO 7816 side of the simulated card: what vpcd sends, what the `yubikey` crate expects.
//!
//! piv-authenticator is written for a USB CCID stack that already reassembles chained commands
//! and splits long responses. vpcd hands us raw APDUs instead, and the `yubikey` crate expects a
//! YubiKey, so this adapter closes the gaps (see `docs/hardware-checklist.md` for what it does
//! not close):
//! - command chaining (CLA bit 0x10) is reassembled here;
//! - responses longer than 256 bytes are split with `61 xx` and continued with GET RESPONSE;
//! - a missing Le is treated as "up to 256 bytes" (the crate sends case-3 APDUs and still
//!   expects data);
//! - SELECT with the 5-byte PIV RID is expanded to the full PIV AID, which the applet requires;
//! - SELECT clears the PIN-verified state, as a real card does (the applet keeps it);
//! - GET VERSION (INS 0xFD) answers 5.7.1 and GET SERIAL (INS 0xF8) answers this identity's
//!   serial, since the applet's constant answers would make the crate refuse the card or make
//!   every simulated custodian the same key;
//! - with an attestation CA, attest (INS 0xF9) and reading the f9 certificate (GET DATA
//!   5FFF01) are answered here like a YubiKey does, and generated keys are remembered for it
//!   (see [`crate::attest`]).

use heapless::Vec as HVec;
use iso7816::command::CommandView;
use piv_authenticator::{Authenticator, Client};

use crate::attest::CardAttestation;

/// Full PIV application identifier (NIST SP 800-73-4).
const PIV_AID: [u8; 11] = [
    0xA0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00, 0x01, 0x00,
];
/// The firmware version the simulator claims: new enough for serial and metadata commands.
pub const CLAIMED_VERSION: [u8; 3] = [5, 7, 1];
/// A YubiKey 5 ATR, so tools that look at the ATR see a YubiKey-like card.
const ATR: [u8; 23] = [
    0x3B, 0xFD, 0x13, 0x00, 0x00, 0x81, 0x31, 0xFE, 0x15, 0x80, 0x73, 0xC0, 0x21, 0xC0, 0x57, 0x59,
    0x75, 0x62, 0x69, 0x4B, 0x65, 0x79, 0x40,
];
const SW_OK: [u8; 2] = [0x90, 0x00];
const SW_WRONG_LENGTH: [u8; 2] = [0x67, 0x00];
const SW_NOT_FOUND: [u8; 2] = [0x6A, 0x82];
const SW_NO_MORE_DATA: [u8; 2] = [0x6A, 0x88];
/// Referenced data not found: attest on an empty slot.
const SW_NO_REFERENCED_DATA: [u8; 2] = [0x6A, 0x88];
/// Execution error: the simulator failed (message on stderr).
const SW_EXECUTION_ERROR: [u8; 2] = [0x64, 0x00];
/// GET DATA for the attestation certificate object 5FFF01.
const GET_F9: [u8; 5] = [0x5C, 0x03, 0x5F, 0xFF, 0x01];
/// Largest response chunk one short APDU carries.
const CHUNK: usize = 256;
/// Room for the largest reply the applet produces (certificates).
const REPLY_CAPACITY: usize = 8192;

/// One APDU split into its parts.
struct Apdu<'a> {
    cla: u8,
    ins: u8,
    p1: u8,
    p2: u8,
    data: &'a [u8],
}

fn parse(apdu: &[u8]) -> Option<Apdu<'_>> {
    let (header, body) = apdu.split_at_checked(4)?;
    let data: &[u8] = match body.len() {
        0 | 1 => &[],
        _ if body[0] == 0 && body.len() >= 3 => {
            // Extended length: 00 Lc1 Lc2 data [Le1 Le2], or 00 Le1 Le2.
            if body.len() == 3 {
                &[]
            } else {
                let lc = usize::from(u16::from_be_bytes([body[1], body[2]]));
                body.get(3..3 + lc)?
            }
        }
        _ => {
            let lc = usize::from(body[0]);
            let data = body.get(1..1 + lc)?;
            // Anything beyond Lc + data must be a single Le byte.
            if body.len() > 2 + lc {
                return None;
            }
            data
        }
    };
    Some(Apdu {
        cla: header[0],
        ins: header[1],
        p1: header[2],
        p2: header[3],
        data,
    })
}

/// Re-encodes a reassembled command with "Le = maximum", which is what every caller of this
/// card wants (gap 3: the crate omits Le on commands that return data).
fn encode(cla: u8, ins: u8, p1: u8, p2: u8, data: &[u8]) -> Vec<u8> {
    let mut out = vec![cla, ins, p1, p2];
    if data.is_empty() {
        out.push(0x00);
    } else if data.len() <= 255 {
        out.push(data.len() as u8);
        out.extend_from_slice(data);
        out.push(0x00);
    } else {
        let len = data.len() as u16;
        out.push(0x00);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(data);
        out.extend_from_slice(&[0x00, 0x00]);
    }
    out
}

/// The PIV applet behind vpcd.
pub struct SimCard<T> {
    app: Authenticator<T>,
    serial: u32,
    attestation: Option<CardAttestation>,
    chained: Vec<u8>,
    pending: Vec<u8>,
}

impl<T: Client> SimCard<T> {
    /// A card answering with `serial` around an applet; it attests keys when `attestation` is
    /// given, and answers "function not supported" (as the applet does) otherwise.
    pub fn new(app: Authenticator<T>, serial: u32, attestation: Option<CardAttestation>) -> Self {
        Self {
            app,
            serial,
            attestation,
            chained: Vec::new(),
            pending: Vec::new(),
        }
    }

    fn with_status(mut data: Vec<u8>, sw: [u8; 2]) -> Vec<u8> {
        data.extend_from_slice(&sw);
        data
    }

    /// Sends up to one chunk of `data`, keeping the rest for GET RESPONSE.
    fn respond_chunked(&mut self, mut data: Vec<u8>) -> Vec<u8> {
        if data.len() <= CHUNK {
            self.pending.clear();
            return Self::with_status(data, SW_OK);
        }
        self.pending = data.split_off(CHUNK);
        let more = u8::try_from(self.pending.len()).unwrap_or(0);
        Self::with_status(data, [0x61, more])
    }

    fn logout(&mut self) {
        // VERIFY with P1 = FF: the applet's own "clear PIN verified" command.
        let logout = [0x00, 0x20, 0xFF, 0x80];
        if let Ok(view) = CommandView::try_from(&logout[..]) {
            let mut reply: HVec<u8, 16> = HVec::new();
            // The result does not matter: the goal is a cleared state either way.
            let _ = self.app.respond(view, reply.as_mut_view());
        }
    }

    /// The applet's reply data, or its status word on failure.
    fn applet_reply(
        &mut self,
        cla: u8,
        ins: u8,
        p1: u8,
        p2: u8,
        data: &[u8],
    ) -> Result<Vec<u8>, [u8; 2]> {
        let bytes = encode(cla, ins, p1, p2, data);
        let view = CommandView::try_from(&bytes[..]).map_err(|_| SW_WRONG_LENGTH)?;
        let mut reply: Box<HVec<u8, REPLY_CAPACITY>> = Box::default();
        self.app
            .respond(view, reply.as_mut_view())
            .map(|()| reply.to_vec())
            .map_err(|status| status.into())
    }

    fn call_applet(&mut self, cla: u8, ins: u8, p1: u8, p2: u8, data: &[u8]) -> Vec<u8> {
        match self.applet_reply(cla, ins, p1, p2, data) {
            Ok(reply) => self.respond_chunked(reply),
            Err(sw) => {
                self.pending.clear();
                sw.to_vec()
            }
        }
    }

    /// GENERATE ASYMMETRIC KEY PAIR, remembering the new key for attestation.
    fn generate(&mut self, cla: u8, p1: u8, p2: u8, data: &[u8]) -> Vec<u8> {
        match self.applet_reply(cla, 0x47, p1, p2, data) {
            Ok(reply) => {
                if let Some(att) = &self.attestation {
                    if let Err(e) = att.remember_generated(p2, data, &reply) {
                        eprintln!("piv-sim: remembering the key in slot {p2:02x}: {e}");
                        return SW_EXECUTION_ERROR.to_vec();
                    }
                }
                self.respond_chunked(reply)
            }
            Err(sw) => sw.to_vec(),
        }
    }

    /// ATTEST (INS F9): a certificate for the slot's key signed by the f9 key.
    fn attest(&mut self, slot: u8) -> Vec<u8> {
        let Some(att) = &self.attestation else {
            return SW_NOT_FOUND.to_vec();
        };
        match att.attest(slot) {
            Ok(Some(cert)) => self.respond_chunked(cert),
            Ok(None) => SW_NO_REFERENCED_DATA.to_vec(),
            Err(e) => {
                eprintln!("piv-sim: attesting slot {slot:02x}: {e}");
                SW_EXECUTION_ERROR.to_vec()
            }
        }
    }
}

impl<T: Client> vpicc::VSmartCard for SimCard<T> {
    fn atr(&self) -> &[u8] {
        &ATR
    }

    fn power_off(&mut self) {
        self.chained.clear();
        self.pending.clear();
        self.logout();
    }

    fn reset(&mut self) {
        self.power_off();
    }

    fn execute(&mut self, msg: &[u8]) -> Vec<u8> {
        let Some(apdu) = parse(msg) else {
            return SW_WRONG_LENGTH.to_vec();
        };
        if apdu.ins == 0xC0 {
            if self.pending.is_empty() {
                return SW_NO_MORE_DATA.to_vec();
            }
            let rest = std::mem::take(&mut self.pending);
            return self.respond_chunked(rest);
        }
        self.pending.clear();
        if apdu.cla & 0x10 != 0 {
            self.chained.extend_from_slice(apdu.data);
            return SW_OK.to_vec();
        }
        let mut data = std::mem::take(&mut self.chained);
        data.extend_from_slice(apdu.data);
        let cla = apdu.cla & !0x10;
        match (apdu.ins, apdu.p1) {
            (0xFD, _) => Self::with_status(CLAIMED_VERSION.to_vec(), SW_OK),
            (0xF8, _) => Self::with_status(self.serial.to_be_bytes().to_vec(), SW_OK),
            (0xF9, slot) if self.attestation.is_some() => self.attest(slot),
            (0xCB, _) if data == GET_F9 => match &self.attestation {
                Some(att) => {
                    let object = att.f9_object();
                    self.respond_chunked(object)
                }
                None => SW_NOT_FOUND.to_vec(),
            },
            (0x47, _) => self.generate(cla, apdu.p1, apdu.p2, &data),
            (0xA4, 0x04) => {
                if data.len() < 5 || !PIV_AID.starts_with(&data) {
                    return SW_NOT_FOUND.to_vec();
                }
                self.logout();
                self.call_applet(cla, apdu.ins, apdu.p1, apdu.p2, &PIV_AID)
            }
            _ => self.call_applet(cla, apdu.ins, apdu.p1, apdu.p2, &data),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_short_and_extended_apdus() {
        let a = parse(&[0x00, 0xA4, 0x04, 0x00, 0x02, 0xAA, 0xBB]).unwrap();
        assert_eq!((a.ins, a.data), (0xA4, &[0xAA, 0xBB][..]));
        let a = parse(&[0x00, 0xCB, 0x3F, 0xFF, 0x01, 0x5C, 0x00]).unwrap();
        assert_eq!(a.data, &[0x5C]);
        let a = parse(&[0x00, 0x20, 0x00, 0x80]).unwrap();
        assert!(a.data.is_empty());
        let a = parse(&[0x00, 0xDB, 0x3F, 0xFF, 0x00, 0x00, 0x02, 0x01, 0x02]).unwrap();
        assert_eq!(a.data, &[0x01, 0x02]);
        assert!(parse(&[0x00, 0xDB, 0x3F, 0xFF, 0x05, 0x01]).is_none());
        assert!(parse(&[0x00, 0xDB]).is_none());
    }

    #[test]
    fn encodes_long_data_as_extended() {
        let long = vec![7u8; 300];
        let bytes = encode(0, 0xDB, 0x3F, 0xFF, &long);
        assert_eq!(&bytes[4..7], &[0x00, 0x01, 0x2C]);
        assert_eq!(bytes.len(), 4 + 3 + 300 + 2);
        let view = CommandView::try_from(&bytes[..]).unwrap();
        assert_eq!(view.data().len(), 300);
    }
}
