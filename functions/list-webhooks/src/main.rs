//! `list-webhooks` Lambda: its route, state and handler live in `common::handlers::list_webhooks`.

use common::handlers::list_webhooks::handle;
use common::routes::Route;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    common::runtime::serve(&[Route::ListWebhooks], handle).await
}
