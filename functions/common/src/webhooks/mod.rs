//! Signed webhooks (issue 22, under way): what an endpoint URL may be (`guard`) and how a
//! delivery is signed (`signing`).

pub mod guard;
pub mod signing;
