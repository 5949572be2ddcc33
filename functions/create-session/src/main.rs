//! `create-session` Lambda: wiring only; the endpoint lives in `common::handlers::create_session`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    common::runtime::serve_with_parameters(
        "create-session",
        common::Needs::PLAYGROUND,
        common::handlers::create_session::handle,
    )
    .await
}
