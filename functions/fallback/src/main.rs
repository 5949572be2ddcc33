//! `fallback` Lambda: API Gateway's `$default` route and the local router's catch-alls land
//! here, so unmatched requests get our JSON errors; see `common::routes`.

use common::handlers::fallback::handle;
use common::routes::UNMATCHED;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    common::runtime::serve(UNMATCHED, handle).await
}
