//! Read-back: the attributes a key must have under its policy, read from the token and compared.
//!
//! cryptoki's `get_attributes` silently leaves out attributes the module does not return, so
//! the checker works from the list of *expected* attributes: one that is absent is a failure,
//! not a pass. The result is a table fit for the journal and the record.

use super::policy::{KeyPolicy, KeySpec, Origin, Usage};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass};
use serde::Serialize;

/// One expected attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// `CKA_…` name.
    pub name: &'static str,
    /// The attribute type to read.
    pub ty: AttributeType,
    /// The value required, rendered as [`render`] renders it.
    pub value: String,
}

/// One row of the evidence table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttributeRow {
    /// `CKA_…` name.
    pub attribute: String,
    /// What the policy requires.
    pub expected: String,
    /// What the token returned; `None` when the module did not return it.
    pub actual: Option<String>,
    /// Whether they match.
    pub ok: bool,
}

/// Renders an attribute value for comparison and for the record.
pub fn render(a: &Attribute) -> String {
    match a {
        Attribute::Class(c) => class_name(*c),
        Attribute::KeyType(k) => key_type_name(*k),
        Attribute::Token(b)
        | Attribute::Private(b)
        | Attribute::Sensitive(b)
        | Attribute::Extractable(b)
        | Attribute::AlwaysSensitive(b)
        | Attribute::NeverExtractable(b)
        | Attribute::Local(b)
        | Attribute::WrapWithTrusted(b)
        | Attribute::Trusted(b)
        | Attribute::Sign(b)
        | Attribute::Verify(b)
        | Attribute::Encrypt(b)
        | Attribute::Decrypt(b)
        | Attribute::Wrap(b)
        | Attribute::Unwrap(b)
        | Attribute::Derive(b)
        | Attribute::Modifiable(b)
        | Attribute::Copyable(b) => b.to_string(),
        Attribute::ValueLen(v) | Attribute::ModulusBits(v) => u64::from(*v).to_string(),
        Attribute::EcParams(p) => curve_name(p),
        other => format!("{other:?}"),
    }
}

fn curve_name(p: &[u8]) -> String {
    for k in [KeySpec::EcP256, KeySpec::EcP384, KeySpec::Ed25519] {
        if k.ec_params() == Some(p) {
            return k.name().to_string();
        }
    }
    // SoftHSM may return Ed25519 params as the printable name "edwards25519".
    if p == [0x13, 0x0c]
        .iter()
        .chain(b"edwards25519")
        .copied()
        .collect::<Vec<_>>()
        .as_slice()
    {
        return "ed25519".into();
    }
    format!("params {}", hex::encode(p))
}

fn class_name(c: ObjectClass) -> String {
    match c {
        ObjectClass::SECRET_KEY => "CKO_SECRET_KEY".into(),
        ObjectClass::PRIVATE_KEY => "CKO_PRIVATE_KEY".into(),
        ObjectClass::PUBLIC_KEY => "CKO_PUBLIC_KEY".into(),
        ObjectClass::CERTIFICATE => "CKO_CERTIFICATE".into(),
        other => format!("{other:?}"),
    }
}

fn key_type_name(k: KeyType) -> String {
    match k {
        KeyType::AES => "CKK_AES".into(),
        KeyType::EC => "CKK_EC".into(),
        KeyType::EC_EDWARDS => "CKK_EC_EDWARDS".into(),
        KeyType::RSA => "CKK_RSA".into(),
        other => format!("{other:?}"),
    }
}

/// Which half of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Half {
    /// Secret (symmetric) key.
    Secret,
    /// Private half of a pair.
    Private,
    /// Public half of a pair.
    Public,
}

fn key_type(spec: KeySpec) -> KeyType {
    match spec {
        KeySpec::Aes256 => KeyType::AES,
        KeySpec::EcP256 | KeySpec::EcP384 => KeyType::EC,
        KeySpec::Ed25519 => KeyType::EC_EDWARDS,
        KeySpec::Rsa3072 | KeySpec::Rsa4096 => KeyType::RSA,
    }
}

/// The attributes a key's `half` must have under `policy`, for a key of `origin`
/// (`Imported` also covers keys restored by unwrapping). Every half is private: Keyrite
/// creates no object usable or visible without login. (The root KEK's privacy depends on the
/// module; `hsm::rootkek::seal_root_kek` adjusts that row from its `KeyProtection`.)
pub fn expected(policy: &KeyPolicy, half: Half, origin: Origin) -> Vec<Expected> {
    let b = |name, ty, v: bool| Expected {
        name,
        ty,
        value: v.to_string(),
    };
    let generated = origin == Origin::Generated;
    let class = match half {
        Half::Secret => "CKO_SECRET_KEY",
        Half::Private => "CKO_PRIVATE_KEY",
        Half::Public => "CKO_PUBLIC_KEY",
    };
    let mut v = vec![
        Expected {
            name: "CKA_CLASS",
            ty: AttributeType::Class,
            value: class.into(),
        },
        Expected {
            name: "CKA_KEY_TYPE",
            ty: AttributeType::KeyType,
            value: key_type_name(key_type(policy.key)),
        },
        b("CKA_TOKEN", AttributeType::Token, true),
        b("CKA_PRIVATE", AttributeType::Private, true),
        b("CKA_LOCAL", AttributeType::Local, generated),
    ];
    // Every key Keyrite makes is non-modifiable: generated ones by their template, restored
    // ones and the root KEK by a non-modifiable copy (`hsm::backup::restore_key`,
    // `hsm::rootkek`), since SoftHSM2 refuses CKA_MODIFIABLE false in C_UnwrapKey.
    v.push(b("CKA_MODIFIABLE", AttributeType::Modifiable, false));
    let sign = policy.has(Usage::Sign);
    match half {
        Half::Secret | Half::Private => {
            v.push(b(
                "CKA_SENSITIVE",
                AttributeType::Sensitive,
                policy.sensitive,
            ));
            v.push(b(
                "CKA_EXTRACTABLE",
                AttributeType::Extractable,
                policy.extractable,
            ));
            v.push(b(
                "CKA_ALWAYS_SENSITIVE",
                AttributeType::AlwaysSensitive,
                generated && policy.sensitive,
            ));
            v.push(b(
                "CKA_NEVER_EXTRACTABLE",
                AttributeType::NeverExtractable,
                generated && !policy.extractable,
            ));
            v.push(b(
                "CKA_WRAP_WITH_TRUSTED",
                AttributeType::WrapWithTrusted,
                policy.wrap_with_trusted,
            ));
            v.push(b("CKA_SIGN", AttributeType::Sign, sign));
            v.push(b(
                "CKA_DECRYPT",
                AttributeType::Decrypt,
                policy.has(Usage::Decrypt),
            ));
            v.push(b(
                "CKA_UNWRAP",
                AttributeType::Unwrap,
                policy.has(Usage::Unwrap),
            ));
            v.push(b(
                "CKA_DERIVE",
                AttributeType::Derive,
                policy.has(Usage::Derive),
            ));
        }
        Half::Public => {
            v.push(b("CKA_VERIFY", AttributeType::Verify, sign));
            v.push(b("CKA_ENCRYPT", AttributeType::Encrypt, false));
            v.push(b("CKA_WRAP", AttributeType::Wrap, false));
        }
    }
    if half == Half::Secret {
        v.push(b(
            "CKA_ENCRYPT",
            AttributeType::Encrypt,
            policy.has(Usage::Encrypt),
        ));
        v.push(b("CKA_WRAP", AttributeType::Wrap, policy.has(Usage::Wrap)));
        v.push(b("CKA_VERIFY", AttributeType::Verify, false));
        v.push(b("CKA_TRUSTED", AttributeType::Trusted, policy.trusted));
        v.push(Expected {
            name: "CKA_VALUE_LEN",
            ty: AttributeType::ValueLen,
            value: "32".into(),
        });
    }
    if let Some(_p) = policy.key.ec_params() {
        v.push(Expected {
            name: "CKA_EC_PARAMS",
            ty: AttributeType::EcParams,
            value: policy.key.name().into(),
        });
    }
    if let (Some(bits), Half::Public) = (policy.key.rsa_bits(), half) {
        v.push(Expected {
            name: "CKA_MODULUS_BITS",
            ty: AttributeType::ModulusBits,
            value: bits.to_string(),
        });
    }
    v
}

/// Compares what the token returned with what is expected. Rows in the order expected.
pub fn compare(expected: &[Expected], actual: &[Attribute]) -> Vec<AttributeRow> {
    expected
        .iter()
        .map(|e| {
            let got = actual
                .iter()
                .find(|a| a.attribute_type() == e.ty)
                .map(render);
            AttributeRow {
                attribute: e.name.into(),
                expected: e.value.clone(),
                ok: got.as_deref() == Some(e.value.as_str()),
                actual: got,
            }
        })
        .collect()
}

/// The failed rows in words, e.g. "CKA_SENSITIVE is false, the policy requires true".
pub fn failures(rows: &[AttributeRow]) -> Vec<String> {
    rows.iter()
        .filter(|r| !r.ok)
        .map(|r| match &r.actual {
            None => format!(
                "{} was not returned by the module (the policy requires {})",
                r.attribute, r.expected
            ),
            Some(a) => format!("{} is {a}, the policy requires {}", r.attribute, r.expected),
        })
        .collect()
}

/// Reads the expected attributes of `object` and compares them.
pub fn read_and_compare(
    session: &cryptoki::session::Session,
    object: cryptoki::object::ObjectHandle,
    expected: &[Expected],
) -> Result<Vec<AttributeRow>, cryptoki::error::Error> {
    let types: Vec<AttributeType> = expected.iter().map(|e| e.ty).collect();
    let actual = session.get_attributes(object, &types)?;
    Ok(compare(expected, &actual))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hsm::policy::PolicySet;

    #[test]
    fn missing_attribute_is_a_failure_not_a_pass() {
        let set = PolicySet::builtin().unwrap();
        let p = set.get("ec-p384-sign").unwrap();
        let exp = expected(p, Half::Private, Origin::Generated);
        // Everything right except CKA_NEVER_EXTRACTABLE, which the "module" leaves out.
        let mut actual = vec![
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::KeyType(KeyType::EC),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Modifiable(false),
            Attribute::Local(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(true),
            Attribute::AlwaysSensitive(true),
            Attribute::WrapWithTrusted(true),
            Attribute::Sign(true),
            Attribute::Decrypt(false),
            Attribute::Unwrap(false),
            Attribute::Derive(false),
            Attribute::EcParams(KeySpec::EcP384.ec_params().unwrap().to_vec()),
        ];
        let rows = compare(&exp, &actual);
        assert_eq!(
            failures(&rows),
            vec![
                "CKA_NEVER_EXTRACTABLE was not returned by the module (the policy requires false)"
            ]
        );
        actual.push(Attribute::NeverExtractable(false));
        assert!(failures(&compare(&exp, &actual)).is_empty());
    }
}
