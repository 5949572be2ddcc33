//! `webhook-deliveries` Lambda: its route, state and handler live in `common::handlers::webhook_deliveries`.

use common::handlers::webhook_deliveries::handle;
use common::routes::Route;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    common::runtime::serve(&[Route::WebhookDeliveries], handle).await
}
