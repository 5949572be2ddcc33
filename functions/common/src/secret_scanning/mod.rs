//! GitHub secret scanning's partner endpoint: who may report leaked keys, and the report.
//!
//! GitHub signs each report (the raw body) with ECDSA P-256 / SHA-256 and names the key in
//! `Github-Public-Key-Identifier`; the signature (ASN.1 DER, base64) is in
//! `Github-Public-Key-Signature`. The public keys are the document GitHub publishes at
//! `https://api.github.com/meta/public_keys/secret_scanning`, fetched and held per instance
//! ([`published`]), or pinned by configuration (`VP_SECRET_SCANNING_KEYS`). Locally, a key pair
//! generated once in the data directory stands in for GitHub's, and `vpctl secret-scanning
//! sign` signs a report with it.

use crate::local_key::{SigningKeyError, load_or_create_local_key};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{DerSignature, SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePublicKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;

pub mod published;

/// The reporters' public keys, by identifier.
#[derive(Debug, Clone)]
pub struct ReporterKeys {
    keys: Vec<(String, VerifyingKey)>,
}

/// GitHub's published document: `{"public_keys": [{"key_identifier", "key", "is_current"}]}`.
#[derive(Deserialize)]
struct KeyDocument {
    public_keys: Vec<PublishedKey>,
}

#[derive(Deserialize)]
struct PublishedKey {
    key_identifier: String,
    /// PEM `PUBLIC KEY`.
    key: String,
}

impl ReporterKeys {
    /// Every key of GitHub's document (current or not: a report signed just before a rotation
    /// still verifies). Anything unreadable is an error naming what, never a silent skip.
    pub fn from_document(document: &str) -> Result<Self, String> {
        let doc: KeyDocument =
            serde_json::from_str(document).map_err(|e| format!("not GitHub's public key document ({e})"))?;
        let keys = doc
            .public_keys
            .into_iter()
            .map(|k| {
                VerifyingKey::from_public_key_pem(k.key.trim())
                    .map(|key| (k.key_identifier.clone(), key))
                    .map_err(|_| format!("key {} is not a P-256 public key in PEM", k.key_identifier))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Err("the document holds no key".into());
        }
        Ok(ReporterKeys { keys })
    }

    /// Whether the document holds a key named `identifier`.
    pub fn knows(&self, identifier: &str) -> bool {
        self.keys.iter().any(|(id, _)| id == identifier)
    }

    /// Whether `signature` (base64 of an ASN.1 DER ECDSA signature) over `body` was made by the
    /// key named `identifier`. Unknown identifiers and malformed signatures are simply `false`.
    pub fn verify(&self, identifier: &str, signature: &str, body: &[u8]) -> bool {
        let Some((_, key)) = self.keys.iter().find(|(id, _)| id == identifier) else {
            return false;
        };
        let Ok(der) = STANDARD.decode(signature.trim()) else {
            return false;
        };
        let Ok(signature) = DerSignature::try_from(der.as_slice()) else {
            return false;
        };
        key.verify(body, &signature).is_ok()
    }
}

/// A key's identifier as we publish ours: the SHA-256 of its SubjectPublicKeyInfo (DER), hex.
pub fn key_identifier(key: &VerifyingKey) -> String {
    let der = key.to_public_key_der().expect("a valid P-256 key always encodes");
    hex::encode(Sha256::digest(der.as_bytes()))
}

/// Signs reports as a reporter would: the local stand-in for GitHub (vpctl) and the tests.
pub struct ReporterSigner {
    identifier: String,
    key: SigningKey,
}

impl ReporterSigner {
    pub fn from_pem(pem: &str) -> Result<Self, SigningKeyError> {
        let key = SigningKey::from_pkcs8_pem(pem).map_err(|_| SigningKeyError::Invalid)?;
        Ok(ReporterSigner {
            identifier: key_identifier(key.verifying_key()),
            key,
        })
    }

    /// The local key pair at `path`, created on first use.
    pub fn local(path: &Path) -> Result<Self, SigningKeyError> {
        Self::from_pem(&load_or_create_local_key(path)?)
    }

    pub fn identifier(&self) -> &str {
        &self.identifier
    }

    /// `Github-Public-Key-Signature` for `body`.
    pub fn sign(&self, body: &[u8]) -> String {
        let signature: DerSignature = self.key.sign(body);
        STANDARD.encode(signature.as_bytes())
    }

    /// The key document that trusts this signer, in GitHub's form.
    pub fn document(&self) -> String {
        let pem = self
            .key
            .verifying_key()
            .to_public_key_pem(p256::pkcs8::LineEnding::LF)
            .expect("a valid P-256 key always encodes");
        serde_json::json!({"public_keys": [{"key_identifier": self.identifier, "key": pem, "is_current": true}]})
            .to_string()
    }

    pub fn keys(&self) -> ReporterKeys {
        ReporterKeys {
            keys: vec![(self.identifier.clone(), *self.key.verifying_key())],
        }
    }
}

/// One match in a report. GitHub may add members; unknown ones are ignored.
#[derive(Debug, Deserialize)]
pub struct ReportedToken {
    pub token: String,
    #[serde(rename = "type")]
    pub token_type: String,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub source: Option<String>,
}

/// Our answer for one match: the token by its SHA-256 (never echoed), and whether it is ours.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Verdict {
    pub token_hash: String,
    pub token_type: String,
    pub label: Label,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Label {
    /// A key we issued (now revoked, if it was live).
    TruePositive,
    /// Not a key we ever issued.
    FalsePositive,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> ReporterSigner {
        ReporterSigner::from_pem(&crate::local_key::generate_pem()).unwrap()
    }

    #[test]
    fn a_signature_verifies_with_its_key_only_and_over_its_body_only() {
        let (ours, theirs) = (signer(), signer());
        let keys = ReporterKeys::from_document(&ours.document()).unwrap();
        let body = br#"[{"token":"x","type":"visionpipe_api_key"}]"#;
        let signature = ours.sign(body);
        assert!(keys.verify(ours.identifier(), &signature, body));
        assert!(!keys.verify(ours.identifier(), &signature, b"[]"), "another body");
        assert!(
            !keys.verify(theirs.identifier(), &theirs.sign(body), body),
            "an unknown key"
        );
        assert!(
            !keys.verify(ours.identifier(), &theirs.sign(body), body),
            "another key's signature"
        );
        assert!(!keys.verify(ours.identifier(), "not base64!", body));
        assert!(!keys.verify(ours.identifier(), "AAAA", body), "not DER");
    }

    #[test]
    fn a_bad_key_document_is_refused_with_a_reason() {
        assert!(ReporterKeys::from_document("{}").is_err());
        assert!(ReporterKeys::from_document(r#"{"public_keys":[]}"#).is_err());
        let bad = r#"{"public_keys":[{"key_identifier":"k","key":"-----BEGIN PUBLIC KEY-----\nAA==\n-----END PUBLIC KEY-----"}]}"#;
        assert!(ReporterKeys::from_document(bad).unwrap_err().contains("k"));
    }
}
