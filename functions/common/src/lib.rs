//! Everything the four VisionPipe Lambda functions share.
//!
//! Layers, from the inside out:
//! - domain, pure and I/O-free: [`api_key`], [`key_name`], [`ids`], [`clock`];
//! - tokens: [`console_auth`] (console JWTs we verify) and [`playground`] (session JWTs we sign);
//! - [`store`]: the persistence trait and its embedded (SQLite) implementation;
//! - HTTP: [`http`] (request parsing), [`error`] (the one error → response mapping), [`handlers`];
//! - wiring: [`config`] (read once per cold start), [`secrets`] (SSM), [`app`] (shared state),
//!   [`runtime`] (Lambda loop).

pub mod api_key;
pub mod app;
pub mod clock;
pub mod config;
pub mod console_auth;
pub mod error;
pub mod handlers;
pub mod http;
pub mod idempotency;
pub mod ids;
pub mod key_name;
pub mod playground;
pub mod routes;
pub mod runtime;
pub mod secrets;
pub mod store;

pub use app::{App, Needs};
