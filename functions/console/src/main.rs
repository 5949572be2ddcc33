//! `console` Lambda: the Cloud Console's API Keys page and its assets, embedded. Wiring only;
//! see `common::handlers::console_page`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    common::runtime::serve_stateless("console", common::handlers::console_page::handle).await
}
