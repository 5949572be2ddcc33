//! `credits` Lambda: its route, state and handler live in `common::handlers::credits`.

use common::handlers::credits::handle;
use common::routes::Route;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    common::runtime::serve(&[Route::Credits], handle).await
}
