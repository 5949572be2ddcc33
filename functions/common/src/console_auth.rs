//! Console tokens: the JWTs the Cloud Console's sign-in issues, verified on every key call.
//!
//! HS256 is pinned: a token whose header names any other algorithm (including `none`) is
//! rejected before its signature is looked at. `exp`, `iss`, `aud` and `sub` are required;
//! `nbf` is honoured when present; `aud` may be a string or an array (RFC 7519 §4.1.3) and
//! `iat` is optional, as identity providers issue them. `sub` is the account id.

use crate::config::ConsoleAuthConfig;
use crate::ids::AccountId;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
pub struct ConsoleClaims {
    pub sub: String,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid console token")]
pub struct InvalidConsoleToken;

pub struct ConsoleVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl ConsoleVerifier {
    pub fn new(config: &ConsoleAuthConfig) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = 30;
        ConsoleVerifier {
            key: DecodingKey::from_secret(config.secret.expose().as_bytes()),
            validation,
        }
    }

    pub fn verify(&self, token: &str) -> Result<AccountId, InvalidConsoleToken> {
        // Only `sub` is read here; exp/iss/aud/nbf are checked by `validation` on the raw claims.
        #[derive(Deserialize)]
        struct Subject {
            sub: String,
        }
        let data = jsonwebtoken::decode::<Subject>(token, &self.key, &self.validation)
            .map_err(|_| InvalidConsoleToken)?;
        AccountId::parse(&data.claims.sub).ok_or(InvalidConsoleToken)
    }
}

/// Mints console tokens the way the console's sign-in does. Used by `vpctl token` for local
/// work and by tests; production tokens come from the console itself.
pub fn mint(config: &ConsoleAuthConfig, account: &AccountId, ttl_secs: i64) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = ConsoleClaims {
        sub: account.as_str().to_string(),
        iss: config.issuer.clone(),
        aud: config.audience.clone(),
        iat: now,
        exp: now + ttl_secs,
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(config.secret.expose().as_bytes()),
    )
    .expect("HS256 signing with an in-memory secret cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn config() -> ConsoleAuthConfig {
        ConsoleAuthConfig {
            secret: Secret::new("test-secret-that-is-at-least-32-bytes-long"),
            issuer: "https://console.test".into(),
            audience: "api.test".into(),
        }
    }

    #[test]
    fn a_minted_token_verifies_to_its_account() {
        let account = AccountId::parse("acct_1").unwrap();
        let token = mint(&config(), &account, 60);
        assert_eq!(ConsoleVerifier::new(&config()).verify(&token), Ok(account));
    }

    #[test]
    fn wrong_secret_issuer_audience_or_expiry_is_rejected() {
        let account = AccountId::parse("acct_1").unwrap();
        let verifier = ConsoleVerifier::new(&config());
        let mut other = config();
        other.secret = Secret::new("another-secret-that-is-at-least-32-bytes");
        assert!(verifier.verify(&mint(&other, &account, 60)).is_err());
        let mut other = config();
        other.issuer = "https://evil.test".into();
        assert!(verifier.verify(&mint(&other, &account, 60)).is_err());
        let mut other = config();
        other.audience = "other".into();
        assert!(verifier.verify(&mint(&other, &account, 60)).is_err());
        assert!(
            verifier.verify(&mint(&config(), &account, -120)).is_err(),
            "expired"
        );
        assert!(verifier.verify("not.a.jwt").is_err());
    }

    fn sign(claims: serde_json::Value) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(config().secret.expose().as_bytes()),
        )
        .unwrap()
    }

    #[test]
    fn an_audience_array_and_a_missing_iat_are_accepted_when_otherwise_valid() {
        let verifier = ConsoleVerifier::new(&config());
        let exp = time::OffsetDateTime::now_utc().unix_timestamp() + 60;
        let array = sign(
            serde_json::json!({"sub": "acct_1", "iss": "https://console.test", "aud": ["other", "api.test"], "exp": exp}),
        );
        assert_eq!(verifier.verify(&array).unwrap().as_str(), "acct_1");
        let wrong = sign(
            serde_json::json!({"sub": "acct_1", "iss": "https://console.test", "aud": ["other"], "exp": exp}),
        );
        assert!(verifier.verify(&wrong).is_err(), "an array without our audience");
        let no_exp =
            sign(serde_json::json!({"sub": "acct_1", "iss": "https://console.test", "aud": "api.test"}));
        assert!(verifier.verify(&no_exp).is_err(), "exp stays required");
    }

    #[test]
    fn minted_tokens_expire_ttl_seconds_after_they_are_issued() {
        use base64::Engine;
        let token = mint(&config(), &AccountId::parse("acct_1").unwrap(), 600);
        let payload = token.split('.').nth(1).unwrap();
        let claims: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
            600
        );
    }
}
