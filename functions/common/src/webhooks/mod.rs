//! Signed webhooks: what an endpoint URL may be (`guard`), how a delivery is signed
//! (`signing`), one delivery attempt (`delivery`), the events changes raise (`events`), the
//! queue between them and the sender (`queue`), the retry schedule (`retry`), a queued
//! event's delivery (`deliverer`) and the reminders of keys about to expire (`reminders`).

pub mod deliverer;
pub mod delivery;
pub mod events;
pub mod guard;
pub mod queue;
pub mod reminders;
pub mod retry;
pub mod signing;
