//! `create-webhook` Lambda: its route, state and handler live in `common::handlers::create_webhook`.

use common::handlers::create_webhook::handle;
use common::routes::Route;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    common::runtime::serve(&[Route::CreateWebhook], handle).await
}
