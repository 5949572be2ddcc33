//! `create-key` Lambda: wiring only; the endpoint lives in `common::handlers::create_key`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    common::runtime::serve(
        "create-key",
        common::Needs::CONSOLE,
        common::handlers::create_key::handle,
    )
    .await
}
