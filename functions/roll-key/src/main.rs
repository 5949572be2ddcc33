//! `roll-key` Lambda: its route, state and handler live in `common::handlers::roll_key`.

use common::handlers::roll_key::handle;
use common::routes::Route;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    common::runtime::serve(&[Route::RollKey], handle).await
}
