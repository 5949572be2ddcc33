//! Configuration from an environment: defaults, AWS strictness, every bad value named.
use super::*;
use std::collections::HashMap;

fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Config::from_lookup(|k| map.get(k).cloned())
}

#[test]
fn local_defaults_work_out_of_the_box() {
    let c = config(&[]).unwrap();
    assert_eq!(c.environment, Environment::Local);
    assert_eq!(c.console().unwrap().secret.expose(), LOCAL_CONSOLE_SECRET);
    assert_eq!(c.playground.token_ttl_secs, 86_400);
    assert_eq!(c.free_credits, 3);
    assert!(matches!(c.signing_key(), Ok(SigningKeySource::LocalFile(_))));
    assert!(matches!(c.store, StoreConfig::Embedded { .. }));
}

#[test]
fn inside_lambda_there_are_no_development_secrets() {
    let c = config(&[("LAMBDA_TASK_ROOT", "/var/task"), ("VP_TABLE_NAME", "prod")]).unwrap();
    assert_eq!(c.environment, Environment::Aws);
    let err = c.console().unwrap_err().to_string();
    assert!(
        err.contains(
            "VP_CONSOLE_JWT_SECRET (or VP_CONSOLE_JWT_SECRET_PARAMETER) is required when running in AWS"
        ),
        "{err}"
    );
    let err = c.signing_key().unwrap_err().to_string();
    assert!(
        err.contains("VP_PLAYGROUND_SIGNING_KEY (or VP_PLAYGROUND_SIGNING_KEY_PARAMETER) is required"),
        "{err}"
    );
    let c = config(&[
        ("VP_ENV", "aws"),
        ("VP_TABLE_NAME", "prod"),
        ("VP_CONSOLE_JWT_SECRET", &"s".repeat(40)),
    ])
    .unwrap();
    assert_eq!(c.console().unwrap().secret.expose(), "s".repeat(40));
}

#[test]
fn the_table_name_selects_dynamodb_and_aws_never_falls_back() {
    assert!(
        matches!(config(&[("VP_TABLE_NAME", "t")]).unwrap().store, StoreConfig::DynamoDb { ref table } if table == "t")
    );
    assert!(matches!(
        config(&[("VP_STORE", "embedded")]).unwrap().store,
        StoreConfig::Embedded { .. }
    ));
    let aws = [("VP_ENV", "aws")];
    assert!(matches!(
        config(&[&aws[..], &[("VP_TABLE_NAME", "prod")]].concat())
            .unwrap()
            .store,
        StoreConfig::DynamoDb { .. }
    ));
    let err = config(&aws).unwrap_err().to_string();
    assert!(err.contains("VP_TABLE_NAME"), "{err}");
    let err = config(&[&aws[..], &[("VP_STORE", "embedded")]].concat())
        .unwrap_err()
        .to_string();
    assert!(err.contains("embedded store is for local runs only"), "{err}");
    assert!(
        config(&[("VP_STORE", "dynamodb")])
            .unwrap_err()
            .to_string()
            .contains("VP_TABLE_NAME")
    );
    assert!(
        config(&[("VP_STORE", "postgres")])
            .unwrap_err()
            .to_string()
            .contains("VP_STORE")
    );
}

#[test]
fn bad_values_name_the_variable() {
    for (var, value) in [
        ("VP_SESSION_TOKEN_TTL_SECONDS", "soon"),
        ("VP_SESSION_TOKEN_TTL_SECONDS", "0"),
        ("VP_FREE_CREDITS", "-1"),
        ("VP_CONSOLE_JWT_SECRET", "short"),
        ("VP_ENV", "prod"),
        ("VP_PLAYGROUND_BASE_URL", "ftp://x"),
    ] {
        let err = config(&[(var, value)]).unwrap_err().to_string();
        assert!(err.contains(var), "{var}={value}: {err}");
    }
}

#[test]
fn secrets_do_not_debug_print() {
    let c = config(&[]).unwrap();
    assert!(!format!("{c:?}").contains(LOCAL_CONSOLE_SECRET));
}
