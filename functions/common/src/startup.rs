//! A function's cold start: the configuration (with its secrets from SSM), the AWS SDK
//! configuration, and the store and console verifier built from them on request.

use crate::config::{Config, ConfigError, StoreConfig};
use crate::console_auth::ConsoleVerifier;
use crate::playground::SigningKeyError;
use crate::sealed::SealingKeyError;
use crate::store::{Store, StoreError, dynamodb::DynamoStore};
use std::collections::HashMap;
use std::sync::Arc;

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

/// What every function's cold start builds its state from: the configuration, the AWS SDK
/// configuration when the environment names AWS resources, and (in tests) a store to use
/// instead of the configured one. A function's [`crate::runtime::State`] takes from it what it
/// needs; nothing is built that the function does not ask for.
pub struct Startup {
    pub config: Config,
    sdk: Option<aws_types::SdkConfig>,
    /// A store given from outside (tests), used instead of opening the configured one.
    store: Option<Arc<dyn Store>>,
}

impl Startup {
    /// The configuration from the process environment. `PARAMETERS`: secrets named by
    /// `*_PARAMETER` variables are read from SSM first (a compile-time switch, so that only the
    /// functions that read parameters link the SSM client); otherwise such a variable fails the
    /// cold start.
    pub async fn from_process_env<const PARAMETERS: bool>() -> Result<Self, StartupError> {
        Self::from_env::<PARAMETERS>(std::env::vars().collect()).await
    }

    /// [`Startup::from_process_env`] from the variables `env`.
    pub async fn from_env<const PARAMETERS: bool>(
        env: HashMap<String, String>,
    ) -> Result<Self, StartupError> {
        Self::from_env_with::<PARAMETERS, _, _>(env, None::<fn() -> std::future::Ready<aws_types::SdkConfig>>)
            .await
    }

    /// [`Startup::from_env`], with the SDK configuration (when one is needed) made by `chain`
    /// instead of read from `env` by [`crate::aws_env`]: vpctl, which an operator runs with
    /// profiles, passes aws-config's standard chain. Functions pass `None`, so their binaries
    /// link no chain (a closure never passed is no code).
    pub async fn from_env_with<const PARAMETERS: bool, F, Fut>(
        env: HashMap<String, String>,
        chain: Option<F>,
    ) -> Result<Self, StartupError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = aws_types::SdkConfig>,
    {
        let (config, sdk) = load::<PARAMETERS, F, Fut>(env, chain).await?;
        Ok(Startup {
            config,
            sdk,
            store: None,
        })
    }

    /// The configuration alone, for functions that use no AWS service (the console page, the
    /// fallback): no SDK configuration is built, so their binaries link none of the SDK.
    pub fn config_only() -> Result<Self, StartupError> {
        Ok(Startup {
            config: Config::from_env()?,
            sdk: None,
            store: None,
        })
    }

    /// A startup whose AWS SDK configuration is given (tests point it at a local server).
    pub fn with_sdk(config: Config, sdk: aws_types::SdkConfig) -> Self {
        Startup {
            config,
            sdk: Some(sdk),
            store: None,
        }
    }

    /// A startup around a given store (tests inject stores here).
    pub fn with_store(config: Config, store: Arc<dyn Store>) -> Self {
        Startup {
            config,
            sdk: None,
            store: Some(store),
        }
    }

    /// The store the configuration selects (or the one given to [`Startup::with_store`]).
    pub fn store(&self) -> Result<Arc<dyn Store>, StartupError> {
        match &self.store {
            Some(store) => Ok(store.clone()),
            None => open_store(&self.config, self.sdk.as_ref()),
        }
    }

    /// The configured DynamoDB store itself (the ledger function follows its stream), with the
    /// webhook queue when the configuration names one: the ledger function and the key
    /// reminders put the events they raise on it.
    pub fn dynamodb_store(&self) -> Result<DynamoStore, StartupError> {
        match &self.config.store {
            StoreConfig::DynamoDb { table } => {
                let store = dynamo_store(&self.config, self.sdk.as_ref(), table)?;
                Ok(match (&self.config.webhooks.queue_url, self.sdk.as_ref()) {
                    (Some(url), Some(sdk)) => {
                        store.with_webhook_queue(crate::webhooks::queue::SqsQueue::new(sdk, url.clone()))
                    }
                    _ => store,
                })
            }
            StoreConfig::Embedded { .. } => Err(ConfigError(format!(
                "the ledger function follows a DynamoDB stream: set {}",
                crate::config::vars::TABLE_NAME
            ))
            .into()),
        }
    }

    /// What sends `key.expiring` reminders (the key-reminders function alone asks): on
    /// DynamoDB the store with the webhook queue the configuration names, or the embedded store,
    /// which keeps its own outbox.
    pub fn reminders(&self) -> Result<Arc<dyn crate::store::Reminders>, StartupError> {
        match &self.config.store {
            StoreConfig::DynamoDb { .. } => Ok(Arc::new(self.dynamodb_store()?)),
            #[cfg(feature = "embedded")]
            StoreConfig::Embedded { path } => Ok(Arc::new(embedded_store(&self.config, path)?)),
            #[cfg(not(feature = "embedded"))]
            StoreConfig::Embedded { .. } => Err(no_embedded_store()),
        }
    }

    /// The AWS SDK configuration, when the environment names AWS resources.
    pub fn sdk(&self) -> Option<&aws_types::SdkConfig> {
        self.sdk.as_ref()
    }

    /// What delivers webhook events: the store, the key that opens endpoints' signing
    /// secrets, a sender that connects only to public addresses (loopback too in local runs),
    /// and the retry schedule.
    pub fn deliverer(&self) -> Result<crate::webhooks::deliverer::Deliverer, StartupError> {
        use crate::webhooks::{delivery::Sender, guard, retry::Schedule};
        let webhooks = &self.config.webhooks;
        let policy = guard::Policy {
            allow_local: webhooks.allow_local,
        };
        Ok(crate::webhooks::deliverer::Deliverer {
            store: self.delivery_store()?,
            seal: crate::sealed::Seal::from_source(self.config.webhook_sealing_key()?)?,
            sender: Sender::new(Arc::new(guard::SystemResolver), policy),
            schedule: Schedule {
                unit: webhooks.retry_unit,
            },
        })
    }

    /// The store as delivering needs it ([`crate::store::webhooks::DeliveryStore`]), built as
    /// that alone: a function that delivers and keeps nothing else links none of the rest.
    fn delivery_store(&self) -> Result<Arc<dyn crate::store::webhooks::DeliveryStore>, StartupError> {
        if let Some(store) = &self.store {
            return Ok(store.clone());
        }
        match &self.config.store {
            StoreConfig::DynamoDb { table } => {
                Ok(Arc::new(dynamo_store(&self.config, self.sdk.as_ref(), table)?))
            }
            #[cfg(feature = "embedded")]
            StoreConfig::Embedded { path } => Ok(Arc::new(embedded_store(&self.config, path)?)),
            #[cfg(not(feature = "embedded"))]
            StoreConfig::Embedded { .. } => Err(no_embedded_store()),
        }
    }

    /// Where the sender puts off a failed delivery: the SQS queue when one is configured (AWS,
    /// local DynamoDB runs), else the embedded store's outbox.
    pub fn requeue(&self) -> Result<Arc<dyn crate::webhooks::queue::Requeue>, StartupError> {
        if let Some(url) = &self.config.webhooks.queue_url {
            let sdk = self.sdk.as_ref().ok_or_else(|| {
                ConfigError(format!(
                    "{} needs the AWS configuration (set {})",
                    crate::config::vars::WEBHOOK_QUEUE_URL,
                    crate::config::vars::TABLE_NAME
                ))
            })?;
            return Ok(Arc::new(crate::webhooks::queue::SqsQueue::new(sdk, url.clone())));
        }
        match &self.config.store {
            #[cfg(feature = "embedded")]
            StoreConfig::Embedded { path } => Ok(Arc::new(embedded_store(&self.config, path)?)),
            _ => Err(ConfigError(format!(
                "the webhook sender needs its queue: set {}",
                crate::config::vars::WEBHOOK_QUEUE_URL
            ))
            .into()),
        }
    }

    /// The console token verifier, or the error that names what to configure.
    pub fn console(&self) -> Result<ConsoleVerifier, StartupError> {
        Ok(ConsoleVerifier::new(self.config.console()?))
    }
}

/// The AWS SDK configuration every function uses: region, credentials and endpoints from its
/// environment ([`crate::aws_env`]), with an HTTPS client that trusts Amazon Trust Services'
/// roots only. Every endpoint we call (DynamoDB, SSM, STS) presents an ATS certificate, and the
/// SDK's default client would instead read and parse the whole system CA store (about 150 files
/// here) at every cold start: that was most of create-session's cold start and memory.
pub fn sdk_config(env: &HashMap<String, String>) -> Result<aws_types::SdkConfig, StartupError> {
    crate::aws_env::sdk_config(env, amazon_trust_client()).map_err(|e| ConfigError(e.to_string()).into())
}

/// Amazon Root CA 1–4 and the Starfield Services root that cross-signs them (PEM, as shipped
/// by the system CA store).
const AMAZON_TRUST_ROOTS: &[u8] = include_bytes!("amazon-trust-roots.pem");

/// The HTTPS client of [`sdk_config`], for a caller that builds its SDK configuration itself.
pub fn amazon_trust_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
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

/// Loads from `env`. `PARAMETERS` is a compile-time switch, so that each function's binary
/// links the SSM client only if it reads parameters. Secret values are wiped from `env` once
/// the configuration holds them.
async fn load<const PARAMETERS: bool, F, Fut>(
    mut env: HashMap<String, String>,
    chain: Option<F>,
) -> Result<(Config, Option<aws_types::SdkConfig>), StartupError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = aws_types::SdkConfig>,
{
    let wanted = crate::secrets::wanted(&env);
    if !PARAMETERS && let Some((variable, name)) = wanted.first() {
        return Err(ConfigError(format!(
            "this function reads no SSM parameter, but {variable} is to come from {name}"
        ))
        .into());
    }
    let needs_sdk = !wanted.is_empty() || env.contains_key(crate::config::vars::TABLE_NAME);
    let sdk = if needs_sdk {
        Some(match chain {
            Some(chain) => chain().await,
            None => sdk_config(&env)?,
        })
    } else {
        None
    };
    if PARAMETERS && let Some(sdk) = &sdk {
        crate::secrets::resolve(&mut env, &crate::secrets::client(sdk)).await?;
    }
    let config = Config::from_lookup(|name| env.get(name).cloned());
    for (value_var, _) in crate::secrets::FROM_PARAMETERS {
        if let Some(value) = env.get_mut(value_var) {
            zeroize::Zeroize::zeroize(value);
        }
    }
    Ok((config?, sdk))
}

/// The store the configuration selects.
fn open_store(config: &Config, sdk: Option<&aws_types::SdkConfig>) -> Result<Arc<dyn Store>, StartupError> {
    match &config.store {
        #[cfg(feature = "embedded")]
        StoreConfig::Embedded { path } => Ok(Arc::new(embedded_store(config, path)?)),
        #[cfg(not(feature = "embedded"))]
        StoreConfig::Embedded { .. } => Err(no_embedded_store()),
        StoreConfig::DynamoDb { table } => Ok(Arc::new(dynamo_store(config, sdk, table)?)),
    }
}

/// The embedded store at `path`, with the deployment's low-credit threshold.
#[cfg(feature = "embedded")]
fn embedded_store(
    config: &Config,
    path: &std::path::Path,
) -> Result<crate::store::sqlite::SqliteStore, StartupError> {
    Ok(
        crate::store::sqlite::SqliteStore::open(path, config.free_credits)?
            .with_low_credit_threshold(config.low_credit_threshold),
    )
}

/// Lambda builds leave the embedded store out: what to configure instead.
#[cfg(not(feature = "embedded"))]
fn no_embedded_store() -> StartupError {
    ConfigError(format!(
        "this build has no embedded store (built without the `embedded` feature): set {}",
        crate::config::vars::TABLE_NAME
    ))
    .into()
}

/// The DynamoDB store on `table`, with the deployment's low-credit threshold.
fn dynamo_store(
    config: &Config,
    sdk: Option<&aws_types::SdkConfig>,
    table: &str,
) -> Result<DynamoStore, StartupError> {
    Ok(
        DynamoStore::new(dynamodb_client(config, sdk)?, table, config.free_credits)
            .with_low_credit_threshold(config.low_credit_threshold),
    )
}

/// The DynamoDB client every function uses, with the configured timeouts. `sdk` is what
/// [`load`] built: it builds one whenever `VP_TABLE_NAME` is set, which the DynamoDB store needs,
/// so `None` here means a caller skipped `load` (a [`Startup::with_store`]) — refused rather
/// than read a second time from the process environment, which need not be the one the
/// configuration came from.
pub fn dynamodb_client(
    config: &Config,
    sdk: Option<&aws_types::SdkConfig>,
) -> Result<aws_sdk_dynamodb::Client, StartupError> {
    let sdk = sdk.ok_or_else(|| {
        ConfigError("the DynamoDB store needs the AWS SDK configuration that Startup::from_env builds".into())
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
