//! The end-to-end tests of the `keyrite` CLI, one test binary: each file of this folder is a
//! module (one link instead of one per file, and cargo's test threads share every test instead
//! of idling on a file with one). A new file here needs its `mod` line below, in order;
//! docs/testing.md has the rule for every test binary. Process-wide state is shared by all
//! modules: SoftHSM2 driven in-process by a fixture (`SOFTHSM2_CONF`) is `#[serial(softhsm)]`,
//! the virtual YubiKeys' pcscd (one per process) `#[serial(piv)]`, Kryoptic
//! `#[serial(kryoptic)]`, the private CUPS queue `#[serial(cups)]`.

mod ceremony_by_hand;
mod ceremony_correct;
mod ceremony_current_so_pin;
mod ceremony_destroy_backups;
mod ceremony_hsm_init_guard;
mod ceremony_people;
mod ceremony_pins;
mod ceremony_production;
mod ceremony_production_slot_pin;
mod ceremony_production_terminal;
mod ceremony_quorum;
mod ceremony_recovery;
mod ceremony_recovery_inventory;
mod ceremony_resume;
mod ceremony_root_key;
mod ceremony_sealed_shares;
mod cli_conventions;
mod cli_foundation;
mod cli_hsm;
mod cli_hsm_gates;
mod cli_kryoptic;
mod cli_names;
mod cli_opencryptoki;
mod hierarchy_attack;
mod journal_ceremonies;
mod pdf_fonts;
mod record_pdf;
mod recovery_reference;
mod share_card;
mod share_card_print;
mod siem_export;
