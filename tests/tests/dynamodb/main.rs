//! What needs the local DynamoDB-protocol server that `make test` starts (its URL in
//! `VP_TEST_DYNAMODB_ENDPOINT`; missing, these fail rather than skip): the conformance suite
//! on the DynamoDB store, fault injection, racing sessions, the recorded IAM request shapes,
//! and secrets from SSM. (The log capture is its own binary, `tests/tests/logs`.)

mod concurrency;
mod faults;
mod iam_shapes;
mod layout;
mod ledger;
mod sdk_env;
mod secrets;
mod sizes;
mod store;
mod template_wiring;
