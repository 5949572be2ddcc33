//! `roll-key` Lambda: wiring only; the endpoint lives in `common::handlers::roll_key`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    common::runtime::serve(
        "roll-key",
        common::Needs::CONSOLE,
        common::handlers::roll_key::handle,
    )
    .await
}
