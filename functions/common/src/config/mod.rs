//! Configuration, read once per cold start from the environment into typed settings.
//!
//! A malformed setting fails the cold start with a message naming the variable, never the first
//! request. Local runs get working defaults (console and playground signing keys generated once
//! under the data directory, the embedded store). In AWS nothing falls back
//! to a development default: a secret that is not configured is `None` here, and a function
//! that needs it refuses to start (see `App::from_env`), so each function can be given only the
//! secrets it uses. In AWS, secrets arrive through SSM Parameter Store (see [`crate::secrets`]).

use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    /// `make dev`, `cargo lambda watch`, tests, `vpctl` on a workstation.
    Local,
    /// A deployed Lambda function.
    Aws,
}

/// A secret string whose `Debug` never shows the value, wiped from memory when dropped.
#[derive(Clone)]
pub struct Secret(zeroize::Zeroizing<String>);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(zeroize::Zeroizing::new(value.into()))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[derive(Debug, Clone)]
pub enum StoreConfig {
    /// SQLite database file shared by every local function process.
    Embedded { path: PathBuf },
    /// The production store. Region, credentials and (locally) the endpoint come from the
    /// standard AWS variables, e.g. `AWS_ENDPOINT_URL_DYNAMODB`.
    DynamoDb { table: String },
}

/// Where the console's identity provider publishes the public keys its tokens verify with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsoleKeySource {
    /// A JWK set document (`https://` in AWS; `http://` too in local runs).
    Url(String),
    /// Local runs: the set of the local console signing key at this path (what `vpctl token`
    /// signs with), created on first use.
    LocalKey(PathBuf),
}

#[derive(Debug, Clone)]
pub struct ConsoleAuthConfig {
    pub keys: ConsoleKeySource,
    pub issuer: String,
    pub audience: String,
}

#[derive(Debug, Clone)]
pub enum SigningKeySource {
    /// PKCS#8 PEM given in the environment.
    Pem(Secret),
    /// Local runs only: generated on first use and persisted at this path.
    LocalFile(PathBuf),
}

/// The key that seals session tokens in idempotency records ([`crate::sealed`]).
#[derive(Debug, Clone)]
pub enum SealingKeySource {
    /// 32 bytes, base64, given in the environment (from SSM in AWS).
    Value(Secret),
    /// Local runs only: generated on first use and persisted at this path.
    LocalFile(PathBuf),
}

#[derive(Debug, Clone)]
pub struct PlaygroundConfig {
    /// `None` only in AWS when no signing key is configured.
    pub signing_key: Option<SigningKeySource>,
    /// `None` only in AWS when no sealing key is configured.
    pub replay_sealing_key: Option<SealingKeySource>,
    pub base_url: String,
    pub issuer: String,
    pub audience: String,
    pub token_ttl_secs: u64,
    /// Public keys (PEM `PUBLIC KEY` blocks) that `/.well-known/jwks.json` publishes: the
    /// current signing key's and, during a rotation, the previous one's. Locally, when unset,
    /// the local signing key's.
    pub public_keys: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub environment: Environment,
    pub store: StoreConfig,
    /// `None` only in AWS when no console key set is configured.
    pub console: Option<ConsoleAuthConfig>,
    pub playground: PlaygroundConfig,
    /// Credits granted once to every new account.
    pub free_credits: u64,
    /// The balance at which a debit raises `credits.low` (reaching 0 raises `credits.exhausted`).
    pub low_credit_threshold: u64,
    /// Sessions an account's test keys may open per UTC day, together.
    pub test_sessions_per_day: u32,
    /// Webhooks: the key that seals endpoints' signing secrets at rest (`None` only in AWS
    /// without one), and whether deliveries may go to `http://` and loopback (local runs).
    pub webhooks: WebhookConfig,
    /// Who may report leaked keys.
    pub secret_scanning: ReporterKeysSource,
    /// Every request answers within this, with a 503 when a dependency stalls (the function's
    /// timeout in the template is well above it).
    pub request_deadline: std::time::Duration,
}

impl Config {
    /// SDK timeouts inside the request deadline: (connect, attempt, whole operation with its
    /// retries). A stalled DynamoDB fails an operation well before the deadline, leaving room
    /// for the one confirming read that an ambiguous write needs.
    pub fn store_timeouts(&self) -> (std::time::Duration, std::time::Duration, std::time::Duration) {
        let deadline = self.request_deadline;
        let attempt = deadline * 3 / 8;
        (
            attempt.min(std::time::Duration::from_secs(1)),
            attempt,
            deadline * 3 / 4,
        )
    }
}

#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct ConfigError(pub String);

/// Every variable; docs/operating.md ("Configuration") gives each its default and meaning.
pub mod vars {
    pub const ENV: &str = "VP_ENV";
    pub const STORE: &str = "VP_STORE";
    pub const TABLE_NAME: &str = "VP_TABLE_NAME";
    pub const DATA_DIR: &str = "VP_DATA_DIR";
    pub const SQLITE_PATH: &str = "VP_SQLITE_PATH";
    pub const CONSOLE_JWKS_URL: &str = "VP_CONSOLE_JWKS_URL";
    pub const SIGNING_KEY_PARAMETER: &str = "VP_PLAYGROUND_SIGNING_KEY_PARAMETER";
    pub const CONSOLE_ISSUER: &str = "VP_CONSOLE_JWT_ISSUER";
    pub const CONSOLE_AUDIENCE: &str = "VP_CONSOLE_JWT_AUDIENCE";
    pub const SIGNING_KEY: &str = "VP_PLAYGROUND_SIGNING_KEY";
    /// 32 random bytes, base64: seals the tokens that idempotency records keep.
    pub const REPLAY_SEALING_KEY: &str = "VP_REPLAY_SEALING_KEY";
    pub const REPLAY_SEALING_KEY_PARAMETER: &str = "VP_REPLAY_SEALING_KEY_PARAMETER";
    /// 32 random bytes, base64: seals webhook endpoints' signing secrets in the table.
    pub const WEBHOOK_SEALING_KEY: &str = "VP_WEBHOOK_SEALING_KEY";
    pub const WEBHOOK_SEALING_KEY_PARAMETER: &str = "VP_WEBHOOK_SEALING_KEY_PARAMETER";
    pub const PUBLIC_KEYS: &str = "VP_PLAYGROUND_PUBLIC_KEYS";
    pub const PUBLIC_KEYS_PARAMETER: &str = "VP_PLAYGROUND_PUBLIC_KEYS_PARAMETER";
    pub const PLAYGROUND_BASE_URL: &str = "VP_PLAYGROUND_BASE_URL";
    pub const PLAYGROUND_ISSUER: &str = "VP_PLAYGROUND_TOKEN_ISSUER";
    pub const PLAYGROUND_AUDIENCE: &str = "VP_PLAYGROUND_TOKEN_AUDIENCE";
    pub const TOKEN_TTL: &str = "VP_SESSION_TOKEN_TTL_SECONDS";
    pub const FREE_CREDITS: &str = "VP_FREE_CREDITS";
    /// The balance at which a debit raises `credits.low` (1 to 1,000,000; default 1).
    pub const LOW_CREDIT_THRESHOLD: &str = "VP_LOW_CREDIT_THRESHOLD";
    /// Test-key sessions per account per UTC day (0 to 1,000,000; default 100).
    pub const TEST_SESSIONS_PER_DAY: &str = "VP_TEST_SESSIONS_PER_DAY";
    /// A pinned copy of GitHub's secret-scanning public key document (JSON), for deploys that
    /// cannot reach GitHub: when set, nothing is fetched.
    pub const SECRET_SCANNING_KEYS: &str = "VP_SECRET_SCANNING_KEYS";
    /// Where GitHub publishes that document (default [`super::GITHUB_SECRET_SCANNING_KEYS_URL`]
    /// in AWS; local runs use the local reporter key unless it is set).
    pub const SECRET_SCANNING_KEYS_URL: &str = "VP_SECRET_SCANNING_KEYS_URL";
    pub const REQUEST_DEADLINE_MS: &str = "VP_REQUEST_DEADLINE_MS";
    /// The SQS queue webhook deliveries go through (AWS, and local DynamoDB runs). Unset with
    /// the embedded store: its outbox table is the queue.
    pub const WEBHOOK_QUEUE_URL: &str = "VP_WEBHOOK_QUEUE_URL";
    /// The unit of the webhook retry schedule, in milliseconds (default 30,000: retries span
    /// 38 hours). Tests shorten it; the schedule's shape stays.
    pub const WEBHOOK_RETRY_UNIT_MS: &str = "VP_WEBHOOK_RETRY_UNIT_MS";
}

pub const DEFAULT_DATA_DIR: &str = ".visionpipe";
/// Local runs: the console signing key `vpctl token` signs with, under the data directory.
pub const LOCAL_CONSOLE_KEY_FILE: &str = "console-signing-key.pem";
/// Local runs: the key pair that stands in for GitHub's secret-scanning key (`vpctl
/// secret-scanning sign` signs reports with it).
pub const LOCAL_SECRET_SCANNING_KEY_FILE: &str = "secret-scanning-signing-key.pem";
/// Local runs: the replay sealing key, under the data directory.
pub const LOCAL_REPLAY_SEALING_KEY_FILE: &str = "replay-sealing-key";
/// Local runs: the webhook secrets' sealing key, under the data directory.
pub const LOCAL_WEBHOOK_SEALING_KEY_FILE: &str = "webhook-sealing-key";

#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub sealing_key: Option<SealingKeySource>,
    /// Local runs only: endpoints may be `http://` and on loopback (a test's receiver).
    pub allow_local: bool,
    /// Where deliveries are queued ([`vars::WEBHOOK_QUEUE_URL`]).
    pub queue_url: Option<String>,
    /// The retry schedule's unit ([`vars::WEBHOOK_RETRY_UNIT_MS`]).
    pub retry_unit: std::time::Duration,
}

/// The default unit of the webhook retry schedule (`crate::webhooks::retry`).
pub const DEFAULT_WEBHOOK_RETRY_UNIT_MS: u64 = 30_000;
/// GitHub's published secret-scanning public keys.
pub const GITHUB_SECRET_SCANNING_KEYS_URL: &str = "https://api.github.com/meta/public_keys/secret_scanning";
pub const DEFAULT_CONSOLE_ISSUER: &str = "https://visionpipe.com";
pub const DEFAULT_CONSOLE_AUDIENCE: &str = "visionpipe-cloud-api";
pub const DEFAULT_PLAYGROUND_BASE_URL: &str = "https://visionpipe3d.quochuy.dev";
pub const DEFAULT_PLAYGROUND_ISSUER: &str = "https://visionpipe3d.quochuy.dev/api";
pub const DEFAULT_PLAYGROUND_AUDIENCE: &str = "visionpipe-playground";
pub const DEFAULT_TOKEN_TTL_SECS: u64 = 86_400;
pub const DEFAULT_FREE_CREDITS: u64 = 3;
/// 4 s: a stalled store answers 503 in under 5 s; the functions' timeout is 10 s.
pub const DEFAULT_REQUEST_DEADLINE_MS: u64 = 4_000;

/// Where the secret-scanning reporters' public keys come from.
#[derive(Debug, Clone)]
pub enum ReporterKeysSource {
    /// A pinned copy of GitHub's key document (`VP_SECRET_SCANNING_KEYS`): never fetched, so a
    /// rotation at GitHub needs a redeploy.
    Document(String),
    /// The document's URL (`VP_SECRET_SCANNING_KEYS_URL`, GitHub's in AWS by default), fetched
    /// at cold start and again when a report names a key it does not hold.
    Url(String),
    /// Local runs: the public half of a key pair generated once at this path.
    LocalKey(PathBuf),
}

/// `url` if it is `https://` (or, in local runs, `http://`); otherwise an error naming `var`.
fn https_url(var: &str, url: String, local: bool) -> Result<String, ConfigError> {
    if url.starts_with("https://") || (local && url.starts_with("http://")) {
        return Ok(url);
    }
    Err(ConfigError(format!(
        "{var} must be an https:// URL{}",
        if local { " (or http:// in local runs)" } else { "" }
    )))
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// The console settings, or the error that names what to configure.
    pub fn console(&self) -> Result<&ConsoleAuthConfig, ConfigError> {
        self.console.as_ref().ok_or_else(|| {
            ConfigError(format!(
                "{} (the console identity provider's JWK set) is required when running in AWS",
                vars::CONSOLE_JWKS_URL
            ))
        })
    }

    /// The playground signing key source, or the error that names what to configure.
    pub fn signing_key(&self) -> Result<&SigningKeySource, ConfigError> {
        self.playground.signing_key.as_ref().ok_or_else(|| {
            ConfigError(format!(
                "{} (or {}) is required when running in AWS",
                vars::SIGNING_KEY,
                vars::SIGNING_KEY_PARAMETER
            ))
        })
    }

    /// The replay sealing key source, or the error that names what to configure.
    pub fn replay_sealing_key(&self) -> Result<&SealingKeySource, ConfigError> {
        self.playground.replay_sealing_key.as_ref().ok_or_else(|| {
            ConfigError(format!(
                "{} (or {}) is required when running in AWS",
                vars::REPLAY_SEALING_KEY,
                vars::REPLAY_SEALING_KEY_PARAMETER
            ))
        })
    }

    /// The webhook sealing key source, or the error that names what to configure.
    pub fn webhook_sealing_key(&self) -> Result<&SealingKeySource, ConfigError> {
        self.webhooks.sealing_key.as_ref().ok_or_else(|| {
            ConfigError(format!(
                "{} (or {}) is required when running in AWS",
                vars::WEBHOOK_SEALING_KEY,
                vars::WEBHOOK_SEALING_KEY_PARAMETER
            ))
        })
    }

    /// Builds the configuration from any variable source (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let environment = match get(vars::ENV).as_deref() {
            Some("local") => Environment::Local,
            Some("aws") => Environment::Aws,
            Some(other) => {
                return Err(ConfigError(format!(
                    "{} must be `local` or `aws`, not `{other}`",
                    vars::ENV
                )));
            }
            // Lambda sets LAMBDA_TASK_ROOT in every real execution environment; `cargo lambda
            // watch` does not, so an unconfigured deployed function can never pass for local.
            None if get("LAMBDA_TASK_ROOT").is_some() => Environment::Aws,
            None => Environment::Local,
        };
        let local = environment == Environment::Local;
        let data_dir = PathBuf::from(get(vars::DATA_DIR).unwrap_or_else(|| DEFAULT_DATA_DIR.into()));

        let table = get(vars::TABLE_NAME);
        let store = match (get(vars::STORE).as_deref(), table) {
            (Some("dynamodb") | None, Some(table)) => StoreConfig::DynamoDb { table },
            (Some("dynamodb"), None) => {
                return Err(ConfigError(format!(
                    "{}=dynamodb needs {}",
                    vars::STORE,
                    vars::TABLE_NAME
                )));
            }
            // A deployed function never falls back to a file on its own disk.
            (Some("embedded") | None, _) if !local => {
                return Err(ConfigError(format!(
                    "running in AWS needs the DynamoDB store: set {} (the embedded store is for local runs only)",
                    vars::TABLE_NAME
                )));
            }
            (Some("embedded") | None, _) => StoreConfig::Embedded {
                path: get(vars::SQLITE_PATH)
                    .map(PathBuf::from)
                    .unwrap_or_else(|| data_dir.join("visionpipe.db")),
            },
            (Some(other), _) => {
                return Err(ConfigError(format!(
                    "{} must be `embedded` or `dynamodb`, not `{other}`",
                    vars::STORE
                )));
            }
        };

        let console_keys = match get(vars::CONSOLE_JWKS_URL) {
            Some(url) => Some(ConsoleKeySource::Url(https_url(
                vars::CONSOLE_JWKS_URL,
                url,
                local,
            )?)),
            None if local => Some(ConsoleKeySource::LocalKey(data_dir.join(LOCAL_CONSOLE_KEY_FILE))),
            None => None,
        };

        let signing_key = match get(vars::SIGNING_KEY) {
            Some(pem) => Some(SigningKeySource::Pem(Secret::new(pem))),
            None if local => Some(SigningKeySource::LocalFile(
                data_dir.join("playground-signing-key.pem"),
            )),
            None => None,
        };

        let replay_sealing_key = match get(vars::REPLAY_SEALING_KEY) {
            Some(key) => Some(SealingKeySource::Value(Secret::new(key))),
            None if local => Some(SealingKeySource::LocalFile(
                data_dir.join(LOCAL_REPLAY_SEALING_KEY_FILE),
            )),
            None => None,
        };

        let webhook_sealing_key = match get(vars::WEBHOOK_SEALING_KEY) {
            Some(key) => Some(SealingKeySource::Value(Secret::new(key))),
            None if local => Some(SealingKeySource::LocalFile(
                data_dir.join(LOCAL_WEBHOOK_SEALING_KEY_FILE),
            )),
            None => None,
        };

        let secret_scanning = match (
            get(vars::SECRET_SCANNING_KEYS),
            get(vars::SECRET_SCANNING_KEYS_URL),
        ) {
            (Some(document), _) => ReporterKeysSource::Document(document),
            (None, Some(url)) => {
                ReporterKeysSource::Url(https_url(vars::SECRET_SCANNING_KEYS_URL, url, local)?)
            }
            (None, None) if local => {
                ReporterKeysSource::LocalKey(data_dir.join(LOCAL_SECRET_SCANNING_KEY_FILE))
            }
            (None, None) => ReporterKeysSource::Url(GITHUB_SECRET_SCANNING_KEYS_URL.into()),
        };

        // The session URL carries the session's token: in AWS it never travels in the clear.
        let base_url = https_url(
            vars::PLAYGROUND_BASE_URL,
            get(vars::PLAYGROUND_BASE_URL).unwrap_or_else(|| DEFAULT_PLAYGROUND_BASE_URL.into()),
            local,
        )?;

        Ok(Config {
            environment,
            store,
            console: console_keys.map(|keys| ConsoleAuthConfig {
                keys,
                issuer: get(vars::CONSOLE_ISSUER).unwrap_or_else(|| DEFAULT_CONSOLE_ISSUER.into()),
                audience: get(vars::CONSOLE_AUDIENCE).unwrap_or_else(|| DEFAULT_CONSOLE_AUDIENCE.into()),
            }),
            playground: PlaygroundConfig {
                signing_key,
                replay_sealing_key,
                base_url: base_url.trim_end_matches('/').to_string(),
                issuer: get(vars::PLAYGROUND_ISSUER).unwrap_or_else(|| DEFAULT_PLAYGROUND_ISSUER.into()),
                audience: get(vars::PLAYGROUND_AUDIENCE)
                    .unwrap_or_else(|| DEFAULT_PLAYGROUND_AUDIENCE.into()),
                token_ttl_secs: number(&get, vars::TOKEN_TTL, DEFAULT_TOKEN_TTL_SECS, 60..=7 * 86_400)?,
                public_keys: get(vars::PUBLIC_KEYS),
            },
            free_credits: number(&get, vars::FREE_CREDITS, DEFAULT_FREE_CREDITS, 0..=1_000_000)?,
            secret_scanning,
            low_credit_threshold: number(
                &get,
                vars::LOW_CREDIT_THRESHOLD,
                crate::store::DEFAULT_LOW_CREDIT_THRESHOLD,
                1..=1_000_000,
            )?,
            webhooks: WebhookConfig {
                sealing_key: webhook_sealing_key,
                allow_local: local,
                queue_url: get(vars::WEBHOOK_QUEUE_URL),
                retry_unit: std::time::Duration::from_millis(number(
                    &get,
                    vars::WEBHOOK_RETRY_UNIT_MS,
                    DEFAULT_WEBHOOK_RETRY_UNIT_MS,
                    1..=DEFAULT_WEBHOOK_RETRY_UNIT_MS,
                )?),
            },
            test_sessions_per_day: number(
                &get,
                vars::TEST_SESSIONS_PER_DAY,
                u64::from(crate::store::DEFAULT_TEST_SESSIONS_PER_DAY),
                0..=u64::from(crate::store::MAX_SESSIONS_PER_DAY),
            )? as u32,
            request_deadline: std::time::Duration::from_millis(number(
                &get,
                vars::REQUEST_DEADLINE_MS,
                DEFAULT_REQUEST_DEADLINE_MS,
                100..=60_000,
            )?),
        })
    }
}

fn number(
    get: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, ConfigError> {
    let Some(raw) = get(name) else { return Ok(default) };
    raw.trim()
        .parse::<u64>()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| {
            ConfigError(format!(
                "{name} must be a whole number in {}..={}, got `{raw}`",
                range.start(),
                range.end()
            ))
        })
}

#[cfg(test)]
mod tests;
