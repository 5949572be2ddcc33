//! `credits` Lambda: wiring only; the endpoint lives in `common::handlers::credits`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    common::runtime::serve(
        "credits",
        common::Needs::CONSOLE,
        common::handlers::credits::handle,
    )
    .await
}
