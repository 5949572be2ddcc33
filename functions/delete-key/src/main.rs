//! `delete-key` Lambda: its route, state and handler live in `common::handlers::delete_key`.

use common::handlers::delete_key::handle;
use common::routes::Route;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    common::runtime::serve(&[Route::DeleteKey], handle).await
}
