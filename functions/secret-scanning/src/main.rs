//! `secret-scanning` Lambda: its route, state and handler live in `common::handlers::secret_scanning`.

use common::handlers::secret_scanning::handle;
use common::routes::Route;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    common::runtime::serve(&[Route::SecretScanning], handle).await
}
