//! The trussed platform the simulated card runs on.
//!
//! trussed's own `virt::with_platform` seeds its RNG with a constant, so every simulated card
//! would generate the same keys. Five custodians with identical 9c keys would make every
//! quorum test meaningless, so this platform draws its seed from the operating system.

use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use trussed::virt::{Store, UserInterface};

/// A trussed platform: OS-seeded DRBG, the card's persistent store, no user presence.
pub struct SimPlatform<'a> {
    rng: ChaCha8Rng,
    store: Store<'a>,
    ui: UserInterface,
}

impl<'a> SimPlatform<'a> {
    /// A platform over `store` with a freshly seeded RNG.
    pub fn new(store: Store<'a>) -> Self {
        Self {
            rng: ChaCha8Rng::from_entropy(),
            store,
            ui: UserInterface::new(),
        }
    }
}

impl<'a> trussed::Platform for SimPlatform<'a> {
    type R = ChaCha8Rng;
    type S = Store<'a>;
    type UI = UserInterface;

    fn rng(&mut self) -> &mut Self::R {
        &mut self.rng
    }

    fn store(&self) -> Self::S {
        self.store
    }

    fn user_interface(&mut self) -> &mut Self::UI {
        &mut self.ui
    }
}
