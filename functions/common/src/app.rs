//! Everything a function builds once per cold start and then shares with every request.

use crate::config::{Config, ConfigError, SealingKeySource, SigningKeySource, StoreConfig};
use crate::console_auth::ConsoleVerifier;
use crate::key_cache::KeyCache;
use crate::playground::{PlaygroundSigner, SigningKeyError};
use crate::sealed::{ReplaySeal, SealingKeyError};
use crate::store::{Store, StoreError, dynamodb::DynamoStore};
use std::future::Future;
use std::sync::Arc;

pub struct App {
    pub config: Config,
    pub store: Arc<dyn Store>,
    /// Present whenever the function [`Needs`] it (checked at cold start).
    pub console: Option<ConsoleVerifier>,
    /// Present whenever the function [`Needs`] it (checked at cold start).
    pub playground: Option<PlaygroundSigner>,
    /// Present with `playground`: seals the tokens idempotency records keep.
    pub replay_seal: Option<ReplaySeal>,
    /// API keys this instance has resolved (create-session's warm path).
    pub keys: KeyCache,
    /// Who may report leaked keys: present in the secret-scanning function
    /// ([`App::with_reporters`]).
    pub reporters: Option<crate::secret_scanning::ReporterKeys>,
}

/// The secrets a function uses. In AWS each function is given only these, so a function must
/// not insist on the others; what it does need must be there before the first request. Each
/// function holds exactly what it needs, nothing it merely could build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    pub console: bool,
    pub playground: bool,
}

impl Needs {
    /// The console key endpoints: verify console tokens.
    pub const CONSOLE: Needs = Needs {
        console: true,
        playground: false,
    };
    /// The session endpoint: sign playground tokens.
    pub const PLAYGROUND: Needs = Needs {
        console: false,
        playground: true,
    };
    /// Neither (the secret-scanning endpoint, which verifies reporters' signatures instead:
    /// see [`App::with_reporters`]).
    pub const NEITHER: Needs = Needs {
        console: false,
        playground: false,
    };
    pub const ALL: Needs = Needs {
        console: true,
        playground: true,
    };
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    SigningKey(#[from] SigningKeyError),
    #[error(transparent)]
    SealingKey(#[from] SealingKeyError),
    #[error("cannot open the store: {0}")]
    Store(#[from] StoreError),
}

impl App {
    /// Reads the configuration with `load` ([`load_config`] or
    /// [`load_config_without_parameters`]), builds the store and the console verifier if
    /// `console`, then lets `prepare` add what only this function uses ([`App::with_playground`],
    /// [`App::with_reporters`]); any problem fails the cold start. `prepare` is a generic step,
    /// not a flag, so that each binary links only the key handling it takes.
    pub async fn from_env<L, LF, P>(console: bool, load: L, prepare: P) -> Result<Self, StartupError>
    where
        L: FnOnce() -> LF,
        LF: Future<Output = Result<Loaded, StartupError>>,
        P: FnOnce(App) -> Result<App, StartupError>,
    {
        let started = std::time::Instant::now();
        let (config, sdk) = load().await?;
        let configured = started.elapsed();
        let store = open_store(&config, sdk.as_ref()).await?;
        let stored = started.elapsed();
        let app = prepare(Self::with_console(config, store, console)?)?;
        // Where a cold start's time goes (the bench and CloudWatch both read this line).
        tracing::info!(
            config_us = configured.as_micros() as u64,
            store_us = (stored - configured).as_micros() as u64,
            keys_us = (started.elapsed() - stored).as_micros() as u64,
            "init phases"
        );
        Ok(app)
    }

    /// Builds the app around a given store with every capability (tests inject stores here).
    pub fn new(config: Config, store: Arc<dyn Store>) -> Result<Self, StartupError> {
        Self::with_needs(config, store, Needs::ALL)?.with_reporters()
    }

    /// The same app, also holding the secret-scanning reporters' keys (or failing the cold start
    /// naming what to configure). A step of its own rather than a [`Needs`] flag: only the
    /// secret-scanning function calls it, so only its binary links the key parsing and the
    /// ECDSA verification (each other function's zip stays ~25 KB smaller).
    pub fn with_reporters(mut self) -> Result<Self, StartupError> {
        let source = self.config.secret_scanning.as_ref().ok_or_else(|| {
            ConfigError(format!(
                "{} (GitHub's secret-scanning public keys) is required when running in AWS",
                crate::config::vars::SECRET_SCANNING_KEYS
            ))
        })?;
        self.reporters = Some(source.keys()?);
        Ok(self)
    }

    /// The app with what `needs` asks for (tests and the bench; the functions start through
    /// [`App::from_env`]).
    pub fn with_needs(config: Config, store: Arc<dyn Store>, needs: Needs) -> Result<Self, StartupError> {
        Self::with_console(config, store, needs.console)?.with_playground_if(needs)
    }

    /// [`App::with_playground`] when `needs` asks for it, else the app as it is.
    pub fn with_playground_if(self, needs: Needs) -> Result<Self, StartupError> {
        if needs.playground {
            self.with_playground()
        } else {
            Ok(self)
        }
    }

    /// The app with its store and, if `console`, the console token verifier (failing when no
    /// key set is configured); nothing else.
    fn with_console(config: Config, store: Arc<dyn Store>, console: bool) -> Result<Self, StartupError> {
        let console = match console {
            true => Some(ConsoleVerifier::new(config.console()?)),
            false => None,
        };
        Ok(App {
            keys: KeyCache::default(),
            reporters: None,
            console,
            playground: None,
            replay_seal: None,
            store,
            config,
        })
    }

    /// The same app, also signing session tokens and sealing them for replays (create-session),
    /// or failing the cold start naming the missing key. Both secrets leave the configuration
    /// here: parsed once into key types that wipe themselves, the text they came from dropped.
    pub fn with_playground(mut self) -> Result<Self, StartupError> {
        self.playground = Some(PlaygroundSigner::from_config(
            self.config.signing_key()?,
            &self.config.playground,
        )?);
        self.replay_seal = Some(ReplaySeal::from_source(self.config.replay_sealing_key()?)?);
        // Key material given in the environment is dropped (and wiped); a local key file's
        // path, which holds no secret, stays for the local key set (jwks).
        let playground = &mut self.config.playground;
        if let Some(SigningKeySource::Pem(_)) = playground.signing_key {
            playground.signing_key = None;
        }
        if let Some(SealingKeySource::Value(_)) = playground.replay_sealing_key {
            playground.replay_sealing_key = None;
        }
        Ok(self)
    }
}

/// The AWS SDK configuration every function uses, with an HTTPS client that trusts Amazon Trust
/// Services' roots only. Every endpoint we call (DynamoDB, SSM, STS) presents an ATS certificate,
/// and the SDK's default client would instead read and parse the whole system CA store (about 150
/// files here) at every cold start: that was most of create-session's cold start and memory.
/// Lambda functions read region and credentials from their environment ([`crate::aws_env`]);
/// with the `aws-config` feature (vpctl) the SDK's standard chain is used.
pub async fn sdk_config(
    env: &std::collections::HashMap<String, String>,
) -> Result<aws_types::SdkConfig, StartupError> {
    #[cfg(feature = "aws-config")]
    {
        let _ = env;
        Ok(aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(amazon_trust_client())
            .load()
            .await)
    }
    #[cfg(not(feature = "aws-config"))]
    {
        crate::aws_env::sdk_config(env, amazon_trust_client()).map_err(|e| ConfigError(e.to_string()).into())
    }
}

/// Amazon Root CA 1–4 and the Starfield Services root that cross-signs them (PEM, as shipped
/// by the system CA store).
const AMAZON_TRUST_ROOTS: &[u8] = include_bytes!("amazon-trust-roots.pem");

fn amazon_trust_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
    let trust = TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(AMAZON_TRUST_ROOTS);
    let context = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .expect("the embedded roots are valid PEM");
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(context)
        .build_https()
}

/// Configuration and, when one was needed, the AWS SDK configuration (loaded only once).
pub type Loaded = (Config, Option<aws_types::SdkConfig>);

/// The configuration from the environment, with secrets named by `*_PARAMETER` variables read
/// from SSM (create-session, jwks, vpctl).
pub async fn load_config() -> Result<Loaded, StartupError> {
    load::<true>(std::env::vars().collect()).await
}

/// The configuration from the environment, for functions given no SSM parameter (the console
/// endpoints, the ledger): a `*_PARAMETER` variable fails the cold start. The SSM client is then
/// not in their binaries at all.
pub async fn load_config_without_parameters() -> Result<Loaded, StartupError> {
    load::<false>(std::env::vars().collect()).await
}

/// Loads from `env`. `PARAMETERS` is a compile-time switch, so that each function's binary
/// links the SSM client only if it reads parameters.
pub async fn load<const PARAMETERS: bool>(
    mut env: std::collections::HashMap<String, String>,
) -> Result<Loaded, StartupError> {
    let wanted = crate::secrets::wanted(&env);
    if !PARAMETERS && let Some((variable, name)) = wanted.first() {
        return Err(ConfigError(format!(
            "this function reads no SSM parameter, but {variable} is to come from {name}"
        ))
        .into());
    }
    let needs_sdk = !wanted.is_empty() || env.contains_key(crate::config::vars::TABLE_NAME);
    let sdk = if needs_sdk {
        Some(sdk_config(&env).await?)
    } else {
        None
    };
    if PARAMETERS && let Some(sdk) = &sdk {
        crate::secrets::resolve(&mut env, &aws_sdk_ssm::Client::new(sdk)).await?;
    }
    Ok((Config::from_lookup(|name| env.get(name).cloned())?, sdk))
}

/// The store the configuration selects.
pub async fn open_store(
    config: &Config,
    sdk: Option<&aws_types::SdkConfig>,
) -> Result<Arc<dyn Store>, StartupError> {
    match &config.store {
        #[cfg(feature = "embedded")]
        StoreConfig::Embedded { path } => Ok(Arc::new(
            crate::store::sqlite::SqliteStore::open(path, config.free_credits)?
                .with_low_credit_threshold(config.low_credit_threshold),
        )),
        #[cfg(not(feature = "embedded"))]
        StoreConfig::Embedded { .. } => Err(ConfigError(format!(
            "this build has no embedded store (built without the `embedded` feature): set {}",
            crate::config::vars::TABLE_NAME
        ))
        .into()),
        StoreConfig::DynamoDb { table } => Ok(Arc::new(DynamoStore::new(
            dynamodb_client(config, sdk)?,
            table.clone(),
            config.free_credits,
        ))),
    }
}

/// The configured DynamoDB store, for the ledger function (which has no use for any other).
pub async fn dynamodb_store() -> Result<DynamoStore, StartupError> {
    let (config, sdk) = load_config_without_parameters().await?;
    match &config.store {
        StoreConfig::DynamoDb { table } => Ok(DynamoStore::new(
            dynamodb_client(&config, sdk.as_ref())?,
            table.clone(),
            config.free_credits,
        )
        .with_low_credit_threshold(config.low_credit_threshold)),
        StoreConfig::Embedded { .. } => Err(ConfigError(format!(
            "the ledger function follows a DynamoDB stream: set {}",
            crate::config::vars::TABLE_NAME
        ))
        .into()),
    }
}

/// The DynamoDB client every function uses, with the configured timeouts. `sdk` is what
/// [`load`] built: it builds one whenever `VP_TABLE_NAME` is set, which the DynamoDB store needs,
/// so `None` here means a caller skipped `load` — refused rather than read a second time from
/// the process environment, which need not be the one the configuration came from.
pub fn dynamodb_client(
    config: &Config,
    sdk: Option<&aws_types::SdkConfig>,
) -> Result<aws_sdk_dynamodb::Client, StartupError> {
    let sdk = sdk.ok_or_else(|| {
        ConfigError("the DynamoDB store needs the AWS SDK configuration that app::load builds".into())
    })?;
    // Without timeouts a stalled DynamoDB holds every request until the platform kills
    // the function and the gateway answers with its own body.
    let (connect, attempt, operation) = config.store_timeouts();
    let timeouts = aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
        .connect_timeout(connect)
        .operation_attempt_timeout(attempt)
        .operation_timeout(operation)
        .build();
    Ok(aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(sdk)
            .timeout_config(timeouts)
            .build(),
    ))
}
