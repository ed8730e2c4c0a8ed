//! The core's integration tests, one test binary: each file of this folder is a module (one
//! link instead of one per file, and cargo's test threads share the whole set instead of
//! idling on a file with one test). A new file here needs its `mod` line below, in order;
//! docs/testing.md has the rule for every test binary. Process-wide state is shared by all
//! modules: SoftHSM2 in-process (`SOFTHSM2_CONF`) is `#[serial(softhsm)]`, the virtual
//! YubiKeys' pcscd (one per process) `#[serial(piv)]`, Kryoptic `#[serial(kryoptic)]`.

mod card_swap;
mod custodian_yubikey;
mod engine_by_hand;
mod engine_correct;
mod engine_people;
mod engine_pins;
mod hsm_admin;
mod hsm_kryoptic;
mod hsm_opensc_piv;
mod hsm_rehearsal_store;
mod hsm_removal;
mod hsm_sealed;
mod hsm_softhsm;
mod inventory_lifecycle;
mod journal_crash;
mod journal_export;
mod journal_index;
mod journal_store;
mod journal_tamper;
mod operations_quorum;
mod preflight_airgap;
mod record_mutation;
mod record_produce;
mod record_signature;
mod script_errors;
mod script_shipped;
mod shares_seal;
mod shares_split;
