//! Console tokens from an identity provider: verified against its published key set, fetched
//! over HTTP from a stand-in provider here (in AWS, HTTPS only), cached per instance and
//! refreshed when a token names a key the cache does not hold — at most once per interval.

use common::config::{ConsoleAuthConfig, ConsoleKeySource};
use common::console_auth::{ConsoleAuthError, ConsoleSigner, ConsoleVerifier};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// A provider's `/.well-known/jwks.json`: serves whatever set it holds now, counts requests.
struct Provider {
    url: String,
    set: Arc<Mutex<Value>>,
    fetches: Arc<AtomicUsize>,
}

impl Provider {
    fn start(set: Value) -> Provider {
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let url = format!(
            "http://{}/.well-known/jwks.json",
            server.server_addr().to_ip().unwrap()
        );
        let set = Arc::new(Mutex::new(set));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (served, counted) = (set.clone(), fetches.clone());
        std::thread::spawn(move || {
            for request in server.incoming_requests() {
                counted.fetch_add(1, Ordering::SeqCst);
                let body = served.lock().unwrap().to_string();
                let _ = request.respond(tiny_http::Response::from_string(body));
            }
        });
        Provider { url, set, fetches }
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

fn config(keys: ConsoleKeySource) -> ConsoleAuthConfig {
    ConsoleAuthConfig {
        keys,
        issuer: "https://login.test".into(),
        audience: "visionpipe-cloud-api".into(),
    }
}

fn es256_signer() -> (ConsoleSigner, Value) {
    let pem = common::playground::generate_pem();
    let signer = ConsoleSigner::from_pem(&pem, &config(ConsoleKeySource::Url("unused".into()))).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("k.pem"), &pem).unwrap();
    let set: Value =
        serde_json::from_slice(&ConsoleSigner::local_key_set(&dir.path().join("k.pem")).unwrap()).unwrap();
    (signer, set["keys"][0].clone())
}

fn acct() -> common::ids::AccountId {
    common::ids::AccountId::parse("acct_idp").unwrap()
}

#[tokio::test]
async fn rs256_and_es256_tokens_verify_by_kid_against_the_providers_set() {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::traits::PublicKeyParts;
    // GIVEN a provider publishing an RSA key and an EC key
    let rsa_key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).unwrap();
    let rsa_jwk = json!({
        "kty": "RSA", "kid": "rsa-1", "use": "sig", "alg": "RS256",
        "n": URL_SAFE_NO_PAD.encode(rsa_key.n().to_bytes_be()),
        "e": URL_SAFE_NO_PAD.encode(rsa_key.e().to_bytes_be()),
    });
    let (ec_signer, ec_jwk) = es256_signer();
    let provider = Provider::start(json!({"keys": [rsa_jwk, ec_jwk]}));
    let verifier = ConsoleVerifier::new(&config(ConsoleKeySource::Url(provider.url.clone())));
    let claims = json!({"sub": "acct_idp", "iss": "https://login.test", "aud": "visionpipe-cloud-api",
                        "exp": time::OffsetDateTime::now_utc().unix_timestamp() + 600});
    let rsa_pem = rsa_key.to_pkcs1_pem(rsa::pkcs8::LineEnding::LF).unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("rsa-1".into());
    let rs256 = jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_rsa_pem(rsa_pem.as_bytes()).unwrap(),
    )
    .unwrap();

    // THEN both verify, with one fetch of the set between them
    assert_eq!(verifier.verify(&rs256).await, Ok(acct()));
    assert_eq!(verifier.verify(&ec_signer.sign(&claims)).await, Ok(acct()));
    assert_eq!(provider.fetches(), 1, "cached per instance");

    // AND a token that names the RSA key but claims ES256 (or the reverse) is refused
    let mut confused = Header::new(Algorithm::RS256);
    confused.kid = ec_signer.kid().to_string().into();
    let confused = jsonwebtoken::encode(
        &confused,
        &claims,
        &EncodingKey::from_rsa_pem(rsa_pem.as_bytes()).unwrap(),
    )
    .unwrap();
    assert_eq!(verifier.verify(&confused).await, Err(ConsoleAuthError::Invalid));
}

#[tokio::test]
async fn a_rotated_provider_key_is_fetched_on_its_first_token_and_unknown_kids_do_not_flood_the_provider() {
    // GIVEN a provider with key A, and a verifier that has loaded it (cold start)
    let (a, jwk_a) = es256_signer();
    let provider = Provider::start(json!({"keys": [jwk_a.clone()]}));
    let verifier = ConsoleVerifier::new(&config(ConsoleKeySource::Url(provider.url.clone())));
    verifier.prefetch().await;
    assert_eq!(provider.fetches(), 1);
    assert!(verifier.verify(&a.mint(&acct(), 600)).await.is_ok());

    // WHEN the provider rotates to key B (keeping A for its tokens still alive)
    let (b, jwk_b) = es256_signer();
    *provider.set.lock().unwrap() = json!({"keys": [jwk_a, jwk_b]});
    // THEN the first token signed by B makes the one fetch that finds it
    assert_eq!(verifier.verify(&b.mint(&acct(), 600)).await, Ok(acct()));
    assert_eq!(provider.fetches(), 2);

    // AND tokens naming keys nobody published are refused without asking again and again
    for _ in 0..20 {
        let (stranger, _) = es256_signer();
        assert_eq!(
            verifier.verify(&stranger.mint(&acct(), 600)).await,
            Err(ConsoleAuthError::Invalid)
        );
    }
    assert_eq!(
        provider.fetches(),
        2,
        "within the refresh interval, the set is not fetched again"
    );
    assert!(
        verifier.verify(&a.mint(&acct(), 600)).await.is_ok(),
        "held keys keep working"
    );
}

#[tokio::test]
async fn an_unreachable_provider_is_a_503_until_keys_are_held_never_a_401_for_a_good_token() {
    // GIVEN a provider that is not listening
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/jwks.json", closed.local_addr().unwrap());
    drop(closed);
    let verifier = ConsoleVerifier::new(&config(ConsoleKeySource::Url(url)));
    let (signer, _) = es256_signer();
    // THEN a well-formed token cannot be decided: unavailable, not invalid
    assert_eq!(
        verifier.verify(&signer.mint(&acct(), 600)).await,
        Err(ConsoleAuthError::KeysUnavailable)
    );
    // AND garbage is still plainly invalid (no key lookup needed)
    assert_eq!(
        verifier.verify("not-a-token").await,
        Err(ConsoleAuthError::Invalid)
    );
}

/// A console endpoint (list-keys) in an AWS-like configuration whose identity provider is at
/// `jwks_url`, with the production request deadline.
fn list_keys_with_provider(jwks_url: &str) -> (tests::Functions, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let deadline = common::config::DEFAULT_REQUEST_DEADLINE_MS.to_string();
    let config = tests::local_config(
        dir.path(),
        &[
            ("VP_CONSOLE_JWKS_URL", jwks_url),
            ("VP_CONSOLE_JWT_ISSUER", "https://login.test"),
            ("VP_REQUEST_DEADLINE_MS", &deadline),
        ],
    );
    let store = tests::TestApp::new().app.store.clone();
    (tests::Functions::new(config, store).unwrap(), dir)
}

#[tokio::test]
async fn a_provider_that_hangs_or_fails_is_a_503_with_retry_after_within_the_deadline() {
    let (signer, _) = es256_signer();
    let token = signer.mint(&acct(), 600);
    for (label, url) in [
        ("never answers", tests::server::silent_server()),
        ("answers 500", tests::server::failing_server(500)),
        ("answers 404", tests::server::failing_server(404)),
    ] {
        // GIVEN an identity provider that does not give its key set
        let (app, _dir) = list_keys_with_provider(&format!("{url}/.well-known/jwks.json"));
        let mut req = tests::fixture("list-keys");
        req.headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        // WHEN a console request with a well-formed token arrives
        let started = std::time::Instant::now();
        let answer = tests::parts(app.list_keys(req).await);
        let took = started.elapsed();
        // THEN it is answered 503 with Retry-After (the token cannot be decided; it is not
        // invalid), before the request deadline would have cut it off
        tests::assert_unavailable(&answer, label);
        let deadline = std::time::Duration::from_millis(common::config::DEFAULT_REQUEST_DEADLINE_MS);
        assert!(
            took < deadline + std::time::Duration::from_secs(1),
            "{label}: answered after {took:?}"
        );
    }
}
