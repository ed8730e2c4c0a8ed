//! How the engine reaches a custodian's YubiKey: by serial, waiting for the custodian to
//! insert it. The engine opens the card for one operation and lets it go at once, so
//! custodians can insert their keys one after another.

use std::time::{Duration, Instant};

use crate::custodian::{list_cards, CustodianError, PivToken, YubiKeyPiv};

/// Opens custodians' cards. The real one is [`PcscCards`]; unit tests of flow logic may give
/// the engine a fake.
pub trait CardAccess: Send + Sync {
    /// Opens the card with `serial`, waiting for it to be inserted.
    fn open(&self, serial: u32) -> Result<Box<dyn PivToken>, CustodianError>;
}

/// Cards over PC/SC (pcscd), through the `yubikey` crate.
#[derive(Debug, Clone, Copy)]
pub struct PcscCards {
    /// How long to wait for the card asked for.
    pub wait: Duration,
}

impl Default for PcscCards {
    fn default() -> Self {
        PcscCards {
            wait: Duration::from_secs(120),
        }
    }
}

impl CardAccess for PcscCards {
    fn open(&self, serial: u32) -> Result<Box<dyn PivToken>, CustodianError> {
        let deadline = Instant::now() + self.wait;
        loop {
            let last = match list_cards() {
                Ok(cards) if cards.iter().any(|c| c.serial == serial) => {
                    return Ok(Box::new(YubiKeyPiv::open_serial(serial)?));
                }
                Ok(cards) => CustodianError::WrongSerial {
                    expected: serial,
                    found: cards.iter().map(|c| c.serial).collect(),
                },
                Err(e @ (CustodianError::NoCard { .. } | CustodianError::NoReader)) => e,
                Err(e) => return Err(e),
            };
            if Instant::now() >= deadline {
                return Err(match last {
                    CustodianError::WrongSerial { .. } => last,
                    _ => CustodianError::InsertTimeout {
                        seconds: self.wait.as_secs(),
                    },
                });
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}
