//! The Lambda side of a function: logging, cold start, and the request loop — the same for
//! every function, which declares only its routes, its [`State`] and its handler.

use crate::error::ApiError;
use crate::routes::{self, Route};
use crate::startup::{Startup, StartupError};
use lambda_http::{Body, Request, Response, service_fn};
use std::future::Future;
use std::time::{Duration, Instant};
use tracing::Instrument;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;

/// Structured JSON logs on stdout (CloudWatch picks them up). `RUST_LOG` filters; default `info`.
/// Nothing of ours logs headers or bodies, and [`log_filter`] keeps the dependencies that would
/// (at debug and trace) at `info`, so keys and tokens cannot reach the log at any setting.
pub fn init_logging() {
    let filter = log_filter(std::env::var("RUST_LOG").ok().as_deref());
    let _ = tracing::subscriber::set_global_default(log_subscriber(filter, std::io::stdout));
}

/// Calls `$m!` with every target of [`CAPPED_TARGETS`] as a literal: `tracing` needs literal
/// targets, so this is how a test emits from each of them.
#[macro_export]
macro_rules! with_capped_targets {
    ($m:ident) => {
        $m!(
            "lambda_runtime",
            "lambda_runtime_api_client",
            "lambda_http",
            "aws_smithy_runtime",
            "aws_smithy_runtime_api",
            "aws_smithy_http",
            "aws_smithy_http_client",
            "aws_smithy_types",
            "aws_sdk_dynamodb",
            "aws_sdk_ssm",
            "aws_sdk_sso",
            "aws_sdk_sts",
            "aws_config",
            "aws_sigv4",
            "hyper",
            "hyper_util",
            "h2",
            "rustls",
            "tower"
        )
    };
}

macro_rules! as_slice {
    ($($target:literal),*) => {
        &[$($target),*]
    };
}

/// Dependencies whose verbose levels print raw events, headers, or request and response bodies
/// (the Lambda runtime logs the incoming event; the SDK its HTTP traffic, SSM's decrypted
/// parameter values included). They are held at `info` whatever `RUST_LOG` says.
pub const CAPPED_TARGETS: &[&str] = crate::with_capped_targets!(as_slice);

/// The filter for `RUST_LOG`'s value (`target=level` pairs and a default level, e.g.
/// `debug,common=trace`; `None` or unparsable: `info`), with [`CAPPED_TARGETS`] and everything
/// under them at `info` or quieter. A `Targets` filter, not an `EnvFilter`: the same syntax
/// without span and field filters, and without the regex engine those need in every binary.
pub fn log_filter(spec: Option<&str>) -> Targets {
    let asked: Targets = spec
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO));
    let default = asked.default_level().unwrap_or(LevelFilter::INFO);
    // `target` is `parent` or a module inside it.
    let within = |target: &str, parent: &str| {
        target
            .strip_prefix(parent)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
    };
    // A level asked for a capped target, or for a module inside one, would escape the cap: only
    // the quieter of it and `info` is kept, for the capped target as a whole.
    let level_asked = |capped: &str| {
        asked
            .iter()
            .filter(|(t, _)| within(t, capped))
            .map(|(_, level)| level)
            .max()
            .unwrap_or(default)
    };
    let mut filter = Targets::new().with_default(default);
    let uncapped = |target: &str| !CAPPED_TARGETS.iter().any(|c| within(target, c));
    for (target, level) in asked.iter().filter(|(t, _)| uncapped(t)) {
        filter = filter.with_target(target, level);
    }
    for target in CAPPED_TARGETS {
        filter = filter.with_target(*target, level_asked(target).min(LevelFilter::INFO));
    }
    filter
}

/// The functions' log format with `filter`, writing to `writer` (tests capture it to inspect
/// every line).
pub fn log_subscriber<W>(filter: Targets, writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::registry().with(
        tracing_subscriber::fmt::layer()
            .json()
            // The invocation's span (request id, function, route) on every line, not the list
            // of every enclosing span.
            .with_current_span(true)
            .with_span_list(false)
            .with_target(false)
            .without_time()
            .with_writer(writer)
            .with_filter(filter),
    )
}

/// What a function's handler is given with every request: built once per cold start from the
/// [`Startup`], holding exactly what that function uses (its store, keys, verifiers), nothing
/// optional. Tests build it the same way.
pub trait State: Sized + Send + Sync + 'static {
    /// How the cold start reads the configuration: by default from the environment, reading no
    /// SSM parameter (a `*_PARAMETER` variable fails the cold start). create-session and jwks
    /// read their parameters from SSM; the console page and the fallback use no AWS service
    /// ([`Startup::config_only`]). A function of its own per state, not a flag tested at run
    /// time, so that each binary links only the loading it does: the SSM client only where
    /// parameters are read, the AWS SDK not at all where no AWS service is used.
    fn startup() -> impl Future<Output = Result<Startup, StartupError>> + Send {
        Startup::from_process_env::<false>()
    }

    /// Builds the state, or fails the cold start naming what to configure.
    fn build(startup: Startup) -> Result<Self, StartupError>;

    /// Work worth doing before the first request (the console endpoints fetch the identity
    /// provider's key set).
    fn warm(&self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// A function that needs nothing but the request (the console page, the fallback).
impl State for () {
    async fn startup() -> Result<Startup, StartupError> {
        Startup::config_only()
    }

    fn build(_: Startup) -> Result<Self, StartupError> {
        Ok(())
    }
}

/// What a handler answers: a response, or the error [`respond`] maps to one.
pub type Outcome = Result<Response<Body>, ApiError>;

/// Runs the function that serves `routes` (the fallback: [`routes::UNMATCHED`]) with `handle`:
/// logging, the cold start (configuration, then the handler's [`State`]), and for every
/// invocation what [`respond`] does. The only way a function starts.
pub async fn serve<S, H, F>(routes: &'static [Route], handle: H) -> Result<(), lambda_http::Error>
where
    S: State,
    H: Fn(&'static S, Request) -> F + Copy + Send + Sync + 'static,
    F: Future<Output = Outcome> + Send,
{
    let function = routes::function_of(routes);
    let (state, deadline) = cold_start::<S>(function).await?;
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, std::convert::Infallible>(respond(routes, state, deadline, req, handle).await)
    }))
    .await
}

/// Runs a function that the table's stream feeds (the ledger), with the same logging and cold
/// start as [`serve`] and one span per batch.
pub async fn serve_events<S, E, R, H, F>(function: &'static str, handle: H) -> Result<(), lambda_http::Error>
where
    S: State,
    E: serde::de::DeserializeOwned + Send + 'static,
    R: serde::Serialize + Send + 'static,
    H: Fn(&'static S, E) -> F + Copy + Send + Sync + 'static,
    F: Future<Output = R> + Send,
{
    use lambda_http::lambda_runtime::{LambdaEvent, run};
    let (state, _) = cold_start::<S>(function).await?;
    run(service_fn(move |event: LambdaEvent<E>| {
        let span = tracing::info_span!("invocation", request_id = %event.context.request_id, function);
        async move { Ok::<_, std::convert::Infallible>(handle(state, event.payload).await) }.instrument(span)
    }))
    .await
}

/// Logging, the configuration and the function's state, once per process; a failure is logged
/// and ends the cold start (Lambda reports it as an init error).
async fn cold_start<S: State>(function: &'static str) -> Result<(&'static S, Duration), lambda_http::Error> {
    init_logging();
    let started = Instant::now();
    let startup = S::startup().await;
    let configured = started.elapsed();
    let built = startup.and_then(|startup| {
        let deadline = startup.config.request_deadline;
        S::build(startup).map(|state| (state, deadline))
    });
    let (state, deadline) = match built {
        // Lives as long as the process, which is exactly the life of a Lambda instance.
        Ok((state, deadline)) => (&*Box::leak(Box::new(state)), deadline),
        Err(e) => {
            tracing::error!(function, error = %crate::error::error_chain(&e), "cold start failed");
            return Err(e.into());
        }
    };
    state.warm().await;
    // Where a cold start's time goes (the bench and CloudWatch both read this line).
    tracing::info!(
        function,
        pid = std::process::id(),
        config_us = configured.as_micros() as u64,
        state_us = (started.elapsed() - configured).as_micros() as u64,
        "cold start complete"
    );
    Ok((state, deadline))
}

/// One invocation, as every function runs it: inside a span carrying the request id, function
/// and route (so every line logged on the way joins its request), the route check, the handler
/// within `deadline` (a stalled dependency answers the contract's 503 with `Retry-After` well
/// before the platform would kill the function), the one mapping of errors to responses, and
/// one log line with the outcome (never headers or bodies).
pub async fn respond<'s, S, H, F>(
    routes: &'static [Route],
    state: &'s S,
    deadline: Duration,
    req: Request,
    handle: H,
) -> Response<Body>
where
    H: Fn(&'s S, Request) -> F,
    F: Future<Output = Outcome>,
{
    let started = Instant::now();
    let request_id = crate::request::request_id(&req);
    let method = req.method().to_string();
    let route = routes::serving(routes, &req);
    let span = tracing::info_span!(
        "invocation",
        request_id = request_id.as_deref().unwrap_or("-"),
        function = routes::function_of(routes),
        route = route.map_or("unmatched", |r| r.spec().path),
    );
    async move {
        let outcome = match route {
            Some(_) => match tokio::time::timeout(deadline, handle(state, req)).await {
                Ok(outcome) => outcome,
                Err(_) => {
                    tracing::error!(
                        deadline_ms = deadline.as_millis() as u64,
                        "request deadline passed; answering 503"
                    );
                    Err(ApiError::Unavailable)
                }
            },
            None => Err(routes::unmatched(&req)),
        };
        let mut response = outcome.unwrap_or_else(|e| e.into_response(request_id.as_deref()));
        // Every answer, whatever built it: a browser that opens one directly takes it as the
        // type it says (JSON, or the console's HTML, CSS and JS), never sniffs it into another
        // (a key name is caller-chosen text).
        response.headers_mut().insert(
            lambda_http::http::header::X_CONTENT_TYPE_OPTIONS,
            lambda_http::http::HeaderValue::from_static("nosniff"),
        );
        // The process id tells instances apart where their logs share one stream (`cargo lambda
        // watch`); in CloudWatch each instance has its own log stream anyway.
        tracing::info!(
            method,
            status = response.status().as_u16(),
            elapsed_us = started.elapsed().as_micros() as u64,
            pid = std::process::id(),
            "request"
        );
        response
    }
    .instrument(span)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    /// Would an event at `level` from `target` be logged under `RUST_LOG=spec`?
    fn logs(spec: Option<&str>, target: &str, level: Level) -> bool {
        let filter = log_filter(spec);
        filter.would_enable(target, &level)
    }

    #[test]
    fn the_default_is_info_and_a_spec_is_honoured_outside_the_capped_targets() {
        assert!(logs(None, "common", Level::INFO));
        assert!(!logs(None, "common", Level::DEBUG));
        assert!(!logs(Some("not a [valid spec"), "common", Level::DEBUG));
        assert!(logs(Some("debug"), "common", Level::DEBUG));
        assert!(logs(Some("warn,common=trace"), "common::store", Level::TRACE));
        assert!(!logs(Some("warn,common=trace"), "tokio", Level::INFO));
    }

    #[test]
    fn capped_targets_and_their_modules_never_go_past_info() {
        for spec in [
            "trace",
            "trace,aws_smithy_runtime=trace",
            "aws_smithy_runtime::client::orchestrator=trace",
            "hyper_util=trace,lambda_runtime::layers=trace",
        ] {
            for target in [
                "aws_smithy_runtime",
                "aws_smithy_runtime::client::orchestrator",
                "hyper_util",
                "lambda_runtime::layers",
            ] {
                assert!(!logs(Some(spec), target, Level::DEBUG), "{spec}: {target}");
            }
        }
        assert!(logs(Some("trace"), "aws_smithy_runtime", Level::INFO));
        // Quieter than info stays quieter.
        assert!(!logs(Some("warn"), "aws_sdk_dynamodb", Level::INFO));
        assert!(logs(Some("warn"), "aws_sdk_dynamodb", Level::WARN));
    }
}
