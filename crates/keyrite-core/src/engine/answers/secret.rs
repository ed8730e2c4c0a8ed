//! PINs, PUKs and passphrases in an answers file are strings; one written otherwise
//! (`pin = 123456`) is refused with its key and place, never its value (toml's own message
//! quotes the value).

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

/// The message of the refusal, recognised by [`misplaced`].
const NOT_TEXT: &str = "keyrite: a secret that is not a quoted string";

pub(super) fn text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    d.deserialize_any(Text)
}

pub(super) fn optional<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    text(d).map(Some)
}

struct Text;

impl<'de> Visitor<'de> for Text {
    type Value = String;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a quoted string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<String, E> {
        Err(E::custom(NOT_TEXT))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<String, E> {
        Err(E::custom(NOT_TEXT))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<String, E> {
        Err(E::custom(NOT_TEXT))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<String, E> {
        Err(E::custom(NOT_TEXT))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<String, A::Error> {
        Err(de::Error::custom(NOT_TEXT))
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<String, A::Error> {
        Err(de::Error::custom(NOT_TEXT))
    }
}

/// The message for a secret that is not a string: `FILE:LINE:COL: KEY must be a quoted
/// string`, naming the key (with its table) but never the value.
pub(super) fn misplaced(file: &str, text: &str, e: &toml::de::Error) -> Option<String> {
    if e.message() != NOT_TEXT {
        return None;
    }
    let at = e.span()?.start.min(text.len());
    let (line, column) = crate::profile::line_column(text, at);
    let before = text.get(..at).unwrap_or_default();
    let here = before.rsplit('\n').next().unwrap_or_default();
    // The key is the bare word before `=`; nothing else of the line is repeated.
    let lhs = here.trim_end().trim_end_matches('=').trim_end();
    let leaf: String = lhs
        .chars()
        .rev()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let table = before
        .lines()
        .rev()
        .skip(1)
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    let key = match table {
        Some(t) => format!("{t}.{leaf}"),
        None => leaf.clone(),
    };
    Some(format!(
        "answers file {file}:{line}:{column}: {key} must be a quoted string ({leaf} = \"…\"); \
         a PIN, PUK or passphrase is never repeated in a message"
    ))
}

#[cfg(test)]
mod tests {
    use super::super::AnswerFile;

    #[test]
    fn a_pin_written_as_a_number_is_refused_without_its_value() {
        let text = "so_pin = 987654\nuser_pin = \"2\"\n[participants]\n\
                    [clock]\nreference = \"r\"\noffset_seconds = 0\n";
        let e = AnswerFile::parse("a.toml", text).unwrap_err().to_string();
        assert_eq!(
            e,
            "the answer does not fit: answers file a.toml:1:10: so_pin must be a quoted string \
             (so_pin = \"…\"); a PIN, PUK or passphrase is never repeated in a message"
        );
        assert!(!e.contains("987654"), "{e}");
        let text = "so_pin = \"1\"\nuser_pin = \"2\"\nshare_passphrase = 31415.9\n\
                    [participants]\n[clock]\nreference = \"r\"\noffset_seconds = 0\n\
                    [yubikeys.\"C One\"]\nserial = 7\npin = 246810\n";
        let e = AnswerFile::parse("a.toml", text).unwrap_err().to_string();
        assert!(
            e.starts_with(
                "the answer does not fit: answers file a.toml:3:20: share_passphrase must"
            ),
            "{e}"
        );
        assert!(!e.contains("31415"), "{e}");
        let text = text.replace("31415.9", "\"p\"");
        let e = AnswerFile::parse("a.toml", &text).unwrap_err().to_string();
        assert_eq!(
            e,
            "the answer does not fit: answers file a.toml:10:7: yubikeys.\"C One\".pin must be a \
             quoted string (pin = \"…\"); a PIN, PUK or passphrase is never repeated in a message"
        );
        assert!(!e.contains("246810"), "{e}");
    }
}
