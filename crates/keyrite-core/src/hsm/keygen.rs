//! Key generation inside the HSM under a policy, and read-back with evidence.

use super::attributes::{self, expected, failures, AttributeRow, Expected, Half};
use super::kcv::{self, KeyCheckValue};
use super::policy::{KeyPolicy, KeySpec, Origin, Usage};
use super::quirks::{require_mechanism, Quirks};
use super::session::TokenSession;
use super::{spki, HsmError};
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use serde::Serialize;

/// What Keyrite recorded about a key: the evidence for the journal and the record.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct KeyEvidence {
    /// The token.
    pub token: String,
    /// `CKA_LABEL`.
    pub label: String,
    /// `CKA_ID`, hex.
    pub id: String,
    /// Policy name.
    pub policy: String,
    /// Algorithm and size.
    pub key: KeySpec,
    /// Generated in the HSM, or imported/restored (reported truthfully).
    pub origin: Origin,
    /// The secret key's or private half's attribute table.
    pub attributes: Vec<AttributeRow>,
    /// The public half's attribute table (key pairs).
    pub public_attributes: Option<Vec<AttributeRow>>,
    /// SHA-256 of the public key's DER SPKI, hex (key pairs).
    pub spki_sha256: Option<String>,
    /// Key check value (secret keys).
    pub kcv: Option<KeyCheckValue>,
    /// Root KEKs only: which protection the module gave the key hierarchy (`full`, or
    /// `weaker` with the reasons and whether the site profile accepted it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_protection: Option<super::protection::KeyProtection>,
    /// Backups, restores and root KEKs: the RFC 5649 mechanism number the module offered and
    /// Keyrite used (`CKM_AES_KEY_WRAP_PAD` or `CKM_AES_KEY_WRAP_KWP`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wrap_mechanism: Option<super::wrap::Rfc5649>,
    /// Keys made under the weaker form of their policy (a module without trusted keys): the
    /// statement the record shows with the key ([`super::policy::WITHOUT_TRUSTED_KEYS`]).
    /// Journaled as `protection`, the name the record reads.
    #[serde(rename = "protection", skip_serializing_if = "Option::is_none")]
    pub weaker_policy: Option<String>,
}

/// The objects that carry one label.
#[derive(Debug, Clone, Default)]
pub struct KeyObjects {
    /// Secret key.
    pub secret: Option<ObjectHandle>,
    /// Private key.
    pub private: Option<ObjectHandle>,
    /// Public key.
    pub public: Option<ObjectHandle>,
    /// Certificates.
    pub certificates: Vec<ObjectHandle>,
}

impl KeyObjects {
    /// Whether nothing carries the label.
    pub fn is_empty(&self) -> bool {
        self.secret.is_none()
            && self.private.is_none()
            && self.public.is_none()
            && self.certificates.is_empty()
    }
}

/// Finds the objects labelled `label`.
pub fn find_key(s: &TokenSession, label: &str) -> Result<KeyObjects, HsmError> {
    let mut out = KeyObjects::default();
    let op = format!("looking up \"{label}\"");
    for (class, slot) in [
        (ObjectClass::SECRET_KEY, 0),
        (ObjectClass::PRIVATE_KEY, 1),
        (ObjectClass::PUBLIC_KEY, 2),
        (ObjectClass::CERTIFICATE, 3),
    ] {
        let found = s.find(
            &op,
            &[
                Attribute::Label(label.as_bytes().to_vec()),
                Attribute::Class(class),
            ],
        )?;
        match slot {
            0 => out.secret = found.first().copied(),
            1 => out.private = found.first().copied(),
            2 => out.public = found.first().copied(),
            _ => out.certificates = found,
        }
    }
    Ok(out)
}

/// Refuses a label already present on the token.
pub fn ensure_label_free(s: &TokenSession, operation: &str, label: &str) -> Result<(), HsmError> {
    let hits = s.find(operation, &[Attribute::Label(label.as_bytes().to_vec())])?;
    if !hits.is_empty() {
        return Err(HsmError::LabelExists {
            operation: operation.into(),
            token: s.name(),
            label: label.into(),
        });
    }
    Ok(())
}

/// A fresh `CKA_ID` (16 bytes from the token's RNG) not used by any object.
pub fn fresh_id(s: &TokenSession) -> Result<Vec<u8>, HsmError> {
    loop {
        let id = s
            .raw()
            .generate_random_vec(16)
            .map_err(|e| s.err("drawing a key id (C_GenerateRandom)", e))?;
        if s.find("checking the key id", &[Attribute::Id(id.clone())])?
            .is_empty()
        {
            return Ok(id);
        }
    }
}

pub(crate) fn require_user(s: &TokenSession, operation: &str) -> Result<(), HsmError> {
    if s.user() != Some(super::UserKind::User) {
        return Err(HsmError::Call {
            operation: operation.into(),
            target: s.name(),
            rv: "CKR_USER_NOT_LOGGED_IN (nobody is logged in to the token); log in as user first"
                .into(),
        });
    }
    Ok(())
}

/// The private/secret template attributes a policy asks for (label and id included). Every
/// object Keyrite creates is private: nothing is usable, or even visible, without login. And
/// non-modifiable: no usage (`CKA_DECRYPT` on a wrapping key, `CKA_SIGN` on a key that should
/// not sign) and no label can be changed on the token after the read-back the journal holds.
pub fn private_template(policy: &KeyPolicy, label: &str, id: &[u8]) -> Vec<Attribute> {
    let mut t = vec![
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Modifiable(false),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Id(id.to_vec()),
        Attribute::Sensitive(policy.sensitive),
        Attribute::Extractable(policy.extractable),
        Attribute::WrapWithTrusted(policy.wrap_with_trusted),
        Attribute::Sign(policy.has(Usage::Sign)),
        Attribute::Decrypt(policy.has(Usage::Decrypt)),
        Attribute::Unwrap(policy.has(Usage::Unwrap)),
        Attribute::Derive(policy.has(Usage::Derive)),
    ];
    if policy.key.is_secret() {
        t.push(Attribute::Encrypt(policy.has(Usage::Encrypt)));
        t.push(Attribute::Wrap(policy.has(Usage::Wrap)));
        t.push(Attribute::Verify(false));
        t.push(Attribute::ValueLen(32.into()));
    }
    t
}

/// The public template for a key pair. Private too: the public key is no secret, but an
/// object visible without login tells an intruder which keys the token holds.
pub fn public_template(policy: &KeyPolicy, label: &str, id: &[u8]) -> Vec<Attribute> {
    let mut t = vec![
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Modifiable(false),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Id(id.to_vec()),
        Attribute::Verify(policy.has(Usage::Sign)),
        Attribute::Encrypt(false),
        Attribute::Wrap(false),
    ];
    if let Some(p) = policy.key.ec_params() {
        t.push(Attribute::EcParams(p.to_vec()));
    }
    if let Some(bits) = policy.key.rsa_bits() {
        t.push(Attribute::ModulusBits(bits.into()));
        t.push(Attribute::PublicExponent(vec![0x01, 0x00, 0x01]));
    }
    t
}

/// The generation mechanism for a key spec.
pub fn keygen_mechanism(spec: KeySpec) -> Mechanism<'static> {
    match spec {
        KeySpec::Aes256 => Mechanism::AesKeyGen,
        KeySpec::EcP256 | KeySpec::EcP384 => Mechanism::EccKeyPairGen,
        KeySpec::Ed25519 => Mechanism::EccEdwardsKeyPairGen,
        KeySpec::Rsa3072 | KeySpec::Rsa4096 => Mechanism::RsaPkcsKeyPairGen,
    }
}

/// Generates a key under `policy` labelled `label`, reads it back and returns the evidence.
/// The policy, label, login and mechanism are checked before anything is created
/// ([`check_generate`]).
pub fn generate(
    s: &TokenSession,
    policy: &KeyPolicy,
    label: &str,
    quirks: &Quirks,
) -> Result<KeyEvidence, HsmError> {
    let policy = &check_generate(s, policy, label, quirks)?;
    let mech = keygen_mechanism(policy.key);
    let id = fresh_id(s)?;
    let priv_t = private_template(policy, label, &id);
    generate_checked(s, policy, label, &id, &mech, &priv_t)
}

/// What [`generate`] checks before anything is created: the policy, the login, what the
/// module lacks (vendor quirks: attributes, then the generation mechanism, also asked of the
/// module), the label. Returns the policy as this module applies it. Callers that journal an
/// operation call it first, so that an unsupported operation leaves the journal unchanged.
pub fn check_generate(
    s: &TokenSession,
    policy: &KeyPolicy,
    label: &str,
    quirks: &Quirks,
) -> Result<KeyPolicy, HsmError> {
    let op = format!(
        "generating key \"{label}\" under policy \"{}\"",
        policy.name
    );
    policy.validate()?;
    if policy.origin != Origin::Generated {
        return Err(HsmError::PolicyInvalid {
            policy: policy.name.clone(),
            problem: "it is for imported keys; generation inside the HSM needs a policy with \
                      origin = \"generated\""
                .into(),
        });
    }
    require_user(s, &op)?;
    let q = quirks.for_token(s.token());
    let policy = q.policy_for(policy, quirks.site_rule, &op, &s.name())?;
    q.check_label(&op, &s.name(), label)?;
    require_mechanism(
        s.raw_ctx(),
        s.slot(),
        s.token(),
        q,
        &op,
        keygen_mechanism(policy.key).mechanism_type(),
    )?;
    ensure_label_free(s, &op, label)?;
    Ok(policy)
}

fn generate_checked(
    s: &TokenSession,
    policy: &KeyPolicy,
    label: &str,
    id: &[u8],
    mech: &Mechanism,
    priv_t: &[cryptoki::object::Attribute],
) -> Result<KeyEvidence, HsmError> {
    let op = format!(
        "generating key \"{label}\" under policy \"{}\"",
        policy.name
    );
    if policy.key.is_secret() {
        let h = s
            .raw()
            .generate_key(mech, priv_t)
            .map_err(|e| s.err(&format!("{op} (C_GenerateKey)"), e))?;
        read_back(s, policy, Origin::Generated, label, id, h, None)
    } else {
        let pub_t = public_template(policy, label, id);
        let (pub_h, priv_h) = s
            .raw()
            .generate_key_pair(mech, &pub_t, priv_t)
            .map_err(|e| s.err(&format!("{op} (C_GenerateKeyPair)"), e))?;
        read_back(s, policy, Origin::Generated, label, id, priv_h, Some(pub_h))
    }
}

/// Reads back a key (secret, or private + public) and checks it against `policy` for a key of
/// `origin`. Any mismatch or missing attribute is a [`HsmError::ReadBack`].
pub fn read_back(
    s: &TokenSession,
    policy: &KeyPolicy,
    origin: Origin,
    label: &str,
    id: &[u8],
    key: ObjectHandle,
    public: Option<ObjectHandle>,
) -> Result<KeyEvidence, HsmError> {
    read_back_quirk(s, policy, origin, label, id, key, public, None)
}

/// [`read_back`] for a key unwrapped by a module with quirks `unwrapped`: one that reports
/// `CKA_VALUE_LEN` 0 for unwrapped secret keys and refuses it in the template
/// (`unwrapped_value_len_zero`: the row then expects "0"; the key check value still
/// identifies the key), or that does not return some attributes for unwrapped keys
/// (`unwrapped_omits`: those rows are not expected).
#[expect(clippy::too_many_arguments, reason = "each argument is a distinct input of the operation; a struct would only rename them")]
pub(crate) fn read_back_quirk(
    s: &TokenSession,
    policy: &KeyPolicy,
    origin: Origin,
    label: &str,
    id: &[u8],
    key: ObjectHandle,
    public: Option<ObjectHandle>,
    unwrapped: Option<&super::quirks::ModuleQuirks>,
) -> Result<KeyEvidence, HsmError> {
    let half = if policy.key.is_secret() {
        Half::Secret
    } else {
        Half::Private
    };
    let mut exp = expected(policy, half, origin);
    if let Some(q) = unwrapped {
        if q.unwrapped_value_len_zero && policy.key.is_secret() {
            for e in exp.iter_mut().filter(|e| e.name == "CKA_VALUE_LEN") {
                e.value = "0".into();
            }
        }
        exp.retain(|e| !q.unwrapped_omits.iter().any(|o| o == e.name));
    }
    read_back_expecting(s, policy, origin, label, id, key, public, exp)
}

/// [`read_back`] against an explicit list of expected attributes for the secret/private half
/// (the root KEK adds what its protection promises).
#[expect(clippy::too_many_arguments, reason = "each argument is a distinct input of the operation; a struct would only rename them")]
pub(crate) fn read_back_expecting(
    s: &TokenSession,
    policy: &KeyPolicy,
    origin: Origin,
    label: &str,
    id: &[u8],
    key: ObjectHandle,
    public: Option<ObjectHandle>,
    exp: Vec<Expected>,
) -> Result<KeyEvidence, HsmError> {
    let op = format!("reading back key \"{label}\" (C_GetAttributeValue)");
    let rows = attributes::read_and_compare(s.raw(), key, &exp).map_err(|e| s.err(&op, e))?;
    let mut all_failures = failures(&rows);
    let mut public_rows = None;
    let mut spki_sha256 = None;
    if let Some(p) = public {
        let prow =
            attributes::read_and_compare(s.raw(), p, &expected(policy, Half::Public, origin))
                .map_err(|e| s.err(&op, e))?;
        all_failures.extend(
            failures(&prow)
                .into_iter()
                .map(|f| format!("public key: {f}")),
        );
        public_rows = Some(prow);
        let spki = public_spki(s, policy.key, p)?;
        spki_sha256 = Some(hex::encode(crate::signer::spki_fingerprint(&spki)));
    }
    if !all_failures.is_empty() {
        return Err(HsmError::ReadBack {
            label: label.into(),
            token: s.name(),
            policy: policy.name.clone(),
            failures: all_failures.join("; "),
        });
    }
    let kcv = if policy.key.is_secret() {
        Some(if policy.has(Usage::Wrap) {
            kcv::wrapping_key_kcv(s, key)?
        } else if policy.has(Usage::Encrypt) {
            kcv::data_key_kcv(s, key)?
        } else {
            return Err(HsmError::PolicyInvalid {
                policy: policy.name.clone(),
                problem: "a secret key needs wrap or encrypt usage for its key check value".into(),
            });
        })
    } else {
        None
    };
    Ok(KeyEvidence {
        token: s.name(),
        label: label.into(),
        id: hex::encode(id),
        policy: policy.name.clone(),
        key: policy.key,
        origin,
        attributes: rows,
        public_attributes: public_rows,
        spki_sha256,
        kcv,
        key_protection: None,
        wrap_mechanism: None,
        weaker_policy: policy
            .without_trusted_keys
            .then(|| super::policy::WITHOUT_TRUSTED_KEYS.to_string()),
    })
}

/// The DER SPKI of a public-key object.
pub fn public_spki(
    s: &TokenSession,
    spec: KeySpec,
    public: ObjectHandle,
) -> Result<Vec<u8>, HsmError> {
    let op = "reading the public key (C_GetAttributeValue)";
    let malformed = |problem: &str| HsmError::Malformed {
        operation: op.into(),
        token: s.name(),
        problem: problem.into(),
    };
    match spec {
        KeySpec::Rsa3072 | KeySpec::Rsa4096 => {
            let a = s
                .raw()
                .get_attributes(
                    public,
                    &[AttributeType::Modulus, AttributeType::PublicExponent],
                )
                .map_err(|e| s.err(op, e))?;
            let (mut n, mut e) = (None, None);
            for x in a {
                match x {
                    Attribute::Modulus(v) => n = Some(v),
                    Attribute::PublicExponent(v) => e = Some(v),
                    _ => {}
                }
            }
            match (n, e) {
                (Some(n), Some(e)) => Ok(spki::rsa_spki(&n, &e)),
                _ => Err(malformed(
                    "the module did not return CKA_MODULUS and CKA_PUBLIC_EXPONENT",
                )),
            }
        }
        KeySpec::EcP256 | KeySpec::EcP384 | KeySpec::Ed25519 => {
            let a = s
                .raw()
                .get_attributes(public, &[AttributeType::EcPoint])
                .map_err(|e| s.err(op, e))?;
            let point = a
                .into_iter()
                .find_map(|x| match x {
                    Attribute::EcPoint(v) => Some(v),
                    _ => None,
                })
                .ok_or_else(|| malformed("the module did not return CKA_EC_POINT"))?;
            let raw = spki::ec_point_raw(&point)
                .ok_or_else(|| malformed("CKA_EC_POINT is not a DER OCTET STRING"))?;
            Ok(match spec {
                KeySpec::Ed25519 => spki::ed25519_spki(raw),
                _ => spki::ec_spki(spec.ec_params().unwrap_or_default(), raw),
            })
        }
        KeySpec::Aes256 => Err(malformed("an AES key has no public key")),
    }
}

/// The signing mechanism for a policy's key, for code that signs with generated keys.
pub fn sign_mechanism(spec: KeySpec) -> Option<Mechanism<'static>> {
    match spec {
        KeySpec::EcP256 | KeySpec::EcP384 => Some(Mechanism::Ecdsa),
        KeySpec::Ed25519 => Some(Mechanism::Eddsa(EddsaParams::new(
            EddsaSignatureScheme::Pure,
        ))),
        KeySpec::Rsa3072 | KeySpec::Rsa4096 => Some(Mechanism::Sha256RsaPkcs),
        KeySpec::Aes256 => None,
    }
}
