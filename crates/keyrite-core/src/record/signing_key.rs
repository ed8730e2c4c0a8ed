//! The record-signing key's label: one name for every face and the shipped scripts.

/// `CKA_LABEL` of the record-signing key (and its certificate) on the token: the name the
/// shipped `hsm-initialisation.toml` generates it under. `keyrite record produce` and
/// `keyrite journal checkpoint` open the key by it, as the engine does for a ceremony's record.
pub const RECORD_SIGNING_LABEL: &str = "keyrite-record-signing";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_initialisation_script_generates_the_key_under_this_label() {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../ceremony-scripts/hsm-initialisation.toml");
        let text = std::fs::read_to_string(&script).expect("the shipped script");
        assert!(
            text.contains(&format!(
                "params = {{ policy = \"record-signing\", label = \"{RECORD_SIGNING_LABEL}\" }}"
            )),
            "{} does not generate {RECORD_SIGNING_LABEL}",
            script.display()
        );
    }
}
