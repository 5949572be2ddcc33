//! Console tokens against the local key set: what is accepted, and everything that is not.
use super::*;
use crate::config::ConsoleKeySource;
use crate::fetch::stand_in::Provider;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;

fn config(dir: &std::path::Path) -> ConsoleAuthConfig {
    ConsoleAuthConfig {
        keys: ConsoleKeySource::LocalKey(dir.join("console.pem")),
        issuer: "https://console.test".into(),
        audience: "api.test".into(),
    }
}

fn setup() -> (tempfile::TempDir, ConsoleVerifier, ConsoleSigner) {
    let dir = tempfile::tempdir().unwrap();
    let verifier = ConsoleVerifier::new(&config(dir.path()));
    let signer = ConsoleSigner::local(&dir.path().join("console.pem"), &config(dir.path())).unwrap();
    (dir, verifier, signer)
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn acct() -> AccountId {
    AccountId::parse("acct_1").unwrap()
}

#[tokio::test]
async fn a_token_signed_by_the_local_key_verifies_to_its_account() {
    let (_dir, verifier, signer) = setup();
    assert_eq!(verifier.verify(&signer.mint(&acct(), 60)).await, Ok(acct()));
}

#[tokio::test]
async fn another_key_issuer_audience_or_an_expired_token_is_refused() {
    let (dir, verifier, signer) = setup();
    let stranger = ConsoleSigner::local(&dir.path().join("other.pem"), &config(dir.path())).unwrap();
    assert_eq!(
        verifier.verify(&stranger.mint(&acct(), 60)).await,
        Err(ConsoleAuthError::Invalid),
        "signed by a key the set does not hold"
    );
    let claims =
        |iss: &str, aud: &str, exp: i64| json!({"sub": "acct_1", "iss": iss, "aud": aud, "exp": exp});
    for (why, token) in [
        (
            "issuer",
            signer.sign(&claims("https://evil.test", "api.test", now() + 60)),
        ),
        (
            "audience",
            signer.sign(&claims("https://console.test", "other", now() + 60)),
        ),
        ("expired", signer.mint(&acct(), -120)),
        ("garbage", "not.a.jwt".into()),
    ] {
        assert_eq!(
            verifier.verify(&token).await,
            Err(ConsoleAuthError::Invalid),
            "{why}"
        );
    }
}

#[tokio::test]
async fn hs256_and_none_are_refused_whatever_they_are_signed_with() {
    let (_dir, verifier, signer) = setup();
    let claims =
        json!({"sub": "acct_1", "iss": "https://console.test", "aud": "api.test", "exp": now() + 60});
    // An attacker who knows our public key might try it as an HMAC secret (the classic
    // algorithm-confusion attack); the kid is ours, the algorithm is not allowed.
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(signer.kid().to_string());
    let hs256 = jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_secret(signer.kid().as_bytes()),
    )
    .unwrap();
    assert_eq!(verifier.verify(&hs256).await, Err(ConsoleAuthError::Invalid));
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(json!({"alg": "none", "kid": signer.kid()}).to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    assert_eq!(verifier.verify(&none).await, Err(ConsoleAuthError::Invalid));
    // ES256 without a kid: no key is chosen by guessing.
    let no_kid = jsonwebtoken::encode(
        &Header::new(Algorithm::ES256),
        &claims,
        &EncodingKey::from_ec_pem(std::fs::read(_dir.path().join("console.pem")).unwrap().as_slice())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(verifier.verify(&no_kid).await, Err(ConsoleAuthError::Invalid));
    assert!(
        verifier.verify(&signer.sign(&claims)).await.is_ok(),
        "the same claims, properly signed"
    );
}

#[tokio::test]
async fn an_audience_array_and_a_missing_iat_are_accepted_when_otherwise_valid() {
    let (_dir, verifier, signer) = setup();
    let exp = now() + 60;
    let array = signer.sign(
        &json!({"sub": "acct_1", "iss": "https://console.test", "aud": ["other", "api.test"], "exp": exp}),
    );
    assert_eq!(verifier.verify(&array).await, Ok(acct()));
    let wrong =
        signer.sign(&json!({"sub": "acct_1", "iss": "https://console.test", "aud": ["other"], "exp": exp}));
    assert!(
        verifier.verify(&wrong).await.is_err(),
        "an array without our audience"
    );
    let no_exp = signer.sign(&json!({"sub": "acct_1", "iss": "https://console.test", "aud": "api.test"}));
    assert!(verifier.verify(&no_exp).await.is_err(), "exp stays required");
    let not_an_account =
        signer.sign(&json!({"sub": "a b#c", "iss": "https://console.test", "aud": "api.test", "exp": exp}));
    assert!(verifier.verify(&not_an_account).await.is_err());
}

#[tokio::test]
async fn a_new_local_key_is_picked_up_by_its_kid_and_the_old_one_stops_verifying() {
    let (dir, verifier, signer) = setup();
    let old = signer.mint(&acct(), 60);
    assert!(verifier.verify(&old).await.is_ok());
    std::fs::remove_file(dir.path().join("console.pem")).unwrap();
    let rotated = ConsoleSigner::local(&dir.path().join("console.pem"), &config(dir.path())).unwrap();
    assert_ne!(rotated.kid(), signer.kid());
    assert_eq!(verifier.verify(&rotated.mint(&acct(), 60)).await, Ok(acct()));
    assert_eq!(verifier.verify(&old).await, Err(ConsoleAuthError::Invalid));
}

#[test]
fn minted_tokens_expire_ttl_seconds_after_they_are_issued_and_name_their_key() {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let (_dir, _verifier, signer) = setup();
    let token = signer.mint(&acct(), 600);
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(
        (header.alg, header.kid.as_deref()),
        (Algorithm::ES256, Some(signer.kid()))
    );
    let payload = token.split('.').nth(1).unwrap();
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        600
    );
}

#[test]
fn key_sets_keep_usable_signing_keys_and_skip_the_rest() {
    let (_dir, _verifier, signer) = setup();
    let mut ours = serde_json::from_slice::<serde_json::Value>(
        &ConsoleSigner::local_key_set(&_dir.path().join("console.pem")).unwrap(),
    )
    .unwrap()["keys"][0]
        .clone();
    let mut encryption = ours.clone();
    encryption["use"] = json!("enc");
    encryption["kid"] = json!("enc");
    let mut no_kid = ours.clone();
    no_kid.as_object_mut().unwrap().remove("kid");
    let mut wrong_alg = ours.clone();
    wrong_alg["alg"] = json!("RS256");
    wrong_alg["kid"] = json!("wrong-alg");
    let hmac = json!({"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"});
    let p384 = json!({"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA", "kid": "p384"});
    ours["kid"] = json!(signer.kid());
    let set = json!({"keys": [encryption, no_kid, wrong_alg, hmac, p384, ours]});
    let keys = keys::parse_key_set(set.to_string().as_bytes()).unwrap();
    assert_eq!(keys.keys().collect::<Vec<_>>(), [signer.kid()]);
    assert!(keys::parse_key_set(br#"{"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "x"}]}"#).is_err());
    assert!(keys::parse_key_set(b"<html>").is_err());
}

#[tokio::test]
async fn prefetch_loads_the_key_set_before_the_first_token() {
    // GIVEN a verifier that loaded the key set at cold start
    let (dir, verifier, signer) = setup();
    verifier.prefetch().await;
    // WHEN the key file changes before any token arrives
    std::fs::remove_file(dir.path().join("console.pem")).unwrap();
    ConsoleSigner::local(&dir.path().join("console.pem"), &config(dir.path())).unwrap();
    // THEN a token of the key it loaded still verifies from what it holds (without the
    // prefetch, the first token would make it read the file now, which no longer has that key)
    assert_eq!(verifier.verify(&signer.mint(&acct(), 60)).await, Ok(acct()));
}

#[tokio::test]
async fn unknown_kids_refresh_a_providers_set_at_most_once_per_interval() {
    // GIVEN a provider whose set holds none of the kids asked for
    let (dir, _, signer) = setup();
    let set = ConsoleSigner::local_key_set(&dir.path().join("console.pem")).unwrap();
    let provider = Provider::start(200, set);
    let verifier = ConsoleVerifier::new(&ConsoleAuthConfig {
        keys: ConsoleKeySource::Url(provider.url.clone()),
        ..config(dir.path())
    });
    // WHEN its own key verifies (one fetch), then ten tokens name keys it never published
    assert_eq!(verifier.verify(&signer.mint(&acct(), 60)).await, Ok(acct()));
    let other = tempfile::tempdir().unwrap();
    let stranger = ConsoleSigner::local(&other.path().join("console.pem"), &config(other.path())).unwrap();
    for _ in 0..10 {
        assert_eq!(
            verifier.verify(&stranger.mint(&acct(), 60)).await,
            Err(ConsoleAuthError::Invalid)
        );
    }
    // THEN the provider was asked once: the first token's load counts against the interval,
    // so the unknown kids within it are refused from what is held
    assert_eq!(provider.requests(), 1);
}

#[tokio::test]
async fn no_key_set_at_all_is_unavailable_not_invalid() {
    // A provider that fails and holds nothing: a well-formed token cannot be decided.
    let (dir, _, signer) = setup();
    let verifier = ConsoleVerifier::new(&ConsoleAuthConfig {
        keys: ConsoleKeySource::Url(Provider::start(503, Vec::new()).url),
        ..config(dir.path())
    });
    assert_eq!(
        verifier.verify(&signer.mint(&acct(), 60)).await,
        Err(ConsoleAuthError::KeysUnavailable)
    );
}

#[test]
fn an_rsa_signing_key_is_kept_for_rs256() {
    // A 2048-bit modulus (its value does not matter to parsing) and the usual exponent.
    let n = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, [0xC3u8; 256]);
    let set = json!({"keys": [{"kty": "RSA", "n": n, "e": "AQAB", "kid": "rsa-1", "use": "sig"}]});
    let keys = keys::parse_key_set(set.to_string().as_bytes()).unwrap();
    assert_eq!(keys["rsa-1"].algorithm, Algorithm::RS256);
}

/// A verifier of a provider holding `dir`'s local key, its answers kept for `max-age=1`.
fn short_lived_provider(dir: &std::path::Path) -> (Provider, ConsoleVerifier) {
    let set = ConsoleSigner::local_key_set(&dir.join("console.pem")).unwrap();
    let provider = Provider::with_cache_control(200, set, Some("max-age=1"));
    let verifier = ConsoleVerifier::new(&ConsoleAuthConfig {
        keys: ConsoleKeySource::Url(provider.url.clone()),
        ..config(dir)
    });
    (provider, verifier)
}

#[tokio::test]
async fn a_key_the_provider_withdraws_stops_verifying_once_its_max_age_has_passed() {
    // GIVEN a verifier holding the provider's key, which says to keep it 1 s
    let (dir, _, signer) = setup();
    let (provider, verifier) = short_lived_provider(dir.path());
    let token = signer.mint(&acct(), 60);
    assert_eq!(verifier.verify(&token).await, Ok(acct()));
    // WHEN the provider withdraws the key (its set now holds another one)
    let other = tempfile::tempdir().unwrap();
    ConsoleSigner::local(&other.path().join("console.pem"), &config(other.path())).unwrap();
    provider.answer(
        200,
        ConsoleSigner::local_key_set(&other.path().join("console.pem")).unwrap(),
    );
    // THEN within its max-age the held key still verifies, without asking
    assert_eq!(verifier.verify(&token).await, Ok(acct()));
    assert_eq!(provider.requests(), 1);
    // AND once it has passed, the set is fetched again and the withdrawn key is refused
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(verifier.verify(&token).await, Err(ConsoleAuthError::Invalid));
    assert_eq!(provider.requests(), 2);
}

#[tokio::test]
async fn a_stale_set_is_kept_while_the_provider_is_down_and_asked_for_again_later() {
    // GIVEN a held set gone stale, and a provider that now fails
    let (dir, _, signer) = setup();
    let (provider, verifier) = short_lived_provider(dir.path());
    let token = signer.mint(&acct(), 60);
    assert_eq!(verifier.verify(&token).await, Ok(acct()));
    provider.answer(500, Vec::new());
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    // WHEN tokens arrive THEN the held key still verifies (the console stays up), and the
    // failing provider is asked once, not on every request
    for _ in 0..5 {
        assert_eq!(verifier.verify(&token).await, Ok(acct()));
    }
    assert_eq!(provider.requests(), 2);
}
