//! `list-keys` Lambda: its route, state and handler live in `common::handlers::list_keys`.

use common::handlers::list_keys::handle;
use common::routes::Route;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    common::runtime::serve(&[Route::ListKeys], handle).await
}
