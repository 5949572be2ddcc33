//! Everything no route matches: our JSON 404, or 405 with `Allow` for a known path. Needs no
//! store and no secret, so the function that serves it has no permissions at all. (The runtime
//! answers unmatched requests before any handler runs; this handler only says so.)

use crate::routes;
use crate::runtime::Outcome;
use lambda_http::Request;

pub async fn handle(_: &(), req: Request) -> Outcome {
    Err(routes::unmatched(&req))
}
