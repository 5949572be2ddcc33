//! The Lambda side of a function: logging, cold start, and the request loop.

use crate::app::{App, Needs};
use lambda_http::{Body, Request, Response, service_fn};
use std::future::Future;
use std::time::Instant;
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
            .with_current_span(false)
            .with_target(false)
            .without_time()
            .with_writer(writer)
            .with_filter(filter),
    )
}

/// Runs one function that reads no SSM parameter: builds the [`App`] with what the function
/// `needs` once (failing the cold start loudly on bad configuration) and serves every
/// invocation with `handler`.
pub async fn serve<F, Fut>(name: &'static str, needs: Needs, handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(&'static App, Request) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send,
{
    if needs.playground {
        // Only create-session signs session tokens, and it starts through serve_with_parameters.
        return Err(format!(
            "{name}: a function that signs session tokens starts with serve_with_parameters"
        )
        .into());
    }
    serve_loading::<true, _, _, _, _, _>(
        name,
        needs,
        crate::app::load_config_without_parameters,
        Ok,
        handler,
    )
    .await
}

/// [`serve`] for the secret-scanning function: no console token or playground key, but the
/// reporters' keys, loaded at cold start.
pub async fn serve_secret_scanning<F, Fut>(name: &'static str, handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(&'static App, Request) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send,
{
    serve_loading::<false, _, _, _, _, _>(
        name,
        Needs::NEITHER,
        crate::app::load_config_without_parameters,
        App::with_reporters,
        handler,
    )
    .await
}

/// [`serve`] for a function whose secrets come from SSM parameters, and the one that signs
/// session tokens (create-session): only its binary links the signer's setup.
pub async fn serve_with_parameters<F, Fut>(
    name: &'static str,
    needs: Needs,
    handler: F,
) -> Result<(), lambda_http::Error>
where
    F: Fn(&'static App, Request) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send,
{
    let prepare = move |app: App| app.with_playground_if(needs);
    serve_loading::<false, _, _, _, _, _>(name, needs, crate::app::load_config, prepare, handler).await
}

/// `PREFETCH`: load the console identity provider's key set at cold start. A compile-time
/// switch: create-session verifies no console token, and its binary then holds no HTTPS
/// fetching code of its own.
///
/// `prepare` finishes the app (a function's own cold-start step, e.g. [`App::with_reporters`]);
/// generic, so that a step only one function takes is linked into that function alone.
async fn serve_loading<const PREFETCH: bool, L, LF, P, F, Fut>(
    name: &'static str,
    needs: Needs,
    load: L,
    prepare: P,
    handler: F,
) -> Result<(), lambda_http::Error>
where
    L: FnOnce() -> LF,
    LF: Future<Output = Result<crate::app::Loaded, crate::app::StartupError>>,
    P: FnOnce(App) -> Result<App, crate::app::StartupError>,
    F: Fn(&'static App, Request) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send,
{
    init_logging();
    let app: &'static App = match App::from_env(needs.console, load, prepare).await {
        // Lives as long as the process, which is exactly the life of a Lambda instance.
        Ok(app) => Box::leak(Box::new(app)),
        Err(e) => {
            tracing::error!(function = name, error = %crate::error::error_chain(&e), "cold start failed");
            return Err(e.into());
        }
    };
    if PREFETCH
        && needs.console
        && let Some(console) = &app.console
    {
        console.prefetch().await;
    }
    let kid = app.playground.as_ref().map(|p| p.kid());
    tracing::info!(
        function = name,
        pid = std::process::id(),
        kid,
        "cold start complete"
    );
    run_loop(name, move |req| handler(app, req)).await
}

/// Runs a function that needs no configuration, store or secret.
pub async fn serve_stateless<F, Fut>(name: &'static str, handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(Request) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send,
{
    init_logging();
    tracing::info!(function = name, pid = std::process::id(), "cold start complete");
    run_loop(name, handler).await
}

/// Runs the `/.well-known/jwks.json` function: the published key set is built once from the
/// configuration; no store, no secret.
pub async fn serve_jwks(name: &'static str) -> Result<(), lambda_http::Error> {
    use crate::handlers::jwks::{self, PublishedKeys};
    init_logging();
    let keys = match crate::app::load_config()
        .await
        .and_then(|(config, _)| Ok(PublishedKeys::from_config(&config)?))
    {
        Ok(keys) => &*Box::leak(Box::new(keys)),
        Err(e) => {
            tracing::error!(function = name, error = %crate::error::error_chain(&e), "cold start failed");
            return Err(e.into());
        }
    };
    tracing::info!(function = name, pid = std::process::id(), kids = ?keys.kids, "cold start complete");
    run_loop(name, move |req| jwks::handle(keys, req)).await
}

/// Runs the ledger function: the table's stream in, ledger and audit items out
/// ([`crate::ledger_stream`]). DynamoDB only: the embedded store writes its ledger itself.
pub async fn serve_ledger(name: &'static str) -> Result<(), lambda_http::Error> {
    use lambda_http::lambda_runtime::{LambdaEvent, run};
    init_logging();
    let store = match crate::app::dynamodb_store().await {
        Ok(store) => &*Box::leak(Box::new(store)),
        Err(e) => {
            tracing::error!(function = name, error = %crate::error::error_chain(&e), "cold start failed");
            return Err(e.into());
        }
    };
    tracing::info!(function = name, pid = std::process::id(), "cold start complete");
    run(service_fn(
        move |event: LambdaEvent<aws_lambda_events::event::dynamodb::Event>| async move {
            Ok::<_, std::convert::Infallible>(crate::ledger_stream::handle(store, event.payload).await)
        },
    ))
    .await
}

/// The request loop, with one structured log line per request (never headers or bodies).
async fn run_loop<F, Fut>(name: &'static str, handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(Request) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send,
{
    lambda_http::run(service_fn(move |req: Request| async move {
        let started = Instant::now();
        let method = req.method().to_string();
        let request_id = crate::request::request_id(&req);
        let response = handler(req).await;
        tracing::info!(
            function = name,
            method,
            status = response.status().as_u16(),
            request_id,
            elapsed_us = started.elapsed().as_micros() as u64,
            "request"
        );
        Ok::<_, std::convert::Infallible>(response)
    }))
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
