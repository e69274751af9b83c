//! OpenSSL RSA keys and the ssh-agent protocol's key fields, both ways: mfa-add sends an
//! OpenSSL key's fields in an add-identity request, the agent builds an OpenSSL key from them.
//! The public half is also given as an `rsa::RsaPublicKey` for the blob and fingerprint code
//! in proto (public-key plumbing only: no private-key operation goes through the `rsa` crate).

use openssl::bn::{BigNum, BigNumContext, BigNumRef};
use openssl::error::ErrorStack;
use openssl::pkey::{HasPublic, Private};
use openssl::rsa::{Rsa, RsaPrivateKeyBuilder};
use proto::key::{RsaKeyFields, RsaKeyMaterial};
use rsa::{BigUint, RsaPublicKey};
use zeroize::Zeroizing;

/// An OpenSSL RSA key from n, e, d, p, q and iqmp; the CRT exponents are derived here, as the
/// ssh-agent protocol does not carry them. Not checked: call `check_key` on the result.
pub(crate) fn rsa_from_fields(f: RsaKeyFields<'_>) -> Result<Rsa<Private>, ErrorStack> {
    let num = BigNum::from_slice;
    // The private numbers in secure BIGNUMs: OpenSSL 3 exports a legacy RSA key to its
    // provider through a parameter block, and copies only secure BIGNUMs into the part of it
    // that is cleared when freed (the rest is freed as it is: a copy of d, p and q stayed in
    // the heap for every key added). Secure BIGNUMs are also cleared when the key is freed.
    let secret = |bytes: &[u8]| -> Result<BigNum, ErrorStack> {
        let mut n = BigNum::new_secure()?;
        n.copy_from_slice(bytes)?;
        Ok(n)
    };
    let (p, q, d) = (secret(f.p)?, secret(f.q)?, secret(f.d)?);
    let one = BigNum::from_u32(1)?;
    let mut ctx = BigNumContext::new_secure()?;
    let (mut p1, mut q1) = (BigNum::new_secure()?, BigNum::new_secure()?);
    p1.checked_sub(&p, &one)?;
    q1.checked_sub(&q, &one)?;
    let (mut dmp1, mut dmq1) = (BigNum::new_secure()?, BigNum::new_secure()?);
    dmp1.checked_rem(&d, &p1, &mut ctx)?;
    dmq1.checked_rem(&d, &q1, &mut ctx)?;
    Ok(RsaPrivateKeyBuilder::new(num(f.n)?, num(f.e)?, d)?
        .set_factors(p, q)?
        .set_crt_params(dmp1, dmq1, secret(f.iqmp)?)?
        .build())
}

/// The add-identity fields of an OpenSSL key; the private ones are wiped once copied.
pub(crate) fn material_of(rsa: &Rsa<Private>) -> RsaKeyMaterial {
    let secret =
        |n: Option<&BigNumRef>| Zeroizing::new(n.map(BigNumRef::to_vec).unwrap_or_default());
    let (n, e) = (rsa.n().to_vec(), rsa.e().to_vec());
    let d = Zeroizing::new(rsa.d().to_vec());
    let (p, q, iqmp) = (secret(rsa.p()), secret(rsa.q()), secret(rsa.iqmp()));
    RsaKeyMaterial::new(RsaKeyFields {
        n: &n,
        e: &e,
        d: &d,
        iqmp: &iqmp,
        p: &p,
        q: &q,
    })
}

/// The public half of an OpenSSL key, for blobs and fingerprints.
pub(crate) fn public_of<T: HasPublic>(rsa: &Rsa<T>) -> Result<RsaPublicKey, rsa::Error> {
    RsaPublicKey::new(
        BigUint::from_bytes_be(&rsa.n().to_vec()),
        BigUint::from_bytes_be(&rsa.e().to_vec()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_into_the_same_key() {
        let rsa = crate::test_key();
        let material = material_of(&rsa);
        let back = rsa_from_fields(material.fields()).expect("build");
        assert!(back.check_key().expect("check"));
        assert_eq!(
            back.private_key_to_der().expect("der"),
            rsa.private_key_to_der().expect("der")
        );
        let public = public_of(&rsa).expect("public");
        assert_eq!(public, material.public_key().expect("public"));
    }
}
