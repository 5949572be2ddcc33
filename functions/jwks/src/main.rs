//! `jwks` Lambda: publishes the key set that verifies playground session tokens. Wiring only;
//! see `common::handlers::jwks`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    common::runtime::serve_jwks("jwks").await
}
