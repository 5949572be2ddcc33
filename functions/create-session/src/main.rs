//! `create-session` Lambda: its route, state and handler live in `common::handlers::create_session`.

use common::handlers::create_session::handle;
use common::routes::Route;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    common::runtime::serve(&[Route::CreateSession], handle).await
}
