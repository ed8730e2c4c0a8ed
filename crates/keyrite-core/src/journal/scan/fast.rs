//! The fast path of the body scan, for bodies in the journal's canonical form (no whitespace,
//! integers only; `docs/formats/journal.md`): one pass over the bytes, no parser machinery,
//! no allocation. Every byte is still checked against JSON's grammar.
//!
//! It never decides alone that a body is bad. It answers `Some` only for a body that
//! `serde_json` (the full scan in `mod.rs`) would read to the same fields, and `None` —
//! "not sure" — for everything else, which the full scan then decides: whitespace, an escape
//! in a key or in a value the checks read, a `\u` escape anywhere, a control character, a
//! number that is not a plain integer, a duplicated top-level field, nesting deeper than
//! `MAX_DEPTH`, a `seq` that does not fit in 64 bits.
//! The proptest below holds it to that: on any bytes, `Some` from here equals the full scan.

use super::{Checked, EventHead, Scalar};
use std::borrow::Cow;

/// Deepest nesting read here (serde_json refuses past 128; deeper bodies go to it).
const MAX_DEPTH: u32 = 64;

/// Reads `seq`, `time` and the checkpoint fields of a canonical body; `None` when unsure.
pub(super) fn checked(body: &[u8]) -> Option<Checked<'_>> {
    // The whole body at once, in passes the compiler vectorises: no control character (JSON
    // has them only escaped, or as whitespace, which canonical bodies have none of), and valid
    // UTF-8 — so every string between two quotes is valid UTF-8 too.
    if body.iter().fold(false, |seen, &b| seen | (b < 0x20)) {
        return None;
    }
    let text = std::str::from_utf8(body).ok()?;
    let mut c = Cursor {
        b: body,
        text,
        i: 0,
    };
    let (mut seq, mut time, mut event) = (None, None, None);
    c.members(|c, key| {
        match key {
            // A duplicated field is an error in the full scan: not decided here.
            "seq" if seq.is_none() => seq = Some(c.unsigned()?),
            "time" if time.is_none() => time = Some(c.string()?),
            "event" if event.is_none() => event = Some(c.event()?),
            "seq" | "time" | "event" => return None,
            _ => c.value(2)?,
        }
        Some(())
    })?;
    // Trailing bytes (even whitespace) are left to the full scan.
    if c.i != body.len() {
        return None;
    }
    Some(Checked {
        seq: seq?,
        time: Cow::Borrowed(time?),
        event: event.unwrap_or_default(),
    })
}

struct Cursor<'a> {
    b: &'a [u8],
    /// `b`, known to be UTF-8.
    text: &'a str,
    i: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.i += 1)
    }

    /// An object: `{`, then `key: value` pairs (each read by `member`, which must consume the
    /// value), `}`.
    fn members(&mut self, mut member: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        if self.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            let key = self.string()?;
            self.eat(b':')?;
            member(self, key)?;
            if !self.another(b'}')? {
                return Some(());
            }
        }
    }

    /// After an item of an object or array: `true` past a `,` (another item follows), `false`
    /// past `close` (the container ends), `None` at anything else.
    fn another(&mut self, close: u8) -> Option<bool> {
        let b = self.peek()?;
        self.i += 1;
        match b {
            b',' => Some(true),
            _ if b == close => Some(false),
            _ => None,
        }
    }

    /// A string whose text is used (a key, or a value the checks read), without escapes:
    /// one is left to the full scan. Control characters were refused for the whole body.
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.i;
        let len = memchr::memchr2(b'"', b'\\', self.b.get(start..)?)?;
        if self.b[start + len] != b'"' {
            return None;
        }
        self.i = start + len + 1;
        // Between two ASCII quotes of valid UTF-8: a whole string of characters.
        self.text.get(start..start + len)
    }

    /// A string value the checks skip, checked as serde_json checks the strings it ignores:
    /// its one-character escapes (`\"` in a token's description, say) pass; a `\u` escape,
    /// whose rules differ between a string serde_json ignores and one it reads, is left to it.
    fn skipped_string(&mut self) -> Option<()> {
        self.eat(b'"')?;
        loop {
            let at = self.i + memchr::memchr2(b'"', b'\\', self.b.get(self.i..)?)?;
            if self.b[at] == b'"' {
                self.i = at + 1;
                return Some(());
            }
            match self.b.get(at + 1)? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.i = at + 2,
                _ => return None,
            }
        }
    }

    /// Digits of an integer: `0` or a non-zero digit and more digits (no sign).
    fn digits(&mut self) -> Option<&'a [u8]> {
        let start = self.i;
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => {
                while matches!(self.peek(), Some(b'0'..=b'9')) {
                    self.i += 1;
                }
            }
            _ => return None,
        }
        // A fraction or exponent is a float: the full scan's.
        if matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        Some(&self.b[start..self.i])
    }

    /// An unsigned integer that fits in 64 bits.
    fn unsigned(&mut self) -> Option<u64> {
        self.digits()?.iter().try_fold(0u64, |n, d| {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })
    }

    /// `event`: its `type`, `size` and `signer_fingerprint` when it is an object (the last of
    /// a repeated key wins, as in the full scan); anything else is skipped.
    fn event(&mut self) -> Option<EventHead<'a>> {
        let mut e = EventHead::default();
        if self.peek()? != b'{' {
            self.value(2)?;
            return Some(e);
        }
        self.members(|c, key| {
            let slot = match key {
                "type" => &mut e.kind,
                "size" => &mut e.size,
                "signer_fingerprint" => &mut e.signer,
                _ => return c.value(3),
            };
            *slot = c.scalar()?;
            Some(())
        })?;
        Some(e)
    }

    /// A value reduced as the full scan reduces it.
    fn scalar(&mut self) -> Option<Scalar<'a>> {
        match self.peek()? {
            b'"' => Some(Scalar::Str(Cow::Borrowed(self.string()?))),
            b'0'..=b'9' => Some(Scalar::U64(self.unsigned()?)),
            _ => {
                self.value(3)?;
                Some(Scalar::Other)
            }
        }
    }

    /// Any value at nesting `depth`, checked and skipped.
    fn value(&mut self, depth: u32) -> Option<()> {
        match self.peek()? {
            b'"' => self.skipped_string(),
            b'{' if depth < MAX_DEPTH => self.members(|c, _| c.value(depth + 1)),
            b'[' if depth < MAX_DEPTH => {
                self.i += 1;
                if self.eat(b']').is_some() {
                    return Some(());
                }
                loop {
                    self.value(depth + 1)?;
                    if !self.another(b']')? {
                        return Some(());
                    }
                }
            }
            b'-' => {
                self.i += 1;
                self.digits().map(drop)
            }
            b'0'..=b'9' => self.digits().map(drop),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => None,
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.i + word.len();
        (self.b.get(self.i..end)? == word).then(|| self.i = end)
    }
}

#[cfg(test)]
mod tests {
    use super::super::full;
    use super::*;
    use proptest::prelude::*;

    /// A checkpoint entry's size and signer.
    type CheckpointFields = Option<(u64, Option<String>)>;

    /// What the checks use of a scan.
    fn fields(c: Option<Checked<'_>>) -> Option<(u64, String, CheckpointFields)> {
        c.map(|c| (c.seq, c.time.to_string(), c.checkpoint()))
    }

    /// `Some` here means the full scan reads the same.
    fn agrees(body: &[u8]) -> Result<(), TestCaseError> {
        if let Some(fast) = fields(checked(body)) {
            prop_assert_eq!(
                Some(fast),
                fields(full(body)),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        Ok(())
    }

    const CHECKPOINT: &str = r#"{"details":{"x":[1,{"a":null,"b":true,"c":false}],"y":[]},"event":{"root":"00ff","signer_fingerprint":"ab","size":7,"type":"checkpoint"},"seq":8,"time":"2026-01-01T00:00:00.000Z","v":1}"#;

    #[test]
    fn reads_canonical_bodies_itself() {
        let c = checked(CHECKPOINT.as_bytes()).expect("a canonical body is read here");
        assert_eq!(
            fields(Some(c)),
            Some((
                8,
                "2026-01-01T00:00:00.000Z".into(),
                Some((7, Some("ab".into())))
            ))
        );
        // One-character escapes in values the checks skip (a token's description) are read
        // here too.
        let token = r#"{"details":{"token":"token \"keyrite-rehearsal\" \\ \/ \b\f\n\r\t"},"event":{"type":"key_generated"},"seq":3,"time":"2026-01-01T00:00:00.000Z","v":1}"#;
        assert_eq!(
            fields(checked(token.as_bytes())),
            Some((3, "2026-01-01T00:00:00.000Z".into(), None))
        );
        let note = r#"{"ceremony":"c-1","event":{"text":"Zoë signs","type":"note"},"seq":0,"time":"2026-01-01T00:00:00.000Z","v":1}"#;
        assert_eq!(
            fields(checked(note.as_bytes())),
            Some((0, "2026-01-01T00:00:00.000Z".into(), None))
        );
    }

    #[test]
    fn leaves_what_it_is_not_sure_of_to_the_full_scan() {
        for unsure in [
            // Whitespace, an escape, a float, a duplicated field, trailing bytes, seq too large.
            r#"{ "seq":1,"time":"t"}"#,
            r#"{"seq":1,"time":"t\n"}"#,
            r#"{"seq":1,"time":"t","x":1.5}"#,
            r#"{"seq":1,"seq":2,"time":"t"}"#,
            r#"{"seq":1,"time":"t"} "#,
            r#"{"seq":18446744073709551616,"time":"t"}"#,
            // Bad bodies: the full scan says so.
            r#"{"seq":1,"time":"t""#,
            r#"{"seq":1}"#,
            r#"{"seq":01,"time":"t"}"#,
            r#"{"seq":1,"time":"t","x":[1,]}"#,
        ] {
            assert!(checked(unsure.as_bytes()).is_none(), "{unsure}");
        }
        for unsure in [
            // Escapes in a key, in a value read, and a \u escape in a value skipped.
            r#"{"s\u0065q":1,"seq":2,"time":"t"}"#,
            r#"{"seq":1,"time":"t\"","x":1}"#,
            r#"{"event":{"type":"check\/point","size":1},"seq":1,"time":"t"}"#,
            r#"{"seq":1,"time":"t","x":"\u0041"}"#,
            // A bad escape in a value skipped: the full scan refuses it.
            r#"{"seq":1,"time":"t","x":"\x"}"#,
        ] {
            assert!(checked(unsure.as_bytes()).is_none(), "{unsure}");
        }
        assert!(full(br#"{"seq":1,"time":"t","x":"\x"}"#).is_none());
        let deep = format!(
            r#"{{"seq":1,"time":"t","x":{}{}}}"#,
            "[".repeat(70),
            "]".repeat(70)
        );
        assert!(checked(deep.as_bytes()).is_none());
        assert!(full(deep.as_bytes()).is_some());
    }

    /// A JSON value of the shapes bodies have, with the keys the scan looks for.
    fn value() -> impl Strategy<Value = serde_json::Value> {
        use serde_json::Value;
        let key = prop_oneof![
            Just("type".to_string()),
            Just("size".to_string()),
            Just("signer_fingerprint".to_string()),
            Just("checkpoint".to_string()),
            "[a-z\u{e9}\"\\\\\n]{0,6}",
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            Just(Value::from("checkpoint")),
            "[ -~\u{e9}\u{1f511}\n]{0,8}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 24, 4, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(key.clone(), inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// A body: the top-level fields, present or not, with values of any shape.
    fn body() -> impl Strategy<Value = Vec<u8>> {
        (
            prop::option::of(prop_oneof![any::<u64>().prop_map(Into::into), value()]),
            prop::option::of(prop_oneof![
                Just(serde_json::Value::from("2026-01-01T00:00:00.000Z")),
                value()
            ]),
            prop::option::of(value()),
            value(),
        )
            .prop_map(|(seq, time, event, details)| {
                let mut m = serde_json::Map::new();
                m.insert("details".into(), details);
                for (k, v) in [("seq", seq), ("time", time), ("event", event)] {
                    if let Some(v) = v {
                        m.insert(k.into(), v);
                    }
                }
                serde_json::to_vec(&serde_json::Value::Object(m)).unwrap_or_default()
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn some_here_is_what_the_full_scan_reads(b in body()) {
            agrees(&b)?;
        }

        #[test]
        fn damaged_bodies_too(b in body(), at in any::<prop::sample::Index>(),
                              byte in any::<u8>(), how in 0..3u8) {
            let mut b = b;
            let i = at.index(b.len() + 1);
            match how {
                0 if i < b.len() => b[i] = byte,
                1 => b.insert(i, byte),
                _ if i < b.len() => { b.remove(i); }
                _ => {}
            }
            agrees(&b)?;
        }

        #[test]
        fn canonical_bodies_without_escapes_are_read_here(
            seq in any::<u64>(), size in any::<u64>(), text in "[ -!#-\\[\\]-~\u{e9}]{0,40}"
        ) {
            let b = format!(
                r#"{{"event":{{"note":"{text}","size":{size},"type":"checkpoint"}},"seq":{seq},"time":"{text}","v":1}}"#
            );
            prop_assert_eq!(
                fields(checked(b.as_bytes())),
                Some((seq, text.clone(), Some((size, None))))
            );
            agrees(b.as_bytes())?;
        }
    }
}
