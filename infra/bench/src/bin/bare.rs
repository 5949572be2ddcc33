//! The cold-start baseline: a `lambda_http` function that answers 200 and does nothing else.
//! Built with the same release profile as the real functions, it is the floor they are
//! measured against (`make bench`).

use lambda_http::{Body, Error, Request, Response, run, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    run(service_fn(|_: Request| async {
        Ok::<_, Error>(Response::new(Body::from("ok")))
    }))
    .await
}
