//! Reading the identity provider's key set over HTTPS.
//!
//! The SDK's HTTP stack (hyper 1, rustls on aws-lc) is already in every function, so the key
//! set is fetched with the same crates rather than a second client and TLS stack. The provider
//! is not an AWS endpoint, so its certificate is checked against the system's trust store
//! (read once, when the first fetch builds the connector — at cold start, see
//! `ConsoleVerifier::prefetch`). Plain `http://` is accepted only where configuration allows it
//! (local runs; see `Config`).

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

/// Key sets are a few kilobytes; anything far larger is not one.
const MAX_BODY: usize = 256 * 1024;
const TIMEOUT: Duration = Duration::from_secs(3);

/// A fetched document and how long its answer says it may be kept.
#[derive(Debug, PartialEq, Eq)]
pub struct Fetched {
    pub body: Vec<u8>,
    pub max_age: Option<Duration>,
}

/// How long `Cache-Control` lets the answer be kept: `max-age=N`, or zero for `no-cache` and
/// `no-store`; `None` when it does not say.
pub fn max_age(headers: &hyper::HeaderMap) -> Option<Duration> {
    let mut age = None;
    for value in headers.get_all(hyper::header::CACHE_CONTROL) {
        for directive in value.to_str().unwrap_or("").split(',').map(str::trim) {
            let directive = directive.to_ascii_lowercase();
            if directive == "no-cache" || directive == "no-store" {
                return Some(Duration::ZERO);
            }
            if let Some(seconds) = directive.strip_prefix("max-age=").and_then(|n| n.parse().ok()) {
                age = Some(Duration::from_secs(seconds));
            }
        }
    }
    age
}

pub struct Fetcher {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>,
}

impl Fetcher {
    pub fn new() -> Self {
        let mut roots = rustls::RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        let (added, _ignored) = roots.add_parsable_certificates(native.certs);
        if added == 0 {
            tracing::warn!("no system CA certificates found; HTTPS key set fetches will fail");
        }
        let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("aws-lc supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        Fetcher {
            client: Client::builder(TokioExecutor::new()).build(connector),
        }
    }

    /// The body of `GET url` when it answers 200 within the timeout, with how long the
    /// answer says it may be kept ([`max_age`]); otherwise why not.
    pub async fn get(&self, url: &str) -> Result<Fetched, String> {
        let uri: hyper::Uri = url.parse().map_err(|e| format!("bad URL: {e}"))?;
        let request = hyper::Request::get(uri)
            .header(hyper::header::ACCEPT, "application/json")
            .body(Empty::new())
            .map_err(|e| e.to_string())?;
        let work = async {
            let response = self.client.request(request).await.map_err(|e| e.to_string())?;
            if response.status() != hyper::StatusCode::OK {
                return Err(format!("answered {}", response.status()));
            }
            let max_age = max_age(response.headers());
            let body = Limited::new(response.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|e| e.to_string())?;
            Ok(Fetched {
                body: body.to_bytes().to_vec(),
                max_age,
            })
        };
        tokio::time::timeout(TIMEOUT, work)
            .await
            .map_err(|_| format!("no answer within {} s", TIMEOUT.as_secs()))?
    }
}
