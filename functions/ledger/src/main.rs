//! `ledger` Lambda: wiring only; the work lives in `common::ledger_stream`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    common::runtime::serve_ledger("ledger").await
}
