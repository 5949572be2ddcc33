//! Shared support for the workspace tests: fixtures, a throw-away app on its own store, and
//! the real `cargo lambda watch` as a child process.

use common::api_key::KeyHash;
use common::config::Config;
use common::ids::{AccountId, KeyId};
use common::store::{DebitOutcome, NewKey, Origin, SessionDebit, Store, StoreError};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub mod bad_input;
pub mod conformance;
pub mod dynamo;
pub mod functions;
pub mod iam;
pub mod layout;
pub mod receiver;
pub mod reports;
pub mod server;

pub use functions::Functions;

/// A session without an Idempotency-Key in one call: resolve, then debit, as create-session
/// does. Only the tests want it as one step, so it lives here rather than on the trait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionOutcome {
    /// One credit was taken; `balance` is what is left after this debit.
    Opened {
        account: AccountId,
        key: KeyId,
        balance: u64,
    },
    /// No live key has this hash (never existed, or deleted).
    InvalidKey,
    /// The key is live but its account has no credits; nothing was changed.
    InsufficientCredits,
}

#[async_trait::async_trait]
pub trait OpenSession {
    async fn open_session(&self, hash: &KeyHash, debit: SessionDebit) -> Result<SessionOutcome, StoreError>;
}

#[async_trait::async_trait]
impl<T: Store + ?Sized> OpenSession for T {
    async fn open_session(&self, hash: &KeyHash, debit: SessionDebit) -> Result<SessionOutcome, StoreError> {
        let Some(key) = self.resolve_key(hash).await? else {
            return Ok(SessionOutcome::InvalidKey);
        };
        Ok(match self.debit_session(&key, debit, None).await? {
            DebitOutcome::Debited { balance } => SessionOutcome::Opened {
                account: key.account,
                key: key.key,
                balance,
            },
            DebitOutcome::InsufficientCredits => SessionOutcome::InsufficientCredits,
            DebitOutcome::InvalidKey => SessionOutcome::InvalidKey,
            other => panic!("an idempotency outcome without an idempotency key: {other:?}"),
        })
    }
}

/// Test vectors, the same as `infra/make_events.py` writes into `events/`.
pub const FIXTURE_ACCOUNT: &str = "acct_fixture";
/// Checksummed like every issued key (`common::api_key`): 56 hex, then their CRC-32.
pub const KEY_OK: &str = "vp_live_0123456789abcdef0123456789abcdef0123456789abcdef012345670ff3c212";
pub const KEY_EMPTY: &str = "vp_live_fedcba9876543210fedcba9876543210fedcba9876543210fedcba989ec28274";
/// `KEY_OK` with its checksum zeroed: well-formed, never issued.
/// Well-formed and checksummed, but never issued (never seeded anywhere).
pub const KEY_UNKNOWN: &str = "vp_live_00000000000000000000000000000000000000000000000000000000d8f197b5";
pub const KEY_BAD_CHECKSUM: &str = "vp_live_0123456789abcdef0123456789abcdef0123456789abcdef0123456700000000";
pub const FIXTURE_KEY_ID: &str = "key_01JF0000000000000000000000";

/// The P-256 key the console tokens in `events/` are signed with: a test vector derived from a
/// published seed (`infra/make_events.py` derives the same one), which the throw-away apps of
/// the tests trust as their local console key and nothing else ever does.
pub fn fixture_console_key_pem() -> String {
    use p256::pkcs8::EncodePrivateKey;
    use sha2::Digest;
    let scalar = sha2::Sha256::digest(b"visionpipe fixture console key");
    p256::SecretKey::from_slice(&scalar)
        .expect("the seed's digest is a valid P-256 scalar")
        .to_pkcs8_pem(p256::pkcs8::LineEnding::LF)
        .expect("PKCS#8 encoding cannot fail")
        .to_string()
}

/// The fixture secret-scanning reporter key (PKCS#8 PEM): like the console key, derived from
/// a published seed (`infra/make_events.py` derives the same one), so `events/` reports verify.
pub fn fixture_reporter_key_pem() -> String {
    use p256::pkcs8::EncodePrivateKey;
    use sha2::Digest;
    let scalar = sha2::Sha256::digest(b"visionpipe fixture secret-scanning key");
    p256::SecretKey::from_slice(&scalar)
        .expect("the seed's digest is a valid P-256 scalar")
        .to_pkcs8_pem(p256::pkcs8::LineEnding::LF)
        .expect("PKCS#8 encoding cannot fail")
        .to_string()
}

/// Signs secret-scanning reports with the local reporter key that `config` trusts (what
/// `vpctl secret-scanning sign` does).
pub fn reporter_signer(config: &Config) -> common::secret_scanning::ReporterSigner {
    let common::config::ReporterKeysSource::LocalKey(path) = &config.secret_scanning else {
        panic!("tests sign with the local reporter key")
    };
    common::secret_scanning::ReporterSigner::local(path).expect("local reporter key")
}

/// Signs console tokens with the local console key that `config` trusts (what `vpctl token`
/// does), so tests can build any token the console's sign-in could issue.
pub fn console_signer(config: &Config) -> common::console_auth::ConsoleSigner {
    let console = config.console().expect("local config has console settings");
    let common::config::ConsoleKeySource::LocalKey(path) = &console.keys else {
        panic!("tests sign for the local key set")
    };
    common::console_auth::ConsoleSigner::local(path, console).expect("local console key")
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

/// `events/<name>.json` as the request the Lambda runtime would hand the function.
pub fn fixture(name: &str) -> lambda_http::Request {
    let path = workspace_root().join("events").join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{name}: not an API Gateway event: {e}"))
}

/// The request deadline tests run with unless they say otherwise. The local DynamoDB server
/// answers one request at a time, so under a test binary's parallel load a request can queue
/// past the production deadline (4 s); these tests are about outcomes, so they wait. The stall
/// test, which is about the deadline, sets the production one.
pub const TEST_REQUEST_DEADLINE_MS: &str = "60000";

/// Local configuration rooted in `dir`, with `overrides` (name, value) applied.
pub fn local_config(dir: &Path, overrides: &[(&str, &str)]) -> Config {
    let data_dir = dir.to_string_lossy().into_owned();
    Config::from_lookup(|name| {
        overrides
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
            .or_else(|| match name {
                "VP_ENV" => Some("local".into()),
                "VP_DATA_DIR" => Some(data_dir.clone()),
                "VP_REQUEST_DEADLINE_MS" => Some(TEST_REQUEST_DEADLINE_MS.into()),
                _ => None,
            })
    })
    .expect("test configuration is valid")
}

/// A temporary data directory whose local console and reporter keys are the fixture keys, so
/// the `events/` tokens and reports verify there.
pub fn fixture_data_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join(common::config::LOCAL_CONSOLE_KEY_FILE),
        fixture_console_key_pem(),
    )
    .expect("write the fixture console key");
    std::fs::write(
        dir.path().join(common::config::LOCAL_SECRET_SCANNING_KEY_FILE),
        fixture_reporter_key_pem(),
    )
    .expect("write the fixture reporter key");
    dir
}

/// Every function on a fresh embedded store in its own temporary directory.
pub struct TestApp {
    pub app: Functions,
    pub dir: tempfile::TempDir,
}

impl TestApp {
    pub fn new() -> Self {
        Self::with(&[])
    }

    pub fn with(overrides: &[(&str, &str)]) -> Self {
        let dir = fixture_data_dir();
        let config = local_config(dir.path(), overrides);
        let common::config::StoreConfig::Embedded { path } = &config.store else {
            panic!("local config is embedded")
        };
        let store = Arc::new(
            common::store::sqlite::SqliteStore::open(path, config.free_credits).expect("store opens"),
        );
        TestApp {
            app: Functions::new(config, store).expect("every function starts"),
            dir,
        }
    }

    pub fn with_store(store: Arc<dyn Store>) -> Self {
        let dir = fixture_data_dir();
        let config = local_config(dir.path(), &[]);
        TestApp {
            app: Functions::new(config, store).expect("every function starts"),
            dir,
        }
    }

    pub fn store(&self) -> &dyn Store {
        self.app.store.as_ref()
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("visionpipe.db")
    }
}

impl Default for TestApp {
    fn default() -> Self {
        Self::new()
    }
}

pub fn account(id: &str) -> AccountId {
    AccountId::parse(id).expect("valid account id")
}

/// Stores `plaintext` (by hash, as create-key would) for `account` under `id`.
pub async fn seed_key(store: &dyn Store, account_id: &str, id: &str, plaintext: &str) {
    let key = NewKey {
        id: KeyId::parse(id).expect("valid key id"),
        account: account(account_id),
        name: common::key_name::KeyName::parse("Seeded").expect("valid name"),
        prefix: plaintext[..12].to_string(),
        hash: KeyHash::of(plaintext),
        created_at: common::clock::now(),
        expires_at: None,
        sessions_per_day: None,
    };
    store.create_key(key, Origin::default()).await.expect("seed key");
}

/// The account's balance (it must exist).
pub async fn credits(store: &dyn Store, account_id: &str) -> u64 {
    store
        .balance(&account(account_id))
        .await
        .expect("balance")
        .expect("the account exists")
        .credits
}

/// Spends every credit of the account behind `plaintext`.
pub async fn drain(store: &dyn Store, plaintext: &str) {
    loop {
        let debit = SessionDebit {
            session: common::ids::SessionId::generate(),
            at: common::clock::now(),
            origin: Origin::default(),
            spend: common::store::Spend::Credit,
        };
        match store
            .open_session(&KeyHash::of(plaintext), debit)
            .await
            .expect("debit")
        {
            SessionOutcome::Opened { .. } => continue,
            SessionOutcome::InsufficientCredits => return,
            SessionOutcome::InvalidKey => panic!("drain: key not seeded"),
        }
    }
}

/// Status and JSON body of a handler response.
pub fn parts(
    response: lambda_http::Response<lambda_http::Body>,
) -> (u16, serde_json::Value, lambda_http::http::HeaderMap) {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = serde_json::from_slice(response.body().as_ref()).expect("every response is JSON");
    (status, body, headers)
}

/// The contract's answer to a dependency that failed or is busy: `503`, `Retry-After: 1`, the
/// fixed message, and nothing of the failure's detail.
pub fn assert_unavailable(parts: &(u16, serde_json::Value, lambda_http::http::HeaderMap), what: &str) {
    let (status, body, headers) = parts;
    assert_eq!(*status, 503, "{what}: {body}");
    assert_eq!(headers["retry-after"], "1", "{what}");
    assert_eq!(
        body["error"], "Service temporarily unavailable, please retry",
        "{what}"
    );
    assert!(
        !body.to_string().contains("127.0.0.1"),
        "{what}: internal detail leaked: {body}"
    );
}

/// An idempotent session, then another paid session, then the retry of the first. Checks the
/// replay is the first answer byte for byte — with the balance recorded then, not the current
/// one — and returns the session token it carried.
pub async fn replay_after_another_session(app: &Functions) -> String {
    let first = app.create_session(fixture("create-session-idempotent")).await;
    assert_eq!(first.status(), 200);
    let (status, between, _) = parts(app.create_session(fixture("create-session")).await);
    assert_eq!((status, between["credits"].as_u64()), (200, Some(1)), "{between}");
    let replay = app.create_session(fixture("create-session-idempotent")).await;
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(
        first.body().as_ref(),
        replay.body().as_ref(),
        "the replay is the first answer, byte for byte"
    );
    let (_, body, _) = parts(replay);
    assert_eq!(
        body["credits"], 2,
        "the balance recorded with the first answer, not today's"
    );
    body["token"].as_str().expect("token").to_string()
}

/// Fails if `haystack` contains the token or its signature (the part that makes it usable).
pub fn assert_holds_no_token(haystack: &[u8], token: &str, what: &str) {
    let signature = token.rsplit('.').next().expect("a JWT");
    for needle in [token, signature] {
        assert!(
            !haystack.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "{what} holds a live session token"
        );
    }
}

/// The contract's message for a request without a usable `Authorization` header.
pub const MISSING_AUTH: &str = "Missing or invalid Authorization header";

/// The claims of a session token the app's create-session issued, verified with the published
/// key set alone (ES256, the `kid` naming its key, issuer and audience as configured).
pub fn session_claims(t: &TestApp, token: &str) -> common::playground::SessionClaims {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};
    let jwks = t.app.create_session.signer.jwks();
    let jwk = &jwks["keys"][0];
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.alg, Algorithm::ES256);
    assert_eq!(
        header.kid.as_deref(),
        jwk["kid"].as_str(),
        "kid names the JWKS key"
    );
    let key =
        DecodingKey::from_ec_components(jwk["x"].as_str().unwrap(), jwk["y"].as_str().unwrap()).unwrap();
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_issuer(&[&t.app.config.playground.issuer]);
    validation.set_audience(&[&t.app.config.playground.audience]);
    jsonwebtoken::decode::<common::playground::SessionClaims>(token, &key, &validation)
        .expect("token verifies with the JWKS")
        .claims
}

/// A JSON object's member names, sorted: what a success body must hold, field by field.
pub fn field_names(v: &serde_json::Value) -> Vec<&str> {
    let mut names: Vec<&str> = v
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    names.sort();
    names
}

/// `body` is the contract's error form with this status and exact message.
pub fn assert_error(status: u16, body: &serde_json::Value, want_status: u16, want_error: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["success"], false, "{body}");
    assert_eq!(body["error"], want_error, "{body}");
    assert!(body["code"].is_string(), "{body}");
}

/// A fixture app with `KEY_OK` seeded on the fixture account (3 free credits).
pub async fn app_with_key() -> TestApp {
    let t = TestApp::new();
    seed_key(t.store(), FIXTURE_ACCOUNT, FIXTURE_KEY_ID, KEY_OK).await;
    t
}
