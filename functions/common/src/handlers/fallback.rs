//! Everything no route matches: our JSON 404, or 405 with `Allow` for a known path. Needs no
//! store and no secret, so the function that serves it has no permissions at all.

use super::finish;
use crate::routes;
use lambda_http::{Body, Request, Response};

pub async fn handle(req: Request) -> Response<Body> {
    finish(&req, Err(routes::unmatched(&req)))
}
