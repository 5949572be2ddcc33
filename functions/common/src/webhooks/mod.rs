//! Signed webhooks (issue 22, under way): what an endpoint URL may be (`guard`), how a
//! delivery is signed (`signing`), and one delivery attempt (`delivery`).

pub mod delivery;
pub mod guard;
pub mod signing;
