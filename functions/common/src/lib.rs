//! Everything the VisionPipe Lambda functions share.
//!
//! Layers, from the inside out:
//! - domain, pure and I/O-free: [`api_key`], [`key_name`], [`ids`], [`clock`];
//! - tokens: [`console_auth`] (console JWTs we verify against the identity provider's key set),
//!   [`playground`] (session JWTs we sign) and [`jwk`] (public keys as JWKs);
//! - [`store`]: the persistence trait and its embedded (SQLite) implementation;
//! - HTTP: [`request`] (reading requests), [`response`] (JSON responses), [`error`] (the one
//!   error → response mapping), [`handlers`] (which also map store failures to errors);
//! - wiring: [`config`] (read once per cold start), [`secrets`] (SSM), [`app`] (shared state),
//!   [`runtime`] (Lambda loop).

pub mod api_key;
pub mod app;
pub mod aws_env;
pub mod clock;
pub mod config;
pub mod console_auth;
pub mod error;
pub mod handlers;
pub mod idempotency;
pub mod ids;
pub mod jwk;
pub mod key_cache;
pub mod key_name;
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
pub mod store;

pub use app::{App, Needs};
