//! The AWS SDK configuration of a Lambda function, from its environment alone.
//!
//! Lambda puts a function's region (`AWS_REGION`) and its role's credentials
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`) in its environment, valid
//! for the life of the execution environment; there aws-config's standard chain finds them first
//! too. Building the configuration directly leaves out what the chain would construct and never
//! use in Lambda — profile-file parsing, a web-identity provider with its own STS client, the
//! container and instance-metadata providers — ~0.3 ms of every cold start (the logged `config_us`
//! went from 650–880 to ~400) and, with the regex engine, ~360 KB of every zip. vpctl, run by an
//! operator with profiles, passes the chain to `Startup::from_env_with`.
//!
//! `AWS_ENDPOINT_URL_<SERVICE>` and `AWS_ENDPOINT_URL` are honoured as the SDK documents them:
//! the local stack points DynamoDB at its local server that way.

use aws_sdk_dynamodb::config::{
    BehaviorVersion, Credentials, Region, SharedCredentialsProvider, SharedHttpClient,
};
use aws_types::SdkConfig;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};
use std::collections::HashMap;

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{0} is not set: Lambda sets it for every function; elsewhere set it (or use vpctl)")]
pub struct MissingVariable(pub &'static str);

/// The configuration for `env` (a process's environment), with `http` as the HTTPS client.
pub fn sdk_config(
    env: &HashMap<String, String>,
    http: SharedHttpClient,
) -> Result<SdkConfig, MissingVariable> {
    let var = |name: &'static str| {
        env.get(name)
            .filter(|v| !v.is_empty())
            .ok_or(MissingVariable(name))
    };
    let credentials = Credentials::new(
        var("AWS_ACCESS_KEY_ID")?,
        var("AWS_SECRET_ACCESS_KEY")?,
        var("AWS_SESSION_TOKEN").ok().cloned(),
        // No expiry: the environment's credentials outlive the execution environment.
        None,
        "environment",
    );
    Ok(SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(var("AWS_REGION")?.clone()))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .http_client(http)
        .service_config(EnvServiceConfig(endpoint_variables(env)))
        .build())
}

/// Per-service settings the SDK asks for by name (today only `endpoint_url`): the variable for
/// the service (`AWS_ENDPOINT_URL_DYNAMODB`) before the global one (`AWS_ENDPOINT_URL`).
#[derive(Debug)]
struct EnvServiceConfig(HashMap<String, String>);

impl LoadServiceConfig for EnvServiceConfig {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        // "DynamoDB Streams" → AWS_ENDPOINT_URL_DYNAMODB_STREAMS (the SDK's documented naming).
        let service = key.service_id().to_uppercase().replace([' ', '-'], "_");
        self.0
            .get(&format!("{}_{service}", key.env()))
            .or_else(|| self.0.get(key.env()))
            .cloned()
    }
}

/// Only the endpoint variables are kept: the rest of the environment has no business here.
fn endpoint_variables(env: &HashMap<String, String>) -> HashMap<String, String> {
    env.iter()
        .filter(|(name, value)| name.starts_with("AWS_ENDPOINT_URL") && !value.is_empty())
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::config::ProvideCredentials;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn http() -> SharedHttpClient {
        aws_smithy_http_client::Builder::new().build_http()
    }

    const LAMBDA: &[(&str, &str)] = &[
        ("AWS_REGION", "eu-west-1"),
        ("AWS_ACCESS_KEY_ID", "ASIAEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
        ("AWS_SESSION_TOKEN", "session"),
    ];

    #[tokio::test]
    async fn a_lambda_environment_gives_region_and_the_role_s_session_credentials() {
        let config = sdk_config(&env(LAMBDA), http()).unwrap();
        assert_eq!(config.region().unwrap().as_ref(), "eu-west-1");
        let credentials = config
            .credentials_provider()
            .unwrap()
            .provide_credentials()
            .await
            .unwrap();
        assert_eq!(credentials.access_key_id(), "ASIAEXAMPLE");
        assert_eq!(credentials.secret_access_key(), "secret");
        assert_eq!(credentials.session_token(), Some("session"));
        assert_eq!(credentials.expiry(), None);
    }

    #[test]
    fn a_missing_region_or_credential_is_named() {
        for missing in ["AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
            let mut env = env(LAMBDA);
            env.remove(missing);
            assert_eq!(sdk_config(&env, http()).unwrap_err(), MissingVariable(missing));
        }
        let mut without_token = env(LAMBDA);
        without_token.remove("AWS_SESSION_TOKEN");
        assert!(sdk_config(&without_token, http()).is_ok());
    }

    #[test]
    fn a_service_s_own_endpoint_comes_before_the_global_one() {
        let key = |service| {
            ServiceConfigKey::builder()
                .service_id(service)
                .profile("endpoint_url")
                .env("AWS_ENDPOINT_URL")
                .build()
                .unwrap()
        };
        let both = EnvServiceConfig(endpoint_variables(&env(&[
            ("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000"),
            ("AWS_ENDPOINT_URL", "http://global:1"),
            ("HOME", "/root"),
        ])));
        assert_eq!(
            both.load_config(key("DynamoDB")).as_deref(),
            Some("http://127.0.0.1:8000")
        );
        assert_eq!(both.load_config(key("SSM")).as_deref(), Some("http://global:1"));
        let streams = EnvServiceConfig(endpoint_variables(&env(&[(
            "AWS_ENDPOINT_URL_DYNAMODB_STREAMS",
            "http://127.0.0.1:8001",
        )])));
        assert_eq!(
            streams.load_config(key("DynamoDB Streams")).as_deref(),
            Some("http://127.0.0.1:8001")
        );
        assert_eq!(streams.load_config(key("DynamoDB")), None);
        assert_eq!(
            EnvServiceConfig(endpoint_variables(&env(LAMBDA))).load_config(key("DynamoDB")),
            None
        );
    }
}
