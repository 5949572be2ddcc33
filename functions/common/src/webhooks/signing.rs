//! Signing deliveries as the Standard Webhooks specification defines it: `webhook-id`,
//! `webhook-timestamp` (epoch seconds) and `webhook-signature: v1,<base64 HMAC-SHA256 over
//! "id.timestamp.body">`, under a per-endpoint secret shown to its owner once as
//! `whsec_<base64>`. Receivers verify with any Standard Webhooks library (OpenAI's webhooks use
//! the same scheme).
//!
//! Written once here on aws-lc's HMAC (already in every function), as the issue allows, rather
//! than with the authors' Rust crate: that crate brings its own HMAC and a second base64, which
//! put test-webhook's zip over the 3 MB budget. The scheme is held to the specification's
//! published example below, and every delivery in the tests is verified by the authors' Python
//! package (`tests/webhooks/receiver.py`).

use base64::{Engine, engine::general_purpose::STANDARD};
use std::fmt;
use zeroize::Zeroizing;

/// Random bytes in a signing secret (256 bits, the HMAC-SHA256 block's natural key size).
const SECRET_BYTES: usize = 32;
const PREFIX: &str = "whsec_";

pub const HEADER_WEBHOOK_ID: &str = "webhook-id";
pub const HEADER_WEBHOOK_TIMESTAMP: &str = "webhook-timestamp";
pub const HEADER_WEBHOOK_SIGNATURE: &str = "webhook-signature";

/// An endpoint's signing secret, `whsec_` + base64 of 32 random bytes. Its `Debug` is redacted
/// and its text wiped on drop, so it cannot reach a log by accident.
pub struct SigningSecret(Zeroizing<String>);

impl SigningSecret {
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; SECRET_BYTES]);
        aws_lc_rs::rand::fill(bytes.as_mut()).expect("the system random generator is available");
        SigningSecret(Zeroizing::new(format!(
            "{PREFIX}{}",
            STANDARD.encode(bytes.as_ref())
        )))
    }

    /// A secret as shown to its owner (`whsec_…`), if it is one.
    pub fn parse(text: &str) -> Option<Self> {
        let key = STANDARD.decode(text.strip_prefix(PREFIX)?).ok()?;
        (!key.is_empty()).then(|| SigningSecret(Zeroizing::new(text.to_string())))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The three headers of a delivery of `body` as event `id`, sent at `timestamp`.
    pub fn headers(
        &self,
        id: &str,
        timestamp: i64,
        body: &[u8],
    ) -> Result<[(&'static str, String); 3], SignError> {
        use aws_lc_rs::hmac;
        let encoded = self.0.strip_prefix(PREFIX).ok_or(SignError)?;
        let key = Zeroizing::new(STANDARD.decode(encoded).map_err(|_| SignError)?);
        let key = hmac::Key::new(hmac::HMAC_SHA256, &key);
        let timestamp_text = timestamp.to_string();
        let mut signed = hmac::Context::with_key(&key);
        for part in [id.as_bytes(), b".", timestamp_text.as_bytes(), b".", body] {
            signed.update(part);
        }
        let signature = format!("v1,{}", STANDARD.encode(signed.sign().as_ref()));
        Ok([
            (HEADER_WEBHOOK_ID, id.to_string()),
            (HEADER_WEBHOOK_TIMESTAMP, timestamp.to_string()),
            (HEADER_WEBHOOK_SIGNATURE, signature),
        ])
    }
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret(<redacted>)")
    }
}

/// A secret that is not one (`whsec_` and base64).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the delivery could not be signed")]
pub struct SignError;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_the_specifications_published_example() {
        // The example of the Standard Webhooks specification (and its libraries' tests):
        // secret, message id, timestamp and payload, and the signature they must give.
        let secret = SigningSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let headers = secret
            .headers(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                br#"{"test": 2432232314}"#,
            )
            .unwrap();
        assert_eq!(
            headers,
            [
                ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek".to_string()),
                ("webhook-timestamp", "1614265330".to_string()),
                (
                    "webhook-signature",
                    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=".to_string()
                ),
            ]
        );
        // Any other id, time or byte signs differently.
        let other = secret
            .headers(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265331,
                br#"{"test": 2432232314}"#,
            )
            .unwrap();
        assert_ne!(other[2], headers[2]);
    }

    #[test]
    fn a_secret_is_whsec_and_32_random_bytes_and_never_printed() {
        let (a, b) = (SigningSecret::generate(), SigningSecret::generate());
        assert!(a.expose().starts_with("whsec_"));
        assert_eq!(STANDARD.decode(&a.expose()[6..]).unwrap().len(), 32);
        assert_ne!(a.expose(), b.expose());
        assert_eq!(format!("{a:?}"), "SigningSecret(<redacted>)");
        assert!(SigningSecret::parse(a.expose()).is_some());
        for bad in [
            "",
            "whsec_",
            "whsec_not base64!",
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        ] {
            assert!(SigningSecret::parse(bad).is_none(), "{bad}");
        }
    }
}
