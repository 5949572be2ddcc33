//! One delivery attempt: an event, signed for one endpoint, POSTed to its URL through the
//! [`CheckedConnector`] (resolve, check, connect to the checked address), answered within
//! [`ATTEMPT_TIMEOUT`]. A 2xx is delivered; anything else (a redirect included: redirects are
//! never followed) is a failed attempt, kept with its status, latency and error for the
//! endpoint's delivery log. Retries and their schedule are the caller's.

use super::guard::{CheckedConnector, Policy, Resolve};
use super::signing::SigningSecret;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

/// How long one attempt may take, connection included.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// How much of an endpoint's answer is read (and then dropped): enough to finish the exchange.
const MAX_ANSWER: usize = 16 * 1024;
const USER_AGENT: &str = concat!("visionpipe-webhooks/", env!("CARGO_PKG_VERSION"));

/// An event: its id, which travels in the `webhook-id` header and stays the same across
/// redeliveries (so receivers can drop duplicates), and what the Standard Webhooks
/// specification puts in the body ([`WireBody`]). Serialised whole, it is what the queue carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(with = "time::serde::rfc3339")]
    pub timestamp: OffsetDateTime,
    pub data: serde_json::Value,
}

/// The body an endpoint receives: `type`, `timestamp` and `data`.
#[derive(Serialize)]
struct WireBody<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(with = "time::serde::rfc3339")]
    timestamp: OffsetDateTime,
    data: &'a serde_json::Value,
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The endpoint's status code, if it answered.
    pub status: Option<u16>,
    pub latency: Duration,
    /// Why it failed, if it did (never the URL's query or anything the endpoint sent).
    pub error: Option<String>,
}

impl Attempt {
    pub fn delivered(&self) -> bool {
        self.error.is_none()
    }
}

/// Sends events; one per deployment instance (its connection pool is shared).
pub struct Sender {
    client: Client<hyper_rustls::HttpsConnector<CheckedConnector>, Full<Bytes>>,
    timeout: Duration,
}

impl Sender {
    pub fn new(resolver: Arc<dyn Resolve>, policy: Policy) -> Self {
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("aws-lc supports the default protocol versions")
        .with_root_certificates(crate::fetch::system_roots())
        .with_no_client_auth();
        let builder = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls);
        // Plain http only where the policy allows it (local runs); in AWS the form check has
        // refused it already, and the connector would too.
        let builder = match policy.allow_local {
            true => builder.https_or_http(),
            false => builder.https_only(),
        };
        let connector =
            builder
                .enable_http1()
                .wrap_connector(CheckedConnector::new(resolver, policy, ATTEMPT_TIMEOUT));
        Sender {
            client: Client::builder(TokioExecutor::new()).build(connector),
            timeout: ATTEMPT_TIMEOUT,
        }
    }

    /// The same, waiting at most `timeout` for an attempt (when a caller has less time than
    /// [`ATTEMPT_TIMEOUT`] to give, as a request does).
    pub fn with_timeout(self, timeout: Duration) -> Self {
        Sender {
            timeout: timeout.min(ATTEMPT_TIMEOUT),
            ..self
        }
    }

    /// One attempt to deliver `event` to `url`, signed with `secret`.
    pub async fn send(&self, url: &str, secret: &SigningSecret, event: &Event) -> Attempt {
        let started = Instant::now();
        let failed = |status: Option<u16>, error: String| Attempt {
            status,
            latency: started.elapsed(),
            error: Some(error),
        };
        let wire = WireBody {
            kind: &event.kind,
            timestamp: event.timestamp,
            data: &event.data,
        };
        let body = match serde_json::to_vec(&wire) {
            Ok(body) => body,
            Err(e) => return failed(None, format!("the event did not serialise: {e}")),
        };
        let headers = match secret.headers(&event.id, OffsetDateTime::now_utc().unix_timestamp(), &body) {
            Ok(headers) => headers,
            Err(e) => return failed(None, e.to_string()),
        };
        let mut request = hyper::Request::post(url)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(hyper::header::USER_AGENT, USER_AGENT);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let request = match request.body(Full::new(Bytes::from(body))) {
            Ok(request) => request,
            Err(_) => return failed(None, "the endpoint's URL is not one we can send to".into()),
        };
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| describe(&e))?;
            let status = response.status().as_u16();
            // Read (a bounded part of) the answer, so the connection can be reused.
            let _ = Limited::new(response.into_body(), MAX_ANSWER).collect().await;
            Ok::<u16, String>(status)
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Err(_) => failed(None, format!("no answer within {} ms", self.timeout.as_millis())),
            Ok(Err(error)) => failed(None, error),
            Ok(Ok(status)) if (200..300).contains(&status) => Attempt {
                status: Some(status),
                latency: started.elapsed(),
                error: None,
            },
            Ok(Ok(status)) if (300..400).contains(&status) => failed(
                Some(status),
                "answered with a redirect, which is not followed".into(),
            ),
            Ok(Ok(status)) => failed(Some(status), format!("answered {status}")),
        }
    }
}

/// A failed exchange in words, the refusal of a non-public address named as such.
fn describe(error: &hyper_util::client::legacy::Error) -> String {
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(error);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::PermissionDenied
        {
            return format!("refused before connecting: {io}");
        }
        source = e.source();
    }
    if error.is_connect() {
        "could not connect".into()
    } else {
        "the exchange failed".into()
    }
}
