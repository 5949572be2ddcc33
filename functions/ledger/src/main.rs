//! `ledger` Lambda: the table's stream in, ledger and audit items out; see
//! `common::ledger_stream`.

use common::ledger_stream::handle;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    common::runtime::serve_events("ledger", handle).await
}
