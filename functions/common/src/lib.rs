//! Everything the VisionPipe Lambda functions share.
//!
//! Layers, from the inside out:
//! - domain, pure and I/O-free: [`api_key`], [`key_name`], [`ids`], [`clock`], [`idempotency`];
//! - tokens and keys: [`console_auth`] (console JWTs we verify against the identity provider's
//!   key set), [`playground`] (session JWTs we sign), [`sealed`] (session tokens sealed for
//!   idempotent replays), [`jwk`] (public keys as JWKs), [`secret_scanning`] (reporters' signed
//!   reports), [`local_key`] (keys generated once for local runs);
//! - [`store`]: the persistence trait, its DynamoDB and embedded (SQLite) implementations, and
//!   [`ledger_stream`], the ledger (and the webhook events it raises) written from the table's
//!   stream;
//! - [`webhooks`]: endpoint URLs' guard, signing, the events, their queue and delivery, and
//!   [`webhook_sender`], the sender function's work, and [`key_reminders`], the scheduled pass
//!   that sends `key.expiring`;
//! - HTTP: [`routes`] (the one route table), [`request`] (reading requests), [`response`] (JSON
//!   responses), [`error`] (the one error → response mapping), [`handlers`] (one module per
//!   endpoint: its state and its handler);
//! - [`fetch`]: published key documents over HTTPS (the identity provider's, GitHub's);
//! - wiring: [`config`] (read once per cold start), [`secrets`] (SSM), [`aws_env`] (the SDK's
//!   configuration from a function's environment), [`startup`] (what a cold start builds from),
//!   [`runtime`] (logging, the cold start, and every invocation: span, route check, deadline,
//!   error mapping).

pub mod api_key;
pub mod aws_env;
pub mod clock;
pub mod config;
pub mod console_auth;
pub mod error;
pub mod fetch;
pub mod handlers;
pub mod idempotency;
pub mod ids;
pub mod jwk;
pub mod key_cache;
pub mod key_name;
pub mod key_reminders;
pub mod ledger_stream;
pub mod local_key;
#[cfg(feature = "local-stream")]
pub mod local_stream;
pub mod playground;
pub mod request;
pub mod response;
pub mod routes;
pub mod runtime;
pub mod sealed;
pub mod secret_scanning;
pub mod secrets;
pub mod startup;
pub mod store;
pub mod webhook_sender;
pub mod webhooks;
