//! The one canonical encoding of an entry body: JSON with object keys sorted by their UTF-8
//! bytes, no insignificant whitespace, strings escaped as serde_json does (only `"`, `\` and
//! control characters), integers only. This is the RFC 8785 (JCS) subset without floating
//! point, so any JCS implementation reproduces the bytes. See `docs/formats/journal.md`.

use serde_json::Value;

/// Why a value has no canonical form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CanonicalError {
    /// Floating-point numbers have several spellings; the journal stores integers and strings.
    #[error(
        "field {path} holds a fractional number; journal events carry integers or strings only"
    )]
    Float {
        /// JSON path of the field.
        path: String,
    },
}

/// Encodes `value` canonically.
pub fn encode(value: &Value) -> Result<Vec<u8>, CanonicalError> {
    check(value, "$")?;
    // serde_json's Map is a BTreeMap (no `preserve_order` feature): keys come out sorted.
    Ok(serde_json::to_vec(&sorted(value)).unwrap_or_default())
}

fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(&String, &Value)> = m.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), sorted(v)))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

fn check(v: &Value, path: &str) -> Result<(), CanonicalError> {
    match v {
        Value::Number(n) if !(n.is_i64() || n.is_u64()) => Err(CanonicalError::Float {
            path: path.to_string(),
        }),
        Value::Object(m) => m
            .iter()
            .try_for_each(|(k, v)| check(v, &format!("{path}.{k}"))),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .try_for_each(|(i, v)| check(v, &format!("{path}[{i}]"))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sorts_keys_and_rejects_floats() {
        let v = json!({"b": 1, "a": {"z": "é\n", "y": [2, {"d": null, "c": true}]}});
        assert_eq!(
            String::from_utf8(encode(&v).unwrap()).unwrap(),
            r#"{"a":{"y":[2,{"c":true,"d":null}],"z":"é\n"},"b":1}"#
        );
        let err = encode(&json!({"x": [1, 2.5]})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "field $.x[1] holds a fractional number; journal events carry integers or strings only"
        );
    }
}
