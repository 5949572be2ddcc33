//! `secret-scanning` Lambda: wiring only; the endpoint lives in
//! `common::handlers::secret_scanning`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    common::runtime::serve_secret_scanning("secret-scanning", common::handlers::secret_scanning::handle).await
}
