//! What verification reads of a body, in one pass and without building a JSON tree: `seq`,
//! `time`, and for `checkpoint` events their `size` and `signer_fingerprint`. Every other value
//! is skipped (still syntax-checked). Strings without escapes are borrowed, so a typical entry
//! costs no allocation. Canonical bodies are read by `fast.rs` (a third of verification's CPU
//! was this scan through serde, docs/performance.md); what it is not sure of, serde_json reads.
//!
//! It accepts exactly what the earlier full parse accepted: `seq` (an unsigned integer) and
//! `time` (a string) are required; `event` may be anything, and only an object whose `type` is
//! the string `checkpoint` with an unsigned `size` counts as a checkpoint entry.

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use std::borrow::Cow;
use std::fmt;

mod fast;

/// The fields of a body verification checks.
#[derive(Debug, Deserialize)]
pub(super) struct Checked<'a> {
    pub(super) seq: u64,
    #[serde(borrow)]
    pub(super) time: Cow<'a, str>,
    #[serde(default, borrow)]
    event: EventHead<'a>,
}

impl Checked<'_> {
    /// `(size, signer_fingerprint)` when the body is a `checkpoint` event.
    pub(super) fn checkpoint(&self) -> Option<(u64, Option<String>)> {
        let e = &self.event;
        match (&e.kind, &e.size) {
            (Scalar::Str(k), Scalar::U64(size)) if k == "checkpoint" => Some((
                *size,
                match &e.signer {
                    Scalar::Str(s) => Some(s.to_string()),
                    _ => None,
                },
            )),
            _ => None,
        }
    }
}

/// Parses `body`; `None` when it is not a JSON object with a valid `seq` and `time`.
pub(super) fn checked(body: &[u8]) -> Option<Checked<'_>> {
    fast::checked(body).or_else(|| full(body))
}

/// The full scan: serde_json's parser over any JSON.
fn full(body: &[u8]) -> Option<Checked<'_>> {
    serde_json::from_slice(body).ok()
}

/// A JSON value reduced to what the checks compare.
#[derive(Debug, Default)]
enum Scalar<'a> {
    Str(Cow<'a, str>),
    U64(u64),
    #[default]
    Other,
}

/// The `event` object's `type`, `size` and `signer_fingerprint`; anything else is `Other`.
#[derive(Debug, Default)]
struct EventHead<'a> {
    kind: Scalar<'a>,
    size: Scalar<'a>,
    signer: Scalar<'a>,
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v.to_string())))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Scalar::U64(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(u64::try_from(v).map_or(Scalar::Other, Scalar::U64))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Scalar::Other)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Scalar::Other)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
        while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut s: A) -> Result<Self::Value, A::Error> {
        while s.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

struct EventVisitor;

impl<'de> Visitor<'de> for EventVisitor {
    type Value = EventHead<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
        let mut e = EventHead::default();
        while let Some(key) = m.next_key::<Cow<'de, str>>()? {
            match key.as_ref() {
                "type" => e.kind = m.next_value()?,
                "size" => e.size = m.next_value()?,
                "signer_fingerprint" => e.signer = m.next_value()?,
                _ => {
                    m.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(e)
    }
    // Anything but an object is not a checkpoint event (and was accepted before).
    fn visit_borrowed_str<E>(self, _: &'de str) -> Result<Self::Value, E> {
        Ok(EventHead::default())
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(EventHead::default())
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(EventHead::default())
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(EventHead::default())
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(EventHead::default())
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(EventHead::default())
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(EventHead::default())
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut s: A) -> Result<Self::Value, A::Error> {
        while s.next_element::<IgnoredAny>()?.is_some() {}
        Ok(EventHead::default())
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for EventHead<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(EventVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cp(body: &str) -> Option<(u64, Option<String>)> {
        checked(body.as_bytes()).and_then(|c| c.checkpoint())
    }

    #[test]
    fn reads_seq_time_and_checkpoints_like_the_full_parse() {
        let b = r#"{"details":{"x":[1,{"a":null}]},"event":{"root":"00","signer_fingerprint":"ab","size":7,"type":"checkpoint"},"seq":8,"time":"2026-01-01T00:00:00.000Z","v":1}"#;
        let c = checked(b.as_bytes()).unwrap();
        assert_eq!((c.seq, c.time.as_ref()), (8, "2026-01-01T00:00:00.000Z"));
        assert_eq!(c.checkpoint(), Some((7, Some("ab".into()))));
        // Not a checkpoint: other type, size missing or not unsigned, event not an object.
        assert_eq!(
            cp(r#"{"event":{"size":7,"type":"note"},"seq":1,"time":"t"}"#),
            None
        );
        assert_eq!(
            cp(r#"{"event":{"size":-7,"type":"checkpoint"},"seq":1,"time":"t"}"#),
            None
        );
        assert_eq!(
            cp(r#"{"event":{"type":"checkpoint"},"seq":1,"time":"t"}"#),
            None
        );
        assert_eq!(cp(r#"{"event":"checkpoint","seq":1,"time":"t"}"#), None);
        assert_eq!(
            cp(
                r#"{"event":{"signer_fingerprint":5,"size":7,"type":"checkpoint"},"seq":1,"time":"t"}"#
            ),
            Some((7, None))
        );
        // An escaped string is read too (owned).
        assert_eq!(
            cp(r#"{"event":{"size":2,"type":"check\u0070oint"},"seq":1,"time":"t"}"#),
            Some((2, None))
        );
        // seq and time are required and typed; the body must be valid JSON.
        for bad in [
            r#"{"event":{},"time":"t"}"#,
            r#"{"seq":"1","time":"t"}"#,
            r#"{"seq":1,"time":5}"#,
            r#"{"seq":1,"time":"t""#,
            r#"{"seq":1,"time":"t","event":{"a":}}"#,
        ] {
            assert!(checked(bad.as_bytes()).is_none(), "{bad}");
        }
    }
}
