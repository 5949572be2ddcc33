//! `fallback` Lambda: API Gateway's `$default` route and the local router's catch-alls land
//! here, so unmatched requests get our JSON errors. Wiring only; see `common::routes`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    common::runtime::serve_stateless("fallback", common::handlers::fallback::handle).await
}
