//! Everything a function builds once per cold start and then shares with every request.

use crate::config::{Config, ConfigError, StoreConfig};
use crate::console_auth::ConsoleVerifier;
use crate::playground::{PlaygroundSigner, SigningKeyError};
use crate::store::{Store, StoreError, dynamodb::DynamoStore, sqlite::SqliteStore};
use std::sync::Arc;

pub struct App {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub console: ConsoleVerifier,
    pub playground: PlaygroundSigner,
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    SigningKey(#[from] SigningKeyError),
    #[error("cannot open the store: {0}")]
    Store(#[from] StoreError),
}

impl App {
    /// Reads the environment and builds the store and keys; any problem fails the cold start.
    pub async fn from_env() -> Result<Self, StartupError> {
        let config = Config::from_env()?;
        let store = open_store(&config).await?;
        Self::new(config, store)
    }

    /// Builds the app around a given store (tests inject theirs here).
    pub fn new(config: Config, store: Arc<dyn Store>) -> Result<Self, StartupError> {
        Ok(App {
            console: ConsoleVerifier::new(&config.console),
            playground: PlaygroundSigner::from_config(&config.playground)?,
            store,
            config,
        })
    }
}

/// The store the configuration selects.
pub async fn open_store(config: &Config) -> Result<Arc<dyn Store>, StartupError> {
    match &config.store {
        StoreConfig::Embedded { path } => Ok(Arc::new(SqliteStore::open(path, config.free_credits)?)),
        StoreConfig::DynamoDb { table } => Ok(Arc::new(DynamoStore::from_env(table.clone(), config.free_credits).await)),
    }
}
