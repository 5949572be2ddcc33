//! `usage` Lambda: its route, state and handler live in `common::handlers::usage`.

use common::handlers::usage::handle;
use common::routes::Route;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    common::runtime::serve(&[Route::Usage], handle).await
}
