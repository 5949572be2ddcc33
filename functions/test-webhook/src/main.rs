//! `test-webhook` Lambda: its route, state and handler live in `common::handlers::test_webhook`.

use common::handlers::test_webhook::handle;
use common::routes::Route;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    common::runtime::serve(&[Route::TestWebhook], handle).await
}
