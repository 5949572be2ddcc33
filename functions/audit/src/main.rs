//! `audit` Lambda: wiring only; the endpoint lives in `common::handlers::audit`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    common::runtime::serve("audit", common::Needs::CONSOLE, common::handlers::audit::handle).await
}
