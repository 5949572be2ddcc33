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
    assert_eq!(
        c.console().unwrap().keys,
        ConsoleKeySource::LocalKey(PathBuf::from(".visionpipe/console-signing-key.pem"))
    );
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
            "VP_CONSOLE_JWKS_URL (the console identity provider's JWK set) is required when running in AWS"
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
        (
            "VP_CONSOLE_JWKS_URL",
            "https://visionpipe.com/.well-known/jwks.json",
        ),
    ])
    .unwrap();
    assert_eq!(
        c.console().unwrap().keys,
        ConsoleKeySource::Url("https://visionpipe.com/.well-known/jwks.json".into())
    );
    // In AWS the key set is never fetched in the clear; locally a test server may serve it.
    let err = config(&[
        ("VP_ENV", "aws"),
        ("VP_TABLE_NAME", "prod"),
        (
            "VP_CONSOLE_JWKS_URL",
            "http://visionpipe.com/.well-known/jwks.json",
        ),
    ])
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("VP_CONSOLE_JWKS_URL must be an https:// URL"),
        "{err}"
    );
    assert!(config(&[("VP_CONSOLE_JWKS_URL", "http://127.0.0.1:1/jwks.json")]).is_ok());
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
        ("VP_CONSOLE_JWKS_URL", "file:///etc/passwd"),
        ("VP_ENV", "prod"),
        ("VP_PLAYGROUND_BASE_URL", "ftp://x"),
    ] {
        let err = config(&[(var, value)]).unwrap_err().to_string();
        assert!(err.contains(var), "{var}={value}: {err}");
    }
}

#[test]
fn the_playground_base_url_is_https_in_aws_and_may_be_http_locally() {
    let aws = |url: &str| {
        config(&[
            ("VP_ENV", "aws"),
            ("VP_TABLE_NAME", "prod"),
            ("VP_PLAYGROUND_BASE_URL", url),
        ])
    };
    assert_eq!(
        aws("https://playground.test").unwrap().playground.base_url,
        "https://playground.test"
    );
    let err = aws("http://playground.test").unwrap_err().to_string();
    assert!(
        err.contains("VP_PLAYGROUND_BASE_URL must be an https:// URL"),
        "{err}"
    );
    assert!(!err.contains("local"), "{err}");
    // A local playground may be served in the clear.
    assert!(config(&[("VP_PLAYGROUND_BASE_URL", "http://127.0.0.1:5173")]).is_ok());
}

#[test]
fn secrets_do_not_debug_print() {
    let pem = "-----BEGIN PRIVATE KEY-----\nsecret-bytes\n-----END PRIVATE KEY-----";
    let c = config(&[("VP_PLAYGROUND_SIGNING_KEY", pem)]).unwrap();
    assert!(!format!("{c:?}").contains("secret-bytes"));
}

#[test]
fn githubs_keys_are_fetched_from_github_in_aws_unless_pinned_and_from_https_only() {
    let aws = [("VP_ENV", "aws"), ("VP_TABLE_NAME", "prod")];
    let with = |more: &[(&str, &str)]| config(&[&aws[..], more].concat());
    // AWS, nothing set: GitHub's published document.
    assert!(matches!(
        with(&[]).unwrap().secret_scanning,
        ReporterKeysSource::Url(url) if url == "https://api.github.com/meta/public_keys/secret_scanning"
    ));
    // A pinned document wins over any URL: nothing is fetched.
    let pinned = with(&[
        ("VP_SECRET_SCANNING_KEYS", r#"{"public_keys":[]}"#),
        ("VP_SECRET_SCANNING_KEYS_URL", "https://mirror.example/keys"),
    ]);
    assert!(matches!(
        pinned.unwrap().secret_scanning,
        ReporterKeysSource::Document(_)
    ));
    // Another URL, https only in AWS; http too in local runs, where the local key is the default.
    let err = with(&[("VP_SECRET_SCANNING_KEYS_URL", "http://mirror.example/keys")])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("VP_SECRET_SCANNING_KEYS_URL must be an https:// URL"),
        "{err}"
    );
    assert!(matches!(
        config(&[("VP_SECRET_SCANNING_KEYS_URL", "http://127.0.0.1:9/keys")])
            .unwrap()
            .secret_scanning,
        ReporterKeysSource::Url(_)
    ));
    assert!(matches!(
        config(&[]).unwrap().secret_scanning,
        ReporterKeysSource::LocalKey(_)
    ));
}
