//! `delete-key` Lambda: wiring only; the endpoint lives in `common::handlers::delete_key`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    common::runtime::serve(
        "delete-key",
        common::Needs::CONSOLE,
        common::handlers::delete_key::handle,
    )
    .await
}
