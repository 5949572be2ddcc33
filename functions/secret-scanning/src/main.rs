//! `secret-scanning` Lambda: wiring only; the endpoint lives in
//! `common::handlers::secret_scanning`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    common::runtime::serve(
        "secret-scanning",
        common::Needs::SECRET_SCANNING,
        common::handlers::secret_scanning::handle,
    )
    .await
}
