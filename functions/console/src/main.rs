//! `console` Lambda: the Cloud Console's API Keys page and its assets, embedded; see
//! `common::handlers::console_page`.

use common::handlers::console_page::{ROUTES, handle};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    common::runtime::serve(ROUTES, handle).await
}
