//! Reading a published key document over HTTPS: the console identity provider's key set and
//! GitHub's secret-scanning keys.
//!
//! The SDK's HTTP stack (hyper 1, rustls on aws-lc) is already in every function, so documents
//! are fetched with the same crates rather than a second client and TLS stack. Their hosts are
//! not AWS endpoints, so certificates are checked against the system's trust store (read once,
//! when the first fetch builds the connector — at cold start, see the `prefetch`es). Plain
//! `http://` is accepted only where configuration allows it (local runs; see `Config`).

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

/// Key documents are a few kilobytes; anything far larger is not one.
const MAX_BODY: usize = 256 * 1024;
const TIMEOUT: Duration = Duration::from_secs(3);
/// GitHub's API refuses requests without a User-Agent; it also names us to any provider's logs.
const USER_AGENT: &str = concat!("visionpipe-api/", env!("CARGO_PKG_VERSION"));

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

pub(crate) struct Fetcher {
    // The webhook sender's body type (`Full`, empty here): one copy of hyper's HTTP/1 code in
    // a function that both fetches a key set and delivers webhooks.
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
}

/// The system's trust store, for hosts that are not AWS endpoints (key documents, webhook
/// endpoints).
pub(crate) fn system_roots() -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    let (added, _ignored) = roots.add_parsable_certificates(native.certs);
    if added == 0 {
        tracing::warn!("no system CA certificates found; HTTPS requests to non-AWS hosts will fail");
    }
    roots
}

impl Fetcher {
    pub fn new() -> Self {
        let roots = system_roots();
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
            .header(hyper::header::USER_AGENT, USER_AGENT)
            .body(Full::new(Bytes::new()))
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

/// A stand-in for a document's publisher on a free port (tests only): answers every request
/// with what it holds now (status, body, and a `Cache-Control` value if any), and counts the
/// requests.
#[cfg(any(test, feature = "stand-in"))]
pub mod stand_in {
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    pub struct Provider {
        pub url: String,
        requests: Arc<AtomicUsize>,
        answer: Arc<Mutex<Answer>>,
        user_agents: Arc<Mutex<Vec<String>>>,
    }

    /// What the stand-in answers: status, body, `Cache-Control`.
    type Answer = (u16, Vec<u8>, Option<String>);

    impl Provider {
        pub fn start(status: u16, body: Vec<u8>) -> Provider {
            Self::with_cache_control(status, body, None)
        }

        pub fn with_cache_control(status: u16, body: Vec<u8>, cache_control: Option<&str>) -> Provider {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let url = format!("http://{}/keys.json", listener.local_addr().unwrap());
            let requests = Arc::new(AtomicUsize::new(0));
            let answer = Arc::new(Mutex::new((status, body, cache_control.map(str::to_string))));
            let user_agents = Arc::new(Mutex::new(Vec::new()));
            let (counted, answering, agents) = (requests.clone(), answer.clone(), user_agents.clone());
            std::thread::spawn(move || {
                for mut connection in listener.incoming().flatten() {
                    counted.fetch_add(1, Ordering::SeqCst);
                    // The request is a GET with no body: read to the end of its head.
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") && connection.read(&mut byte).unwrap_or(0) == 1 {
                        head.push(byte[0]);
                    }
                    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
                    if let Some(agent) = head.lines().find_map(|l| l.strip_prefix("user-agent: ")) {
                        agents.lock().unwrap().push(agent.trim().to_string());
                    }
                    let (status, body, cache_control) = answering.lock().unwrap().clone();
                    let cache = cache_control
                        .map(|v| format!("cache-control: {v}\r\n"))
                        .unwrap_or_default();
                    let answer = format!(
                        "HTTP/1.1 {status} X\r\ncontent-length: {}\r\n{cache}connection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = connection.write_all(answer.as_bytes());
                    let _ = connection.write_all(&body);
                }
            });
            Provider {
                url,
                requests,
                answer,
                user_agents,
            }
        }

        /// From now on, answer with `status` and `body` (the same Cache-Control).
        pub fn answer(&self, status: u16, body: Vec<u8>) {
            let mut answer = self.answer.lock().unwrap();
            (answer.0, answer.1) = (status, body);
        }

        pub fn requests(&self) -> usize {
            self.requests.load(Ordering::SeqCst)
        }

        /// The User-Agent of every request so far (lower-cased).
        pub fn user_agents(&self) -> Vec<String> {
            self.user_agents.lock().unwrap().clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::stand_in::Provider;
    use super::*;

    #[tokio::test]
    async fn the_fetcher_returns_a_200_body_whole_up_to_its_limit_and_refuses_the_rest() {
        let fetcher = Fetcher::new();
        // A set of many keys is tens of kilobytes: whole, byte for byte.
        let large: Vec<u8> = (0..40_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        let provider = Provider::start(200, large.clone());
        let fetched = fetcher.get(&provider.url).await.unwrap();
        assert_eq!((fetched.body, fetched.max_age), (large, None));
        // Named, as GitHub's API requires of every caller.
        assert_eq!(provider.user_agents(), [USER_AGENT.to_ascii_lowercase()]);
        // Not 200: an error naming the status, whatever the body.
        let failed = fetcher.get(&Provider::start(500, b"{}".to_vec()).url).await;
        assert!(failed.as_ref().is_err_and(|e| e.contains("500")), "{failed:?}");
        // Far larger than any key set (256 KiB): refused.
        let huge = vec![b' '; 256 * 1024 + 1];
        assert!(fetcher.get(&Provider::start(200, huge).url).await.is_err());
    }

    #[test]
    fn cache_control_says_how_long_a_key_set_may_be_kept() {
        let age = |value: &str| {
            let mut headers = hyper::HeaderMap::new();
            headers.insert(hyper::header::CACHE_CONTROL, value.parse().unwrap());
            max_age(&headers)
        };
        assert_eq!(age("public, max-age=300"), Some(Duration::from_secs(300)));
        assert_eq!(age("Max-Age=60, must-revalidate"), Some(Duration::from_secs(60)));
        assert_eq!(age("no-cache"), Some(Duration::ZERO));
        assert_eq!(age("max-age=300, no-store"), Some(Duration::ZERO));
        assert_eq!(age("public"), None);
        assert_eq!(max_age(&hyper::HeaderMap::new()), None);
    }
}
