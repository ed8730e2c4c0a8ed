//! Mutation test of the record verifier (issue 15): a real record, produced from a journal and
//! signed, is changed in every field of its CMS envelope and in ≥ 1,000 seeded-random ways
//! (byte changes, insertions, deletions, truncations, appended incremental updates); every
//! copy must be refused, and the verifier must not panic on any of them.
//!
//! Deterministic: a fixed seed and a software signer (no token), everything in-process.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_testkit::journal as ceremony;

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use const_oid::db::{rfc5911, rfc5912};
use der::asn1::{ObjectIdentifier, OctetString, SetOfVec};
use der::{Any, Decode, Encode};
use keyrite_core::journal::{Event, Journal};
use keyrite_core::pdf::PageSize;
use keyrite_core::record::{
    attach_file, check_record, produce_record, verify_pdf, Outcome, Rejection, Verdict,
};
use keyrite_core::signer::{Signer, SoftwareP384Signer};
use keyrite_core::store::StoreOptions;
use keyrite_core::x509::record_signing_certificate;
use sha2::{Digest, Sha256};
use x509_cert::attr::Attribute;
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;

struct Fx {
    _tmp: tempfile::TempDir,
    signer: SoftwareP384Signer,
    id: String,
    db: std::path::PathBuf,
    pdf: Vec<u8>,
    cert: Vec<u8>,
    other_cert: Vec<u8>,
    journal: Journal,
}

/// A record of a realistic ceremony (the shared test ceremony), signed by a software P-384 key.
fn fx() -> Fx {
    let tmp = tempfile::tempdir().unwrap();
    let signer = SoftwareP384Signer::generate();
    let now = std::time::SystemTime::now();
    let cert = record_signing_certificate(&signer, "Lab West", now).unwrap();
    let other = SoftwareP384Signer::generate();
    let other_cert = record_signing_certificate(&other, "Elsewhere", now).unwrap();
    let db = tmp.path().join("j.db");
    let mut journal = Journal::open(&db, &StoreOptions::default()).unwrap();
    let fp = hex::encode(keyrite_core::signer::spki_fingerprint(
        &signer.public_key_spki().unwrap(),
    ));
    let cer = ceremony::write(
        &mut journal,
        "CER-2026-0015",
        4,
        serde_json::json!({"key_type": "EC", "attributes": []}),
        &fp,
    );
    journal.checkpoint(&signer).unwrap();
    let pdf = produce_record(&journal, &cer.id, &signer, &cert, PageSize::A4).unwrap();
    Fx {
        _tmp: tmp,
        signer,
        id: cer.id,
        db,
        pdf,
        cert,
        other_cert,
        journal,
    }
}

/// `[0, a, b, c]` of the record's only signature, read from its text.
fn byte_range(pdf: &[u8]) -> [usize; 4] {
    let key = b"/ByteRange";
    let at = pdf
        .windows(key.len())
        .rposition(|w| w == key)
        .expect("a ByteRange");
    let open = at + pdf[at..].iter().position(|&b| b == b'[').unwrap();
    let close = open + pdf[open..].iter().position(|&b| b == b']').unwrap();
    let text = std::str::from_utf8(&pdf[open + 1..close]).unwrap();
    let v: Vec<usize> = text
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    [v[0], v[1], v[2], v[3]]
}

/// The DER CMS in the record's `/Contents`.
fn cms_der(pdf: &[u8]) -> Vec<u8> {
    let [_, a, b, _] = byte_range(pdf);
    let bytes = hex::decode(&pdf[a + 1..b - 1]).unwrap();
    let len = {
        use der::Reader;
        let mut r = der::SliceReader::new(&bytes).unwrap();
        let h = der::Header::decode(&mut r).unwrap();
        usize::try_from((r.position() + h.length).unwrap()).unwrap()
    };
    bytes[..len].to_vec()
}

/// The record with `der` written into its `/Contents` (uppercase hex, zero padded), the rest
/// of the file untouched: the attacker's copy.
fn with_cms(pdf: &[u8], der: &[u8]) -> Vec<u8> {
    let [_, a, b, _] = byte_range(pdf);
    let width = b - a - 2;
    let mut hex = hex::encode_upper(der).into_bytes();
    assert!(
        hex.len() <= width,
        "the mutated CMS fits the reserved space"
    );
    hex.resize(width, b'0');
    let mut out = pdf.to_vec();
    out[a + 1..b - 1].copy_from_slice(&hex);
    out
}

fn parts(der: &[u8]) -> (ContentInfo, SignedData) {
    let ci = ContentInfo::from_der(der).unwrap();
    let sd: SignedData = ci.content.decode_as().unwrap();
    (ci, sd)
}

fn encode(sd: &SignedData) -> Vec<u8> {
    ContentInfo {
        content_type: rfc5911::ID_SIGNED_DATA,
        content: Any::encode_from(sd).unwrap(),
    }
    .to_der()
    .unwrap()
}

/// A SignedData whose only SignerInfo is changed by `f`.
fn with_si(sd: &SignedData, f: impl FnOnce(&mut SignerInfo)) -> SignedData {
    let mut sd = sd.clone();
    let mut si = sd.signer_infos.0.as_slice()[0].clone();
    f(&mut si);
    sd.signer_infos = cms::signed_data::SignerInfos(SetOfVec::try_from(vec![si]).unwrap());
    sd
}

fn attrs(si: &SignerInfo) -> Vec<Attribute> {
    si.signed_attrs.as_ref().unwrap().iter().cloned().collect()
}

/// The SignedData with its SignerInfo's signed attributes replaced by `f(attributes)`.
fn with_attrs(sd: &SignedData, f: impl FnOnce(&mut Vec<Attribute>)) -> SignedData {
    with_si(sd, |si| {
        let mut a = attrs(si);
        f(&mut a);
        si.signed_attrs = Some(SetOfVec::try_from(a).unwrap());
    })
}

fn set_attr(a: &mut [Attribute], oid: ObjectIdentifier, value: Any) {
    let at = a.iter_mut().find(|x| x.oid == oid).unwrap();
    at.values = SetOfVec::try_from(vec![value]).unwrap();
}

fn alg(oid: ObjectIdentifier, null_params: bool) -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid,
        parameters: null_params.then(|| Any::from(der::asn1::Null)),
    }
}

/// The mirror (r, n − s) of a DER P-384 signature: valid too, but high-s.
fn mirror(sig: &[u8]) -> Vec<u8> {
    let s = p384::ecdsa::Signature::from_der(sig).unwrap();
    let (r, s) = s.split_scalars();
    p384::ecdsa::Signature::from_scalars(r, -*s)
        .unwrap()
        .to_der()
        .as_bytes()
        .to_vec()
}

/// Every named change of the CMS envelope, with the exact verdict it must get.
fn envelope_mutations(f: &Fx) -> Vec<(&'static str, Vec<u8>, String)> {
    let der = cms_der(&f.pdf);
    let (ci, sd) = parts(&der);
    let si = sd.signer_infos.0.as_slice()[0].clone();
    let cert = Certificate::from_der(&f.cert).unwrap();
    let other = Certificate::from_der(&f.other_cert).unwrap();
    let env =
        |m: &str| format!("the signature's CMS envelope is not exactly what Keyrite writes: {m}");
    let mut v: Vec<(&'static str, Vec<u8>, String)> = Vec::new();
    let mut add = |name, sd: SignedData, want: String| v.push((name, encode(&sd), want));

    // Versions.
    let mut m = sd.clone();
    m.version = CmsVersion::V3;
    add(
        "SignedData.version v3",
        m,
        env("SignedData.version is v3 instead of v1"),
    );
    let mut m = sd.clone();
    m.version = CmsVersion::V0;
    add(
        "SignedData.version v0",
        m,
        env("SignedData.version is v0 instead of v1"),
    );
    add(
        "SignerInfo.version v3",
        with_si(&sd, |si| si.version = CmsVersion::V3),
        env("SignerInfo.version is v3 instead of v1"),
    );
    // Digest-algorithms set: emptied, changed, extended, with parameters.
    let want_set = |have: &str| {
        env(&format!(
            "SignedData.digestAlgorithms is [{have}] instead of exactly [2.16.840.1.101.3.4.2.2] without parameters"
        ))
    };
    let mut m = sd.clone();
    m.digest_algorithms = SetOfVec::new();
    add("digestAlgorithms emptied", m, want_set(""));
    let mut m = sd.clone();
    m.digest_algorithms = SetOfVec::try_from(vec![alg(rfc5912::ID_SHA_256, false)]).unwrap();
    add(
        "digestAlgorithms changed",
        m,
        want_set("2.16.840.1.101.3.4.2.1"),
    );
    let mut m = sd.clone();
    m.digest_algorithms = SetOfVec::try_from(vec![
        alg(rfc5912::ID_SHA_384, false),
        alg(rfc5912::ID_SHA_256, false),
    ])
    .unwrap();
    add(
        "digestAlgorithms extended",
        m,
        want_set("2.16.840.1.101.3.4.2.1, 2.16.840.1.101.3.4.2.2"),
    );
    let mut m = sd.clone();
    m.digest_algorithms = SetOfVec::try_from(vec![alg(rfc5912::ID_SHA_384, true)]).unwrap();
    add(
        "digestAlgorithms with NULL parameters",
        m,
        want_set("2.16.840.1.101.3.4.2.2 with parameters"),
    );
    // Algorithm identifiers of the SignerInfo.
    add(
        "SignerInfo.digestAlgorithm changed",
        with_si(&sd, |si| si.digest_alg = alg(rfc5912::ID_SHA_512, false)),
        env("SignerInfo.digestAlgorithm is 2.16.840.1.101.3.4.2.3 instead of 2.16.840.1.101.3.4.2.2 without parameters"),
    );
    add(
        "SignerInfo.digestAlgorithm with NULL parameters",
        with_si(&sd, |si| si.digest_alg = alg(rfc5912::ID_SHA_384, true)),
        env("SignerInfo.digestAlgorithm is 2.16.840.1.101.3.4.2.2 with parameters instead of 2.16.840.1.101.3.4.2.2 without parameters"),
    );
    add(
        "SignerInfo.signatureAlgorithm changed",
        with_si(&sd, |si| si.signature_algorithm = alg(rfc5912::ECDSA_WITH_SHA_256, false)),
        env("SignerInfo.signatureAlgorithm is 1.2.840.10045.4.3.2 instead of 1.2.840.10045.4.3.3 without parameters"),
    );
    add(
        "SignerInfo.signatureAlgorithm with NULL parameters",
        with_si(&sd, |si| si.signature_algorithm = alg(rfc5912::ECDSA_WITH_SHA_384, true)),
        env("SignerInfo.signatureAlgorithm is 1.2.840.10045.4.3.3 with parameters instead of 1.2.840.10045.4.3.3 without parameters"),
    );
    // Unsigned attributes: any, and a counter-signature.
    let some_attr = Attribute {
        oid: rfc5911::ID_SIGNING_TIME,
        values: attrs(&si)
            .into_iter()
            .find(|a| a.oid == rfc5911::ID_SIGNING_TIME)
            .unwrap()
            .values,
    };
    let unsigned =
        env("SignerInfo.unsignedAttrs is present (e.g. a counter-signature); Keyrite writes none");
    add(
        "unsigned attribute added",
        with_si(&sd, |si| {
            si.unsigned_attrs = Some(SetOfVec::try_from(vec![some_attr.clone()]).unwrap())
        }),
        unsigned.clone(),
    );
    let counter = Attribute {
        oid: rfc5911::ID_COUNTERSIGNATURE,
        values: SetOfVec::try_from(vec![Any::encode_from(&si).unwrap()]).unwrap(),
    };
    add(
        "counter-signature added",
        with_si(&sd, |si| {
            si.unsigned_attrs = Some(SetOfVec::try_from(vec![counter.clone()]).unwrap())
        }),
        unsigned.clone(),
    );
    // Certificates: an extra one, none, another one, a changed one.
    let certs = env("SignedData.certificates holds 2 certificates instead of exactly the signer's");
    let mut m = sd.clone();
    m.certificates = Some(cms::signed_data::CertificateSet(
        SetOfVec::try_from(vec![
            CertificateChoices::Certificate(cert.clone()),
            CertificateChoices::Certificate(other.clone()),
        ])
        .unwrap(),
    ));
    add("extra unrelated certificate", m, certs);
    let mut m = sd.clone();
    m.certificates = None;
    add(
        "certificates removed",
        m,
        env("SignedData.certificates holds 0 certificates instead of exactly the signer's"),
    );
    let mut m = sd.clone();
    m.certificates = Some(cms::signed_data::CertificateSet(
        SetOfVec::try_from(vec![CertificateChoices::Certificate(other.clone())]).unwrap(),
    ));
    add(
        "certificate replaced by another key's",
        m,
        env("SignerInfo.sid does not name the embedded certificate (issuer and serial number differ)"),
    );
    let mut changed = cert.clone();
    {
        // One bit of the certificate's own signature: still a certificate, other bytes.
        let mut sig = changed.signature.raw_bytes().to_vec();
        let last = sig.len() - 1;
        sig[last] ^= 1;
        changed.signature = der::asn1::BitString::from_bytes(&sig).unwrap();
    }
    let mut m = sd.clone();
    m.certificates = Some(cms::signed_data::CertificateSet(
        SetOfVec::try_from(vec![CertificateChoices::Certificate(changed)]).unwrap(),
    ));
    add(
        "certificate bytes changed",
        m,
        env("signed attribute signing-certificate-v2 does not name exactly the embedded certificate"),
    );
    // CRLs.
    let mut m = sd.clone();
    m.crls = Some(cms::revocation::RevocationInfoChoices(
        SetOfVec::try_from(vec![cms::revocation::RevocationInfoChoice::Other(
            cms::revocation::OtherRevocationInfoFormat {
                other_format: alg(rfc5911::ID_DATA, false),
                other: Any::from(der::asn1::Null),
            },
        )])
        .unwrap(),
    ));
    add(
        "CRLs added",
        m,
        env("SignedData.crls is present; Keyrite writes none"),
    );
    // Signer identifier.
    add(
        "sid by subjectKeyIdentifier",
        with_si(&sd, |si| {
            si.sid = SignerIdentifier::SubjectKeyIdentifier(
                x509_cert::ext::pkix::SubjectKeyIdentifier(OctetString::new(vec![7; 20]).unwrap()),
            )
        }),
        env("SignerInfo.sid is a subjectKeyIdentifier instead of issuerAndSerialNumber"),
    );
    add(
        "sid serial changed",
        with_si(&sd, |si| {
            si.sid = SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
                issuer: cert.tbs_certificate.issuer.clone(),
                serial_number: x509_cert::serial_number::SerialNumber::new(&[1, 2, 3]).unwrap(),
            })
        }),
        env("SignerInfo.sid does not name the embedded certificate (issuer and serial number differ)"),
    );
    add(
        "sid issuer changed",
        with_si(&sd, |si| {
            si.sid = SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
                issuer: other.tbs_certificate.issuer.clone(),
                serial_number: cert.tbs_certificate.serial_number.clone(),
            })
        }),
        env("SignerInfo.sid does not name the embedded certificate (issuer and serial number differ)"),
    );
    // Content types.
    let mut m = sd.clone();
    m.encap_content_info.econtent_type = rfc5911::ID_SIGNED_DATA;
    add(
        "eContentType changed",
        m,
        env("encapContentInfo.eContentType is 1.2.840.113549.1.7.2 instead of id-data"),
    );
    let mut m = sd.clone();
    m.encap_content_info.econtent =
        Some(Any::encode_from(&OctetString::new(vec![1]).unwrap()).unwrap());
    add(
        "eContent added",
        m,
        env("encapContentInfo has an eContent: the signature must be detached"),
    );
    // Signature value: mirrored, flipped, removed.
    let sig = si.signature.as_bytes().to_vec();
    add(
        "signature mirrored (r, n-s)",
        with_si(&sd, |si| si.signature = OctetString::new(mirror(&sig)).unwrap()),
        env("SignerInfo.signature is not a DER ECDSA signature in low-s form (s ≤ n/2), the only form Keyrite writes"),
    );
    let mut flipped = sig.clone();
    let n = flipped.len();
    flipped[n - 2] ^= 0x10;
    add(
        "signature byte flipped",
        with_si(&sd, |si| si.signature = OctetString::new(flipped.clone()).unwrap()),
        "the signature does not verify with the embedded certificate's key: the signature or its attributes were altered".into(),
    );
    add(
        "signature emptied",
        with_si(&sd, |si| si.signature = OctetString::new(Vec::<u8>::new()).unwrap()),
        env("SignerInfo.signature is not a DER ECDSA signature in low-s form (s ≤ n/2), the only form Keyrite writes"),
    );
    // Signed attributes: each value, extra, missing, two values.
    add(
        "content-type attribute changed",
        with_attrs(&sd, |a| {
            set_attr(
                a,
                rfc5911::ID_CONTENT_TYPE,
                Any::from(&rfc5911::ID_SIGNED_DATA),
            )
        }),
        env("signed attribute content-type is not id-data"),
    );
    add(
        "message-digest attribute changed",
        with_attrs(&sd, |a| {
            set_attr(a, rfc5911::ID_MESSAGE_DIGEST, Any::encode_from(&OctetString::new(vec![0u8; 48]).unwrap()).unwrap())
        }),
        "the PDF was modified after signing: the digest of the signed bytes does not match the signature".into(),
    );
    add(
        "signing-time attribute changed",
        with_attrs(&sd, |a| {
            let t = der::asn1::UtcTime::from_unix_duration(std::time::Duration::from_secs(1_700_000_000)).unwrap();
            set_attr(a, rfc5911::ID_SIGNING_TIME, Any::encode_from(&x509_cert::time::Time::UtcTime(t)).unwrap())
        }),
        "the signature does not verify with the embedded certificate's key: the signature or its attributes were altered".into(),
    );
    add(
        "signing-time as GeneralizedTime",
        with_attrs(&sd, |a| {
            let t = der::asn1::GeneralizedTime::from_unix_duration(std::time::Duration::from_secs(
                1_700_000_000,
            ))
            .unwrap();
            set_attr(
                a,
                rfc5911::ID_SIGNING_TIME,
                Any::encode_from(&x509_cert::time::Time::GeneralTime(t)).unwrap(),
            )
        }),
        env("SignerInfo.signedAttrs are not encoded exactly as Keyrite writes them"),
    );
    add(
        "signing-certificate-v2 changed",
        with_attrs(&sd, |a| {
            let other_hash = {
                use sha2::Digest;
                sha2::Sha256::digest(&f.other_cert).to_vec()
            };
            // SEQUENCE { SEQUENCE OF { SEQUENCE { OCTET STRING hash } } }
            let ess = [
                vec![0x30, 0x26, 0x30, 0x24, 0x30, 0x22, 0x04, 0x20],
                other_hash,
            ]
            .concat();
            set_attr(a, rfc5911::ID_AA_SIGNING_CERTIFICATE_V_2, Any::from_der(&ess).unwrap())
        }),
        env("signed attribute signing-certificate-v2 does not name exactly the embedded certificate"),
    );
    add(
        "extra signed attribute",
        with_attrs(&sd, |a| {
            a.push(Attribute {
                oid: ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.52"),
                values: SetOfVec::try_from(vec![Any::from(der::asn1::Null)]).unwrap(),
            })
        }),
        env("signed attribute 1.2.840.113549.1.9.52 is not one Keyrite writes"),
    );
    add(
        "signing-time attribute removed",
        with_attrs(&sd, |a| a.retain(|x| x.oid != rfc5911::ID_SIGNING_TIME)),
        env("signed attribute signing-time is missing"),
    );
    add(
        "content-type attribute with two values",
        with_attrs(&sd, |a| {
            let at = a
                .iter_mut()
                .find(|x| x.oid == rfc5911::ID_CONTENT_TYPE)
                .unwrap();
            at.values = SetOfVec::try_from(vec![
                Any::from(&rfc5911::ID_DATA),
                Any::from(&rfc5911::ID_SIGNED_DATA),
            ])
            .unwrap();
        }),
        env("signed attribute content-type has 2 values instead of 1"),
    );
    add(
        "signed attributes removed",
        with_si(&sd, |si| si.signed_attrs = None),
        env("SignerInfo.signedAttrs is missing"),
    );
    // Signer infos: none, two.
    let mut m = sd.clone();
    m.signer_infos = cms::signed_data::SignerInfos(SetOfVec::new());
    add(
        "no SignerInfo",
        m,
        env("SignedData.signerInfos holds 0 SignerInfos instead of exactly 1"),
    );
    let mut m = sd.clone();
    let mut second = si.clone();
    second.signature = OctetString::new(mirror(&sig)).unwrap();
    m.signer_infos =
        cms::signed_data::SignerInfos(SetOfVec::try_from(vec![si.clone(), second]).unwrap());
    add(
        "second SignerInfo",
        m,
        env("SignedData.signerInfos holds 2 SignerInfos instead of exactly 1"),
    );

    // Outside SignedData: the ContentInfo's type, and encodings of the same values.
    let mut ci2 = ci.clone();
    ci2.content_type = rfc5911::ID_DATA;
    v.push((
        "ContentInfo.contentType changed",
        ci2.to_der().unwrap(),
        env("ContentInfo.contentType is 1.2.840.113549.1.7.1 instead of signed-data (1.2.840.113549.1.7.2)"),
    ));
    // Long-form length of the outer SEQUENCE: BER, same values.
    let body = &der[4..];
    assert_eq!(der[0..2], [0x30, 0x82], "the CMS is over 255 bytes");
    let mut ber = vec![0x30, 0x83, 0x00];
    ber.extend_from_slice(&der[2..4]);
    ber.extend_from_slice(body);
    v.push((
        "outer length in non-minimal form",
        ber,
        "the signature is malformed: the /Contents is not DER: incorrect length for SEQUENCE"
            .into(),
    ));
    v
}

fn verdict(pdf: &[u8], cert: &[u8]) -> Result<(), String> {
    match verify_pdf(pdf, Some(cert)) {
        Verdict::Valid(_) => Ok(()),
        Verdict::Rejected(r) => Err(r.to_string()),
    }
}

#[test]
fn every_change_of_the_cms_envelope_is_refused_with_its_field() {
    let f = fx();
    verdict(&f.pdf, &f.cert).expect("the genuine record verifies");
    assert!(check_record(&f.pdf, Some(&f.cert), Some(&f.journal)).is_valid());
    let cases = envelope_mutations(&f);
    assert!(cases.len() >= 35, "{} cases", cases.len());
    let mut wrong = Vec::new();
    for (name, der, want) in &cases {
        assert_ne!(der, &cms_der(&f.pdf), "{name} changes the CMS");
        let copy = with_cms(&f.pdf, der);
        match verdict(&copy, &f.cert) {
            Ok(()) => wrong.push(format!("{name}: ACCEPTED")),
            Err(got) if &got != want => wrong.push(format!("{name}:\n  got  {got}\n  want {want}")),
            Err(_) => {}
        }
        // Without a pinned certificate the envelope is just as strict.
        assert!(
            !verify_pdf(&copy, None).is_valid(),
            "{name} without --trust"
        );
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_contents_string_admits_one_spelling() {
    let f = fx();
    let [_, a, b, _] = byte_range(&f.pdf);
    let der = cms_der(&f.pdf);
    let hex_end = a + 1 + 2 * der.len();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "lowercase hex",
            {
                let mut p = f.pdf.clone();
                p[a + 1..hex_end].make_ascii_lowercase();
                p
            },
            "the signature is malformed: the /Contents string is not uppercase hexadecimal",
        ),
        (
            "data in the padding",
            {
                let mut p = f.pdf.clone();
                p[hex_end + 10] = b'1';
                p
            },
            "the signature is malformed: the /Contents has data after the CMS signature",
        ),
        (
            "padding with spaces",
            {
                let mut p = f.pdf.clone();
                p[b - 3] = b' ';
                p
            },
            "the signature is malformed: the /Contents string is not uppercase hexadecimal",
        ),
    ];
    for (name, copy, want) in cases {
        assert_eq!(verdict(&copy, &f.cert).unwrap_err(), want, "{name}");
    }
}

/// SplitMix64: a tiny deterministic generator, so the same copies are tried on every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn a_thousand_random_changes_of_the_file_are_all_refused() {
    let f = fx();
    let pdf = &f.pdf;
    let [_, a, b, _] = byte_range(pdf);
    let mut rng = Rng(0x6b65_7972_6974_6515);
    // An incremental update a PDF tool would append: another attachment.
    let appended_update = attach_file(pdf, "note.txt", "text/plain", b"added later").unwrap();
    assert!(appended_update.starts_with(pdf));
    let mut kinds = std::collections::BTreeMap::<&str, usize>::new();
    let mut accepted = Vec::new();
    let rounds = 1200;
    for i in 0..rounds {
        // Half the changes land in the unsigned /Contents gap, where a forger would aim.
        let pos = |rng: &mut Rng| {
            if rng.below(2) == 0 {
                a + rng.below(b - a)
            } else {
                rng.below(pdf.len())
            }
        };
        let (kind, copy) = match i % 6 {
            0 | 1 => {
                let mut c = pdf.clone();
                let p = pos(&mut rng);
                let old = c[p];
                // A hex digit in the gap half the time (a subtle change), else any byte.
                c[p] = if rng.below(2) == 0 {
                    b"0123456789ABCDEF"[rng.below(16)]
                } else {
                    rng.next() as u8
                };
                if c[p] == old {
                    c[p] = old ^ 1;
                }
                ("byte changed", c)
            }
            2 => {
                let mut c = pdf.clone();
                let p = pos(&mut rng);
                let n = 1 + rng.below(4);
                for _ in 0..n {
                    c.insert(p, b"0 A\n%"[rng.below(5)]);
                }
                ("bytes inserted", c)
            }
            3 => {
                let mut c = pdf.clone();
                let p = pos(&mut rng);
                let n = 1 + rng.below(4).min(c.len() - p - 1);
                c.drain(p..p + n);
                ("bytes deleted", c)
            }
            4 => ("truncated", pdf[..rng.below(pdf.len())].to_vec()),
            _ => {
                let c = match rng.below(3) {
                    0 => appended_update.clone(),
                    1 => [pdf.as_slice(), b"\n%comment\n"].concat(),
                    _ => {
                        // The same update, then the file's own trailer text again.
                        let tail = &pdf[pdf.len() - 1 - rng.below(200)..];
                        [pdf.as_slice(), tail].concat()
                    }
                };
                ("update appended", c)
            }
        };
        assert_ne!(&copy, pdf);
        *kinds.entry(kind).or_default() += 1;
        // Never panics (the test would abort), never accepts. Unpinned verification runs the
        // same checks but the pin comparison; trying every eighth copy that way keeps it fast.
        if verify_pdf(&copy, Some(&f.cert)).is_valid()
            || (i % 8 == 0 && verify_pdf(&copy, None).is_valid())
        {
            accepted.push(format!("copy {i} ({kind})"));
        }
    }
    assert!(accepted.is_empty(), "accepted copies: {accepted:?}");
    assert_eq!(kinds.values().sum::<usize>(), rounds);
    assert!(kinds.values().all(|&n| n >= 150), "{kinds:?}");
}

/// The rejection type is exhaustive over what the mutation finds: a panic would abort above.
#[allow(
    dead_code,
    reason = "shared by several test binaries; each uses a part"
)]
fn _rejection_is_used(r: Rejection) -> String {
    r.to_string()
}

fn journal_line(r: &keyrite_core::record::RecordReport) -> (Outcome, String) {
    let l = r.lines.iter().find(|l| l.check == "journal").unwrap();
    (l.outcome, l.detail.clone())
}

fn reopen(f: &Fx) -> Journal {
    Journal::open_read_only(&f.db, &StoreOptions::default()).unwrap()
}

#[test]
fn with_a_journal_the_file_must_be_the_one_journaled_at_record_produced() {
    let mut f = fx();
    let genuine_sha = hex::encode(Sha256::digest(&f.pdf));
    // Before the ceremony journals the file, the hash cannot be compared, and says so.
    let r = check_record(&f.pdf, Some(&f.cert), Some(&f.journal));
    assert_eq!(
        journal_line(&r),
        (
            Outcome::Pass,
            format!(
                "the journal ({} entries) holds the ceremony's entries {} to {} under the record's checkpoint and rebuilds the same transcript; no record_produced entry names ceremony {}, so the file's SHA-256 was not compared",
                f.journal.head().size,
                f.journal.ceremony_start(&f.id).unwrap().unwrap(),
                r.transcript.as_ref().unwrap().checkpoint.size - 1,
                f.id
            )
        )
    );
    let seq = f
        .journal
        .append(Event::RecordProduced {
            ceremony_id: f.id.clone(),
            record_sha256: genuine_sha.clone(),
            pages: 4,
        })
        .unwrap()
        .seq;
    let r = check_record(&f.pdf, Some(&f.cert), Some(&f.journal));
    assert!(r.is_valid(), "{:#?}", r.lines);
    assert!(
        journal_line(&r).1.ends_with(&format!(
            "; the file's SHA-256 is the one journaled at record_produced (entry {seq})"
        )),
        "{}",
        journal_line(&r).1
    );
    // A second, validly signed copy of the same transcript, laid out on Letter paper (records
    // are reproducible, so the same inputs would give the same bytes): its signature is fine,
    // but it is not the file the ceremony produced.
    let other = produce_record(&f.journal, &f.id, &f.signer, &f.cert, PageSize::Letter).unwrap();
    assert!(
        other != f.pdf,
        "the Letter copy must differ from the A4 record"
    );
    assert!(verify_pdf(&other, Some(&f.cert)).is_valid());
    let r = check_record(&other, Some(&f.cert), Some(&f.journal));
    let other_sha = hex::encode(Sha256::digest(&other));
    assert_eq!(
        journal_line(&r),
        (
            Outcome::Fail,
            format!(
                "the file's SHA-256 {other_sha} is not the one journaled for ceremony {} at record_produced (entry {seq}: {genuine_sha}): this file is not the record the ceremony produced",
                f.id
            )
        )
    );
    assert!(!r.is_valid());
    assert!(r.verdict().starts_with("INVALID: the file's SHA-256"));
}

#[test]
fn an_emptied_stored_checkpoint_table_is_named_not_blamed_on_the_record() {
    let f = fx();
    let size = f.journal.head().size - 1;
    rusqlite::Connection::open(&f.db)
        .unwrap()
        .execute("DELETE FROM journal_checkpoint", [])
        .unwrap();
    let j = reopen(&f);
    let r = check_record(&f.pdf, Some(&f.cert), Some(&j));
    assert!(r.is_valid(), "{:#?}", r.lines);
    assert!(
        journal_line(&r).1.ends_with(&format!(
            "; note: the journal's stored-checkpoint table holds no copy of the checkpoint of {size} entries (the table was emptied or that row deleted), so the record's own signed checkpoint was used"
        )),
        "{}",
        journal_line(&r).1
    );
    // A dropped table reads the same.
    rusqlite::Connection::open(&f.db)
        .unwrap()
        .execute("DROP TABLE journal_checkpoint", [])
        .unwrap();
    let r = check_record(&f.pdf, Some(&f.cert), Some(&reopen(&f)));
    assert!(r.is_valid(), "{:#?}", r.lines);
}

#[test]
fn a_replaced_stored_checkpoint_is_reported() {
    let f = fx();
    let size = f.journal.head().size - 1;
    // A genuine checkpoint of the same head, signed again a second later: not the record's.
    let t = check_record(&f.pdf, None, None).transcript.unwrap();
    let mine = keyrite_core::journal::Checkpoint::parse(&t.checkpoint.text).unwrap();
    let cp = keyrite_core::journal::Checkpoint::sign(
        f.journal.origin(),
        keyrite_core::journal::TreeHead {
            size,
            root: mine.root,
        },
        keyrite_core::journal::UtcTime(mine.time.0 + 1000),
        &f.signer,
    )
    .unwrap();
    rusqlite::Connection::open(&f.db)
        .unwrap()
        .execute(
            "UPDATE journal_checkpoint SET text = ?1 WHERE size = ?2",
            rusqlite::params![cp.to_text(), size as i64],
        )
        .unwrap();
    let r = check_record(&f.pdf, Some(&f.cert), Some(&reopen(&f)));
    assert_eq!(
        journal_line(&r),
        (
            Outcome::Fail,
            format!("the journal's stored checkpoint of {size} entries is not the one in the record: the journal's stored-checkpoint table was altered")
        )
    );
}
