//! `check-key` Lambda: its route, state and handler live in `common::handlers::check_key`.

use common::handlers::check_key::handle;
use common::routes::Route;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    common::runtime::serve(&[Route::CheckKey], handle).await
}
