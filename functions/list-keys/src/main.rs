//! `list-keys` Lambda: wiring only; the endpoint lives in `common::handlers::list_keys`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    common::runtime::serve(
        "list-keys",
        common::Needs::CONSOLE,
        common::handlers::list_keys::handle,
    )
    .await
}
