//! DER SubjectPublicKeyInfo from a token's public-key attributes, for the SPKI fingerprint.
//!
//! A few lines of DER writing instead of another dependency: the structures are fixed
//! (RFC 5480 for EC, RFC 8410 for Ed25519, RFC 8017/3279 for RSA).

fn len(n: usize, out: &mut Vec<u8>) {
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes: Vec<u8> = n
            .to_be_bytes()
            .iter()
            .copied()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
}

/// One DER TLV.
pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    len(content.len(), &mut out);
    out.extend_from_slice(content);
    out
}

/// A DER INTEGER from unsigned big-endian bytes.
pub fn uint(bytes: &[u8]) -> Vec<u8> {
    let trimmed: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
    let mut c = Vec::with_capacity(trimmed.len() + 1);
    if trimmed.first().is_none_or(|b| b & 0x80 != 0) {
        c.push(0);
    }
    c.extend(trimmed);
    tlv(0x02, &c)
}

fn bit_string(bytes: &[u8]) -> Vec<u8> {
    let mut c = vec![0u8];
    c.extend_from_slice(bytes);
    tlv(0x03, &c)
}

/// Unwraps `CKA_EC_POINT`'s DER OCTET STRING (SoftHSM and most modules wrap the point).
pub fn ec_point_raw(ec_point: &[u8]) -> Option<&[u8]> {
    match ec_point {
        [0x04, l, rest @ ..] if (*l as usize) == rest.len() && *l < 0x80 => Some(rest),
        [0x04, 0x81, l, rest @ ..] if (*l as usize) == rest.len() => Some(rest),
        _ => None,
    }
}

/// SPKI of an EC (P-256/P-384) key: `params` is the named-curve OID TLV.
pub fn ec_spki(params: &[u8], point: &[u8]) -> Vec<u8> {
    // 1.2.840.10045.2.1 id-ecPublicKey
    let mut alg = tlv(0x06, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01]);
    alg.extend_from_slice(params);
    let mut c = tlv(0x30, &alg);
    c.extend(bit_string(point));
    tlv(0x30, &c)
}

/// SPKI of an Ed25519 key.
pub fn ed25519_spki(point: &[u8]) -> Vec<u8> {
    let mut c = tlv(0x30, &tlv(0x06, &[0x2b, 0x65, 0x70]));
    c.extend(bit_string(point));
    tlv(0x30, &c)
}

/// SPKI of an RSA key.
pub fn rsa_spki(modulus: &[u8], exponent: &[u8]) -> Vec<u8> {
    let mut alg = tlv(
        0x06,
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01],
    );
    alg.extend([0x05, 0x00]);
    let mut key = uint(modulus);
    key.extend(uint(exponent));
    let mut c = tlv(0x30, &alg);
    c.extend(bit_string(&tlv(0x30, &key)));
    tlv(0x30, &c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ec_spki_matches_p384_crate() {
        use p384::pkcs8::EncodePublicKey;
        let k = p384::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
        let point = k.verifying_key().to_encoded_point(false);
        let ours = ec_spki(
            crate::hsm::policy::KeySpec::EcP384.ec_params().unwrap(),
            point.as_bytes(),
        );
        let theirs = k.verifying_key().to_public_key_der().unwrap();
        assert_eq!(ours, theirs.as_bytes());
        assert_eq!(
            ec_point_raw(&tlv(0x04, point.as_bytes())),
            Some(point.as_bytes())
        );
    }
}
