//! The compliance mapping: which controls each journaled event gives evidence for (research
//! `records-lifecycle.md` §4.2).

/// Compliance references an event gives evidence for. Every step is journaled, hence audit
/// controls for all; the rest follows the feature → control table.
pub fn compliance_for(kind: &str) -> &'static [&'static str] {
    match kind {
        "key_generated" | "key_imported" => &[
            "HIPAA 164.312(a)(2)(iv)",
            "ISO 27001 A.8.24",
            "PCI DSS 3.6.1",
            "PCI DSS 3.7.1",
        ],
        "share_set_created" | "share_verified" => &[
            "HIPAA 164.312(a)(2)(iv)",
            "ISO 27001 A.8.24",
            "PCI DSS 3.6.1.2",
            "PCI DSS 3.7.6",
        ],
        "backup_made" | "backup_restored" => &["ISO 27001 A.8.24", "PCI DSS 3.7.3"],
        "approval_requested" | "approval_granted" | "approval_refused" => {
            &["HIPAA 164.312(d)", "ISO 27001 A.8.24", "PCI DSS 3.7.6"]
        }
        "sign_off" | "participant_checked_in" => &["HIPAA 164.312(d)", "PCI DSS 3.7.6"],
        "key_destroyed" => &["ISO 27001 A.8.24", "PCI DSS 3.7.5"],
        "key_registered" | "inventory_state_changed" | "inventory_dependency_added" => {
            &["ISO 27001 A.8.24", "PCI DSS 3.6.1.1", "PCI DSS 3.7.4"]
        }
        _ => &[],
    }
}
