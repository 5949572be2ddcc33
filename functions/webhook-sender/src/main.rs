//! `webhook-sender` Lambda: the webhook queue in, signed deliveries out; see
//! `common::webhook_sender`.

use common::webhook_sender::handle;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    common::runtime::serve_events("webhook-sender", handle).await
}
