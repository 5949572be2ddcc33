//! `update-account` Lambda: its route, state and handler live in `common::handlers::update_account`.

use common::handlers::update_account::handle;
use common::routes::Route;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    common::runtime::serve(&[Route::UpdateAccount], handle).await
}
