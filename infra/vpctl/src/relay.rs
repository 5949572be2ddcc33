//! `vpctl stream relay`: the local stand-in for Lambda's event source mapping. It follows the
//! table's stream on the local DynamoDB-protocol server and invokes the ledger function that
//! `cargo lambda watch` serves, through the same Invoke API Lambda uses, so `VP_STORE=dynamodb
//! make dev` runs the very function AWS would.

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use common::local_stream::StreamFollower;

pub async fn run(
    sdk: &aws_config::SdkConfig,
    table: &str,
    invoke_url: &str,
    function: &str,
) -> Result<(), String> {
    // The follower reports failed deliveries (and retries them) through `tracing`.
    common::runtime::init_logging();
    let follower = StreamFollower::open(
        &aws_sdk_dynamodb::Client::new(sdk),
        aws_sdk_dynamodbstreams::Client::new(sdk),
        table,
    )
    .await
    .map_err(|e| e.to_string())?;
    let url = format!(
        "{}/2015-03-31/functions/{function}/invocations",
        invoke_url.trim_end_matches('/')
    );
    eprintln!("relaying {table}'s stream to {url}");
    follower
        .run(|event| {
            let url = url.clone();
            async move {
                tokio::task::spawn_blocking(move || invoke(&url, &event))
                    .await
                    .map_err(|e| e.to_string())?
            }
        })
        .await;
    Ok(())
}

/// One synchronous invocation; the function's partial-batch response back.
fn invoke(url: &str, event: &Event) -> Result<DynamoDbEventResponse, String> {
    let mut response = ureq::post(url)
        .send_json(event)
        .map_err(|e| format!("invoking the ledger function: {e}"))?;
    response
        .body_mut()
        .read_json()
        .map_err(|e| format!("the ledger function's answer: {e}"))
}
