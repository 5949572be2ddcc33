//! The API over HTTP, through the real `cargo lambda watch` with the production router, on the
//! embedded store and on the local DynamoDB server: end to end, the bad-input table, and
//! schemathesis against the OpenAPI file.

mod bad_input;
mod browser;
mod end_to_end;
mod end_to_end_dynamodb;
mod schemathesis;
mod webhook_events;
