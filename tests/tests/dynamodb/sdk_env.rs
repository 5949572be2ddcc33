//! The functions reach AWS exactly as their environment says, through `common::aws_env` — the
//! path Lambda builds run (no aws-config chain is linked into them, nor into these tests). Each
//! case changes one variable and shows the outcome follows it, so a mis-read variable fails here.

use common::startup::Startup;
use std::collections::HashMap;
use tests::dynamo::{client, endpoint, fresh_table, sdk_env};
use tests::functions::Functions;
use tests::*;

/// A function's environment on the local stack: `sdk_env`'s variables with `changes` applied
/// (a `None` value removes the variable).
fn env(dir: &std::path::Path, table: &str, changes: &[(&str, Option<&str>)]) -> HashMap<String, String> {
    let mut env: HashMap<String, String> = sdk_env(table)
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    env.insert("VP_ENV".into(), "local".into());
    env.insert("VP_DATA_DIR".into(), dir.to_string_lossy().into_owned());
    env.insert("VP_REQUEST_DEADLINE_MS".into(), TEST_REQUEST_DEADLINE_MS.into());
    for (name, value) in changes {
        match value {
            Some(v) => env.insert(name.to_string(), v.to_string()),
            None => env.remove(*name),
        };
    }
    env
}

/// (label, variables changed, create-session's status or the variable a failed cold start names)
type Case<'a> = (&'a str, Vec<(&'a str, Option<&'a str>)>, Result<u16, &'a str>);

/// create-session's answer to the fixture key, with the store its cold start builds from `env`.
async fn session_status(env: HashMap<String, String>) -> Result<u16, String> {
    let startup = Startup::from_env::<false>(env).await.map_err(|e| e.to_string())?;
    let store = startup.store().map_err(|e| e.to_string())?;
    let app = Functions::new(startup.config.clone(), store).map_err(|e| e.to_string())?;
    Ok(app
        .create_session(fixture("create-session"))
        .await
        .status()
        .as_u16())
}

#[tokio::test]
async fn the_store_is_reached_at_the_region_endpoint_and_credentials_the_environment_names() {
    // GIVEN the fixture key on a table in us-east-1 of the local server
    let table = fresh_table(&client(None)).await;
    let dir = fixture_data_dir();
    let seeded = Startup::from_env::<false>(env(dir.path(), &table, &[]))
        .await
        .unwrap();
    seed_key(
        seeded.store().unwrap().as_ref(),
        FIXTURE_ACCOUNT,
        FIXTURE_KEY_ID,
        KEY_OK,
    )
    .await;
    let dead = format!("http://127.0.0.1:{}", server::free_port());
    let server = endpoint();

    let cases: [Case; 6] = [
        ("as Lambda sets it", vec![], Ok(200)),
        // The server keeps a region's tables apart: another region has no such table.
        ("another region", vec![("AWS_REGION", Some("eu-west-1"))], Ok(500)),
        // The service's own endpoint variable wins over the global one...
        (
            "the DynamoDB endpoint names a dead port",
            vec![
                ("AWS_ENDPOINT_URL", Some(&server)),
                ("AWS_ENDPOINT_URL_DYNAMODB", Some(&dead)),
            ],
            Ok(503),
        ),
        // ...which is used when the service has none.
        (
            "only the global endpoint",
            vec![
                ("AWS_ENDPOINT_URL", Some(&server)),
                ("AWS_ENDPOINT_URL_DYNAMODB", None),
            ],
            Ok(200),
        ),
        // Lambda always sets these; without them the cold start names what is missing.
        (
            "no secret key",
            vec![("AWS_SECRET_ACCESS_KEY", None)],
            Err("AWS_SECRET_ACCESS_KEY"),
        ),
        ("no region", vec![("AWS_REGION", None)], Err("AWS_REGION")),
    ];
    for (label, changes, want) in cases {
        let got = session_status(env(dir.path(), &table, &changes)).await;
        match want {
            Ok(status) => assert_eq!(got, Ok(status), "{label}"),
            Err(named) => {
                let error = got.expect_err(label);
                assert!(error.contains(named), "{label}: {error}");
            }
        }
    }
}
