//! Secrets in AWS: read from SSM Parameter Store at cold start, each function given only what it
//! needs, and a missing one stops the cold start with a message that names it. (Console tokens
//! need no secret: the key endpoints are given the identity provider's public key set.)

use common::config::Config;
use common::handlers::{ConsoleEndpoint, create_session, secret_scanning};
use common::runtime::State;
use common::startup::Startup;
use std::collections::HashMap;
use std::sync::Arc;
use tests::dynamo::ssm_client;

/// A function's environment in AWS: ours, and the region and role credentials Lambda sets.
fn aws_env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    let mut env: HashMap<String, String> = [
        ("VP_ENV", "aws"),
        ("VP_TABLE_NAME", "visionpipe"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "ASIAEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "example"),
        ("AWS_SESSION_TOKEN", "example"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    env.extend(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env
}

#[tokio::test]
async fn parameters_named_in_the_environment_become_the_secrets() {
    // GIVEN the signing and sealing keys stored as SecureString parameters
    let client = ssm_client();
    let run = common::ids::new_ulid().to_string();
    let key_param = format!("/vp-test/{run}/signing-key");
    let pem = common::playground::generate_pem();
    tests::dynamo::put_secure_parameter(&client, &key_param, &pem).await;
    let seal_param = format!("/vp-test/{run}/replay-sealing-key");
    let seal = common::sealed::generate_key();
    tests::dynamo::put_secure_parameter(&client, &seal_param, &seal).await;

    // WHEN the environment names it (and the console's and GitHub's public keys)
    let github = common::secret_scanning::ReporterSigner::from_pem(&common::playground::generate_pem())
        .unwrap()
        .document();
    let mut env = aws_env(&[
        (
            "VP_CONSOLE_JWKS_URL",
            "https://visionpipe.com/.well-known/jwks.json",
        ),
        ("VP_PLAYGROUND_SIGNING_KEY_PARAMETER", &key_param),
        ("VP_REPLAY_SEALING_KEY_PARAMETER", &seal_param),
        ("VP_SECRET_SCANNING_KEYS", &github),
    ]);
    common::secrets::resolve(&mut env, &client).await.unwrap();

    // THEN the configuration holds their values, and the functions that use them start
    let config = Config::from_lookup(|k| env.get(k).cloned()).unwrap();
    assert!(
        matches!(config.signing_key(), Ok(common::config::SigningKeySource::Pem(p)) if p.expose() == pem)
    );
    assert!(
        matches!(config.replay_sealing_key(), Ok(common::config::SealingKeySource::Value(k)) if k.expose() == seal)
    );
    let store = Arc::new(
        common::store::sqlite::SqliteStore::open(&tempfile::tempdir().unwrap().keep().join("db"), 3).unwrap(),
    );
    let startup = || Startup::with_store(config.clone(), store.clone());
    create_session::State::build(startup()).expect("create-session starts");
    ConsoleEndpoint::build(startup()).expect("the console endpoints start");
    secret_scanning::State::build(startup()).expect("secret-scanning starts");
}

#[tokio::test]
async fn a_missing_parameter_fails_naming_the_parameter() {
    let mut env = aws_env(&[("VP_PLAYGROUND_SIGNING_KEY_PARAMETER", "/vp-test/does-not-exist")]);
    let err = common::secrets::resolve(&mut env, &ssm_client())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("/vp-test/does-not-exist") && err.contains("VP_PLAYGROUND_SIGNING_KEY"),
        "{err}"
    );
}

/// Builds function `S`'s state from `env` (a function's environment in AWS), or says why not.
fn start<S: State>(env: &HashMap<String, String>) -> Result<S, String> {
    let config = Config::from_lookup(|k| env.get(k).cloned()).map_err(|e| e.to_string())?;
    let store = Arc::new(
        common::store::sqlite::SqliteStore::open(&tempfile::tempdir().unwrap().keep().join("db"), 3).unwrap(),
    );
    S::build(Startup::with_store(config, store)).map_err(|e| e.to_string())
}

#[test]
fn each_function_starts_with_only_the_secret_it_needs() {
    // create-session has the signing and sealing keys only: it starts; without the sealing key
    // it refuses to start, naming it.
    let pem = common::playground::generate_pem();
    let seal = common::sealed::generate_key();
    let env = aws_env(&[
        ("VP_PLAYGROUND_SIGNING_KEY", &pem),
        ("VP_REPLAY_SEALING_KEY", &seal),
    ]);
    start::<create_session::State>(&env).expect("create-session starts");
    let err = start::<create_session::State>(&aws_env(&[("VP_PLAYGROUND_SIGNING_KEY", &pem)]))
        .err()
        .expect("must not start");
    assert!(err.contains("VP_REPLAY_SEALING_KEY"), "{err}");
    // A key endpoint given the same configuration refuses to start, saying what is missing.
    let err = start::<ConsoleEndpoint>(&env).err().expect("must not start");
    assert!(
        err.contains("VP_CONSOLE_JWKS_URL (the console identity provider's JWK set) is required"),
        "{err}"
    );
    assert!(!err.contains("BEGIN"), "no key material in the message");
    // The secret-scanning endpoint needs no secret: GitHub's key document is fetched (its URL
    // defaults to GitHub's) or pinned.
    start::<secret_scanning::State>(&aws_env(&[])).expect("secret-scanning starts");
    let github = common::secret_scanning::ReporterSigner::from_pem(&common::playground::generate_pem())
        .unwrap()
        .document();
    start::<secret_scanning::State>(&aws_env(&[("VP_SECRET_SCANNING_KEYS", &github)]))
        .expect("secret-scanning starts");
    // A pinned document that is not GitHub's form fails the cold start, naming the variable.
    let err = start::<secret_scanning::State>(&aws_env(&[("VP_SECRET_SCANNING_KEYS", "{}")]))
        .err()
        .expect("must not start");
    assert!(err.contains("VP_SECRET_SCANNING_KEYS"), "{err}");
}

#[tokio::test]
async fn a_function_built_without_parameters_refuses_one_naming_what_it_was_given() {
    // The console endpoints and the ledger read no SSM parameter (their binaries hold no SSM
    // client); configuring one for them is a mistake the cold start names.
    let env = aws_env(&[(
        "VP_PLAYGROUND_SIGNING_KEY_PARAMETER",
        "/visionpipe/playground-signing-key",
    )]);
    let err = Startup::from_env::<false>(env.clone())
        .await
        .map(|_| ())
        .expect_err("must not start")
        .to_string();
    assert!(
        err.contains("reads no SSM parameter") && err.contains("/visionpipe/playground-signing-key"),
        "{err}"
    );
    // Without one, the same function loads its configuration.
    let plain = aws_env(&[(
        "VP_CONSOLE_JWKS_URL",
        "https://visionpipe.com/.well-known/jwks.json",
    )]);
    let startup = Startup::from_env::<false>(plain).await.unwrap();
    assert!(startup.config.console().is_ok());
}

#[tokio::test]
async fn ssm_unreachable_or_silent_at_cold_start_fails_it_naming_ssm_before_lambdas_init_limit() {
    let refused = format!("http://127.0.0.1:{}", tests::server::free_port());
    for (label, endpoint) in [
        ("refused", refused),
        ("never answers", tests::server::silent_server()),
    ] {
        // GIVEN create-session's configuration, its keys to come from SSM, and SSM not answering
        let env = aws_env(&[
            (
                "VP_PLAYGROUND_SIGNING_KEY_PARAMETER",
                "/visionpipe/playground-signing-key",
            ),
            (
                "VP_REPLAY_SEALING_KEY_PARAMETER",
                "/visionpipe/replay-sealing-key",
            ),
            ("AWS_ENDPOINT_URL_SSM", &endpoint),
        ]);
        // WHEN it starts
        let started = std::time::Instant::now();
        let outcome =
            tokio::time::timeout(std::time::Duration::from_secs(9), Startup::from_env::<true>(env)).await;
        let took = started.elapsed();
        // THEN the cold start fails saying it could not read SSM, well inside Lambda's 10 s
        let err = outcome
            .unwrap_or_else(|_| panic!("{label}: the cold start still waits after {took:?}"))
            .map(|_| ())
            .expect_err("must not start")
            .to_string();
        assert!(
            err.contains("cannot read secrets from SSM Parameter Store"),
            "{label}: {err}"
        );
        eprintln!("SSM {label}: the cold start failed after {took:?}");
    }
}
