//! `key-reminders` Lambda: a schedule in, due `key.expiring` events onto the webhook queue;
//! see `common::key_reminders`.

use common::key_reminders::handle;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    common::runtime::serve_events("key-reminders", handle).await
}
