//! Secrets from SSM Parameter Store, fetched once per cold start.
//!
//! In AWS the template sets `VP_PLAYGROUND_SIGNING_KEY_PARAMETER` and
//! `VP_REPLAY_SEALING_KEY_PARAMETER` to the *names* of SecureString parameters (console tokens need no secret: they verify with the identity
//! provider's public keys); this module reads it (one `GetParameters` call,
//! decrypted) and hands the values to [`crate::config::Config`] as if they were the plain
//! variables. The values never sit in the function's configuration, the template or a log.

use crate::config::{ConfigError, vars};
use std::collections::HashMap;

/// (variable that holds the value, variable that names the parameter holding it)
pub const FROM_PARAMETERS: [(&str, &str); 4] = [
    (vars::SIGNING_KEY, vars::SIGNING_KEY_PARAMETER),
    (vars::REPLAY_SEALING_KEY, vars::REPLAY_SEALING_KEY_PARAMETER),
    (vars::WEBHOOK_SEALING_KEY, vars::WEBHOOK_SEALING_KEY_PARAMETER),
    // Not secret, but configured the same way: the jwks function reads its parameter.
    (vars::PUBLIC_KEYS, vars::PUBLIC_KEYS_PARAMETER),
];

/// Parameter names still to be fetched: named by a `*_PARAMETER` variable whose value variable
/// is not set directly.
pub fn wanted(env: &HashMap<String, String>) -> Vec<(&'static str, String)> {
    FROM_PARAMETERS
        .iter()
        .filter(|(value_var, _)| !env.contains_key(*value_var))
        .filter_map(|(value_var, param_var)| {
            env.get(*param_var)
                .filter(|p| !p.is_empty())
                .map(|p| (*value_var, p.clone()))
        })
        .collect()
}

/// The SSM client a cold start reads its parameters with. Timeouts, because the SDK sets none
/// for a whole operation: an SSM endpoint that accepts and never answers would otherwise hold
/// the cold start until Lambda's 10 s init limit kills it, with nothing logged. Within these,
/// the SDK's retries included, it fails the cold start naming SSM, in at most ~6 s.
pub fn client(sdk: &aws_types::SdkConfig) -> aws_sdk_ssm::Client {
    let timeouts = aws_sdk_ssm::config::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_secs(1))
        .operation_attempt_timeout(std::time::Duration::from_secs(2))
        .operation_timeout(std::time::Duration::from_secs(6))
        .build();
    aws_sdk_ssm::Client::from_conf(
        aws_sdk_ssm::config::Builder::from(sdk)
            .timeout_config(timeouts)
            .build(),
    )
}

/// Adds the values of the wanted parameters to `env`. Any parameter that cannot be read fails
/// the cold start, naming the parameter (never its value).
pub async fn resolve(
    env: &mut HashMap<String, String>,
    client: &aws_sdk_ssm::Client,
) -> Result<(), ConfigError> {
    let wanted = wanted(env);
    if wanted.is_empty() {
        return Ok(());
    }
    let out = client
        .get_parameters()
        .set_names(Some(wanted.iter().map(|(_, name)| name.clone()).collect()))
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| {
            ConfigError(format!(
                "cannot read secrets from SSM Parameter Store: {}",
                aws_sdk_ssm::error::DisplayErrorContext(e)
            ))
        })?;
    let values: HashMap<&str, &str> = out
        .parameters()
        .iter()
        .filter_map(|p| Some((p.name()?, p.value()?)))
        .collect();
    for (value_var, name) in wanted {
        let value = values.get(name.as_str()).ok_or_else(|| {
            ConfigError(format!(
                "SSM parameter {name} (for {value_var}) does not exist or is not readable"
            ))
        })?;
        env.insert(value_var.to_string(), value.to_string());
    }
    Ok(())
}
