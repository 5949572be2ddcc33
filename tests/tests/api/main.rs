//! Everything that needs no server: the handlers with the `events/` fixtures, the bad-input
//! table, the contract and the route table against the files that repeat them, the
//! conformance suite on the embedded store, and racing OS processes on one SQLite file.
//! Plain `cargo test` runs these. The tests that need the local DynamoDB server or the
//! `cargo lambda watch` stack (`tests/tests/{dynamodb,logs,http,stall}`) are built with the
//! `local-stack` feature, which `make test` turns on after starting what they need.

mod bad_input;
mod check_key;
mod console;
mod console_tokens;
mod contract;
mod create_key;
mod create_session;
mod delete_key;
mod idempotency;
mod list_keys;
mod racing_processes;
mod routes;
mod secret_scanning;
mod store_embedded;
mod test_keys;
mod usage;
mod webhook_delivery;
mod webhook_sender;
mod webhooks;
