//! `jwks` Lambda: its route, state and handler live in `common::handlers::jwks`.

use common::handlers::jwks::handle;
use common::routes::Route;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    common::runtime::serve(&[Route::Jwks], handle).await
}
