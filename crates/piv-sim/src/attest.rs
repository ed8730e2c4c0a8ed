//! YubiKey-style PIV attestation for the simulated card, under a **test** root CA.
//!
//! piv-authenticator answers the attest instruction with "function not supported", so a real
//! YubiKey's behaviour is reproduced here, around the applet:
//! - each card identity has an attestation key and certificate (PIV slot f9, object 5FFF01),
//!   created on first start, issued by the test CA given with `--attestation-ca`, and kept in
//!   the identity's state directory (`f9.key`, `f9.der`);
//! - when the applet generates a key, the public point and the PIN/touch policies of the
//!   command are remembered per slot (`attest-9c`, ...), because the applet does not keep
//!   policies (it does not enforce them either);
//! - attest (INS F9, P1 = slot) returns a certificate for that public key signed by the f9 key,
//!   with Yubico's extensions: firmware 1.3.6.1.4.1.41482.3.3, serial …3.7, PIN/touch policy
//!   …3.8, form factor …3.9.
//!
//! `--attestation-fault serial|key` makes the card lie (another serial, another key) so tests
//! can see the verifier refuse it. The CA is never Yubico's: `piv-sim make-ca DIR` creates one.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use der::asn1::{BitString, OctetString};
use der::{Decode, Encode};
use p256::ecdsa::{signature::Signer as _, DerSignature, SigningKey};
use p256::pkcs8::EncodePublicKey;
use rand_core::{OsRng, RngCore};
use x509_cert::ext::pkix::BasicConstraints;
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::time::Validity;
use x509_cert::{Certificate, TbsCertificate, Version};

use crate::card::CLAIMED_VERSION;

/// Yubico's extension OIDs (firmware, serial, policy, form factor).
const OID_FIRMWARE: &str = "1.3.6.1.4.1.41482.3.3";
const OID_SERIAL: &str = "1.3.6.1.4.1.41482.3.7";
const OID_POLICY: &str = "1.3.6.1.4.1.41482.3.8";
const OID_FORM_FACTOR: &str = "1.3.6.1.4.1.41482.3.9";
/// Form factor byte of a USB-A keychain YubiKey.
const FORM_FACTOR: u8 = 1;
/// Twenty years: long enough for any test run, short of the 2050 UTCTime limit.
const VALIDITY: Duration = Duration::from_secs(20 * 365 * 24 * 3600);

/// How the card misbehaves on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Attest the card's serial plus one.
    Serial,
    /// Attest a fresh key instead of the slot's.
    Key,
}

impl FromStr for Fault {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "serial" => Ok(Self::Serial),
            "key" => Ok(Self::Key),
            other => Err(format!(
                "--attestation-fault {other}: expected serial or key"
            )),
        }
    }
}

fn oid(s: &str) -> der::asn1::ObjectIdentifier {
    der::asn1::ObjectIdentifier::new_unwrap(s)
}

fn ecdsa_sha256() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: oid("1.2.840.10045.4.3.2"),
        parameters: None,
    }
}

fn err(what: &str) -> impl Fn(der::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

fn spki_of(key: &SigningKey) -> Result<Vec<u8>, String> {
    key.verifying_key()
        .to_public_key_der()
        .map(|d| d.as_bytes().to_vec())
        .map_err(|e| format!("public key: {e}"))
}

fn ext(id: &str, value: Vec<u8>, critical: bool) -> Result<Extension, String> {
    Ok(Extension {
        extn_id: oid(id),
        critical,
        extn_value: OctetString::new(value).map_err(err("extension"))?,
    })
}

/// A certificate for `spki_der`, issued by `issuer` with `issuer_key`. DER.
fn certificate(
    issuer: &Name,
    issuer_key: &SigningKey,
    subject: &Name,
    spki_der: &[u8],
    extensions: Vec<Extension>,
) -> Result<Vec<u8>, String> {
    let mut serial = [0u8; 16];
    OsRng.fill_bytes(&mut serial);
    serial[0] = (serial[0] & 0x7f) | 0x01;
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number: SerialNumber::new(&serial).map_err(err("serial"))?,
        signature: ecdsa_sha256(),
        issuer: issuer.clone(),
        validity: Validity::from_now(VALIDITY).map_err(err("validity"))?,
        subject: subject.clone(),
        subject_public_key_info: SubjectPublicKeyInfoOwned::from_der(spki_der)
            .map_err(err("public key"))?,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(extensions),
    };
    let sig: DerSignature = issuer_key.sign(&tbs.to_der().map_err(err("certificate"))?);
    Certificate {
        tbs_certificate: tbs,
        signature_algorithm: ecdsa_sha256(),
        signature: BitString::from_bytes(sig.as_bytes()).map_err(err("signature"))?,
    }
    .to_der()
    .map_err(err("certificate"))
}

fn ca_extensions() -> Result<Vec<Extension>, String> {
    let basic = BasicConstraints {
        ca: true,
        path_len_constraint: Some(1),
    };
    Ok(vec![ext(
        "2.5.29.19",
        basic.to_der().map_err(err("basic constraints"))?,
        true,
    )?])
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn write(path: &Path, data: &[u8]) -> Result<(), String> {
    std::fs::write(path, data).map_err(|e| format!("{}: {e}", path.display()))
}

fn load_key(path: &Path) -> Result<SigningKey, String> {
    SigningKey::from_slice(&read(path)?).map_err(|_| format!("{}: not a P-256 key", path.display()))
}

fn name_of(cert_der: &[u8], what: &Path) -> Result<Name, String> {
    Certificate::from_der(cert_der)
        .map(|c| c.tbs_certificate.subject)
        .map_err(|e| format!("{}: {e}", what.display()))
}

/// The test root CA in a directory: `ca.key` (raw P-256 scalar), `ca.der`, `ca.pem`.
pub struct TestCa {
    key: SigningKey,
    name: Name,
}

impl TestCa {
    /// Creates a CA named `CN=<cn>` in `dir` (refuses to overwrite one).
    pub fn create(dir: &Path, cn: &str) -> Result<(), String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        if dir.join("ca.key").exists() {
            return Err(format!("{} already holds a CA", dir.display()));
        }
        let key = SigningKey::random(&mut OsRng);
        let name = Name::from_str(&format!("CN={cn}")).map_err(err("name"))?;
        let cert = certificate(&name, &key, &name, &spki_of(&key)?, ca_extensions()?)?;
        let pem = der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &cert)
            .map_err(|e| format!("PEM: {e}"))?;
        write(&dir.join("ca.der"), &cert)?;
        write(&dir.join("ca.pem"), pem.as_bytes())?;
        write(&dir.join("ca.key"), &key.to_bytes())
    }

    /// Loads the CA in `dir`.
    pub fn load(dir: &Path) -> Result<Self, String> {
        let key = load_key(&dir.join("ca.key"))?;
        let cert_path = dir.join("ca.der");
        let name = name_of(&read(&cert_path)?, &cert_path)?;
        Ok(Self { key, name })
    }
}

/// A card identity's attestation: its f9 key and certificate, and what it remembers about the
/// keys the applet generated.
pub struct CardAttestation {
    state: PathBuf,
    serial: u32,
    fault: Option<Fault>,
    f9_key: SigningKey,
    f9_name: Name,
    f9_cert: Vec<u8>,
}

impl CardAttestation {
    /// Loads the identity's f9 key and certificate, creating them (issued by `ca`) on first use.
    pub fn load_or_create(
        state: &Path,
        ca: &TestCa,
        serial: u32,
        fault: Option<Fault>,
    ) -> Result<Self, String> {
        let (key_path, cert_path) = (state.join("f9.key"), state.join("f9.der"));
        if !key_path.exists() {
            let key = SigningKey::random(&mut OsRng);
            let name = Name::from_str(&format!("CN=piv-sim PIV Attestation {serial}"))
                .map_err(err("name"))?;
            let cert = certificate(&ca.name, &ca.key, &name, &spki_of(&key)?, ca_extensions()?)?;
            write(&cert_path, &cert)?;
            write(&key_path, &key.to_bytes())?;
        }
        let f9_cert = read(&cert_path)?;
        Ok(Self {
            state: state.to_path_buf(),
            serial,
            fault,
            f9_key: load_key(&key_path)?,
            f9_name: name_of(&f9_cert, &cert_path)?,
            f9_cert,
        })
    }

    /// The f9 certificate object as GET DATA returns it: `53 L { 70 L cert, 71 01 00, FE 00 }`.
    pub fn f9_object(&self) -> Vec<u8> {
        let mut inner = tlv(0x70, &self.f9_cert);
        inner.extend_from_slice(&[0x71, 0x01, 0x00, 0xFE, 0x00]);
        tlv(0x53, &inner)
    }

    fn slot_file(&self, slot: u8) -> PathBuf {
        self.state.join(format!("attest-{slot:02x}"))
    }

    /// Remembers a key the applet generated in `slot` from the GENERATE command's data and
    /// the applet's reply (`7F49 { 86 <point> }`).
    pub fn remember_generated(&self, slot: u8, command: &[u8], reply: &[u8]) -> Result<(), String> {
        let point = find_tlv(reply, &[0x7F49, 0x86]).ok_or("generate reply has no public point")?;
        let template = find_tlv(command, &[0xAC]).unwrap_or(&[]);
        // YubiKey defaults when the command names no policy: PIN always on 9c, once elsewhere;
        // touch never.
        let pin = match find_tlv(template, &[0xAA]) {
            Some([p]) if *p != 0 => *p,
            _ if slot == 0x9C => 3,
            _ => 2,
        };
        let touch = match find_tlv(template, &[0xAB]) {
            Some([t]) if *t != 0 => *t,
            _ => 1,
        };
        let mut record = vec![pin, touch];
        record.extend_from_slice(point);
        write(&self.slot_file(slot), &record)
    }

    /// The attestation certificate for `slot`, or `None` when no key was generated there.
    pub fn attest(&self, slot: u8) -> Result<Option<Vec<u8>>, String> {
        let Ok(record) = std::fs::read(self.slot_file(slot)) else {
            return Ok(None);
        };
        let [pin, touch, point @ ..] = record.as_slice() else {
            return Ok(None);
        };
        let public = match self.fault {
            Some(Fault::Key) => *SigningKey::random(&mut OsRng).verifying_key(),
            _ => p256::ecdsa::VerifyingKey::from_sec1_bytes(point)
                .map_err(|_| "remembered key is not a P-256 point".to_string())?,
        };
        let spki = public
            .to_public_key_der()
            .map_err(|e| format!("public key: {e}"))?;
        let serial = match self.fault {
            Some(Fault::Serial) => self.serial.wrapping_add(1),
            _ => self.serial,
        };
        let subject = Name::from_str(&format!("CN=YubiKey PIV Attestation {slot:02x}"))
            .map_err(err("name"))?;
        let extensions = vec![
            ext(OID_FIRMWARE, CLAIMED_VERSION.to_vec(), false)?,
            ext(OID_SERIAL, serial.to_der().map_err(err("serial"))?, false)?,
            ext(OID_POLICY, vec![*pin, *touch], false)?,
            ext(OID_FORM_FACTOR, vec![FORM_FACTOR], false)?,
        ];
        certificate(
            &self.f9_name,
            &self.f9_key,
            &subject,
            spki.as_bytes(),
            extensions,
        )
        .map(Some)
    }
}

/// A BER-TLV with a one-byte tag.
fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else if len <= 0xFF {
        out.extend_from_slice(&[0x81, len as u8]);
    } else {
        out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    }
    out.extend_from_slice(value);
    out
}

/// Reads one BER-TLV: (tag, value, rest). Tags of one or two bytes.
fn read_tlv(data: &[u8]) -> Option<(u16, &[u8], &[u8])> {
    let (&first, rest) = data.split_first()?;
    let (tag, rest) = if first & 0x1F == 0x1F {
        let (&second, rest) = rest.split_first()?;
        (u16::from_be_bytes([first, second]), rest)
    } else {
        (u16::from(first), rest)
    };
    let (&l0, rest) = rest.split_first()?;
    let (len, rest) = match l0 {
        0x81 => {
            let (&l, rest) = rest.split_first()?;
            (usize::from(l), rest)
        }
        0x82 => {
            let (l, rest) = rest.split_at_checked(2)?;
            (usize::from(u16::from_be_bytes([l[0], l[1]])), rest)
        }
        l if l < 0x80 => (usize::from(l), rest),
        _ => return None,
    };
    let (value, rest) = rest.split_at_checked(len)?;
    Some((tag, value, rest))
}

/// Follows a path of nested tags, each looked up among siblings.
fn find_tlv<'a>(mut data: &'a [u8], path: &[u16]) -> Option<&'a [u8]> {
    for want in path {
        let mut level = data;
        loop {
            let (tag, value, rest) = read_tlv(level)?;
            if tag == *want {
                data = value;
                break;
            }
            level = rest;
        }
    }
    Some(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tlv_paths_and_lengths() {
        let reply = [0x7F, 0x49, 0x05, 0x86, 0x03, 0x04, 0x01, 0x02];
        assert_eq!(find_tlv(&reply, &[0x7F49, 0x86]), Some(&[4u8, 1, 2][..]));
        let cmd = [
            0xAC, 0x09, 0x80, 0x01, 0x11, 0xAA, 0x01, 0x03, 0xAB, 0x01, 0x02,
        ];
        assert_eq!(find_tlv(&cmd, &[0xAC, 0xAB]), Some(&[2u8][..]));
        assert_eq!(find_tlv(&cmd, &[0xAC, 0xAD]), None);
        let long = vec![0u8; 300];
        let t = tlv(0x70, &long);
        assert_eq!(&t[..4], &[0x70, 0x82, 0x01, 0x2C]);
        assert_eq!(
            read_tlv(&t).map(|(tag, v, r)| (tag, v.len(), r.len())),
            Some((0x70, 300, 0))
        );
    }

    #[test]
    fn attests_remembered_key_with_yubico_extensions() {
        let dir = std::env::temp_dir().join(format!("piv-sim-attest-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        TestCa::create(&dir.join("ca"), "test root").unwrap();
        assert!(TestCa::create(&dir.join("ca"), "again").is_err());
        let ca = TestCa::load(&dir.join("ca")).unwrap();
        let card = CardAttestation::load_or_create(&dir, &ca, 1234, None).unwrap();
        assert_eq!(card.attest(0x9C).unwrap(), None);
        let key = SigningKey::random(&mut OsRng);
        let point = key.verifying_key().to_encoded_point(false);
        let mut reply = vec![0x7F, 0x49, 0x43, 0x86, 0x41];
        reply.extend_from_slice(point.as_bytes());
        let cmd = [
            0xAC, 0x09, 0x80, 0x01, 0x11, 0xAA, 0x01, 0x02, 0xAB, 0x01, 0x01,
        ];
        card.remember_generated(0x9D, &cmd, &reply).unwrap();
        let cert = Certificate::from_der(&card.attest(0x9D).unwrap().unwrap()).unwrap();
        let spki = key.verifying_key().to_public_key_der().unwrap();
        assert_eq!(
            cert.tbs_certificate
                .subject_public_key_info
                .to_der()
                .unwrap(),
            spki.as_bytes()
        );
        let exts = cert.tbs_certificate.extensions.unwrap();
        let value = |o: &str| {
            exts.iter()
                .find(|e| e.extn_id == oid(o))
                .map(|e| e.extn_value.as_bytes().to_vec())
        };
        assert_eq!(value(OID_FIRMWARE), Some(vec![5, 7, 1]));
        assert_eq!(value(OID_SERIAL), Some(vec![0x02, 0x02, 0x04, 0xD2]));
        assert_eq!(value(OID_POLICY), Some(vec![2, 1]));
        // The same f9 identity comes back on the next start.
        let again = CardAttestation::load_or_create(&dir, &ca, 1234, None).unwrap();
        assert_eq!(again.f9_cert, card.f9_cert);
        assert_eq!(&again.f9_object()[..2], &[0x53, 0x82]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
