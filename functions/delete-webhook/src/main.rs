//! `delete-webhook` Lambda: its route, state and handler live in `common::handlers::delete_webhook`.

use common::handlers::delete_webhook::handle;
use common::routes::Route;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    common::runtime::serve(&[Route::DeleteWebhook], handle).await
}
