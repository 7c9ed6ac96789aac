//! The message signature: SignatureVersion 1 is SHA1withRSA, 2 is SHA256withRSA (PKCS#1 v1.5),
//! over [`SnsMessage::string_to_sign`], checked with the signing certificate's public key.

use base64::Engine as _;
use rustls_pki_types::{alg_id, AlgorithmIdentifier, CertificateDer, InvalidSignature};
use rustls_pki_types::{FipsStatus, SignatureVerificationAlgorithm};

use crate::message::SnsMessage;

/// Why a signature does not verify.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    /// Neither "1" nor "2".
    #[error("unsupported SignatureVersion; SNS signs with version 1 or 2")]
    UnsupportedVersion,
    /// `Signature` is not base64.
    #[error("the Signature field is not base64")]
    NotBase64,
    /// The certificate is not an X.509 certificate webpki can read.
    #[error("the signing certificate cannot be parsed")]
    BadCertificate,
    /// The signature does not match the message and the certificate's key.
    #[error("the signature does not match the message")]
    Mismatch,
}

/// `sha1WithRSAEncryption` (1.2.840.113549.1.1.5) with NULL parameters, as webpki spells
/// algorithm identifiers (the DER contents of the AlgorithmIdentifier SEQUENCE).
const RSA_PKCS1_SHA1_ALG_ID: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05, 0x05, 0x00,
];

/// SHA1withRSA for SignatureVersion 1. webpki no longer ships SHA-1 (it is not for
/// certificate chains any more), but SNS still signs messages with it when asked to, so the
/// relay brings ring's legacy verifier for message signatures only; chains never use it.
#[derive(Debug)]
struct RsaPkcs1Sha1;

impl SignatureVerificationAlgorithm for RsaPkcs1Sha1 {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
            public_key,
        )
        .verify(message, signature)
        .map_err(|_| InvalidSignature)
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::RSA_ENCRYPTION
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        AlgorithmIdentifier::from_slice(RSA_PKCS1_SHA1_ALG_ID)
    }

    fn fips_status(&self) -> FipsStatus {
        FipsStatus::Unvalidated
    }
}

static SHA1_RSA: RsaPkcs1Sha1 = RsaPkcs1Sha1;

/// Checks `msg`'s signature against the leaf certificate `leaf` (whose chain is checked
/// elsewhere, before this).
pub fn verify(msg: &SnsMessage, leaf: &CertificateDer<'_>) -> Result<(), SignatureError> {
    let alg: &dyn SignatureVerificationAlgorithm = match msg.signature_version.as_str() {
        "1" => &SHA1_RSA,
        "2" => webpki::ring::RSA_PKCS1_2048_8192_SHA256,
        _ => return Err(SignatureError::UnsupportedVersion),
    };
    let signature = base64::engine::general_purpose::STANDARD
        .decode(msg.signature.trim())
        .map_err(|_| SignatureError::NotBase64)?;
    let cert = webpki::EndEntityCert::try_from(leaf).map_err(|_| SignatureError::BadCertificate)?;
    cert.verify_signature(alg, msg.string_to_sign().as_bytes(), &signature)
        .map_err(|_| SignatureError::Mismatch)
}
