//! `audit` Lambda: its route, state and handler live in `common::handlers::audit`.

use common::handlers::audit::handle;
use common::routes::Route;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    common::runtime::serve(&[Route::Audit], handle).await
}
