//! Where webhooks may go: a customer names the URL, so a URL must never make us reach inside
//! our own network (a private address, the instance metadata service, loopback). The check is
//! made when an endpoint is created and again at every delivery, on the addresses the host
//! resolves to *then*; the delivery connects only to an address it has just checked (the
//! [`CheckedConnector`]), so a name that changes its answer between the check and the
//! connection (DNS rebinding) reaches nothing it should not. Redirects are never followed.

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use lambda_http::http::Uri;

/// The longest endpoint URL accepted.
pub const MAX_URL_LEN: usize = 2048;

/// Which endpoints a deployment may deliver to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Local runs only: `http://` and loopback addresses, so tests can receive on 127.0.0.1.
    pub allow_local: bool,
}

/// Why an endpoint URL is refused; the messages are the API's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("url must be an absolute https:// URL of at most 2048 characters")]
    NotAUrl,
    #[error("url must use https://")]
    NotHttps,
    #[error("url must not carry a user name or password")]
    Credentials,
    #[error("url's host does not resolve")]
    Unresolvable,
    /// The host is, or resolves to, an address we never deliver to (not echoed: it may be
    /// what the caller is probing for).
    #[error("url's host is a private, loopback, link-local or otherwise non-public address")]
    NotPublic,
}

/// An endpoint URL that passed the form checks: its scheme, host and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointUrl {
    pub uri: Uri,
    pub host: String,
    pub port: u16,
}

/// The form checks: absolute, `https://` (or `http://` locally), a host, no credentials.
pub fn parse(raw: &str, policy: Policy) -> Result<EndpointUrl, Refused> {
    if raw.len() > MAX_URL_LEN {
        return Err(Refused::NotAUrl);
    }
    let uri: Uri = raw.parse().map_err(|_| Refused::NotAUrl)?;
    let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return Err(Refused::NotAUrl);
    };
    let default_port = match scheme {
        "https" => 443,
        "http" if policy.allow_local => 80,
        _ => return Err(Refused::NotHttps),
    };
    if authority.as_str().contains('@') {
        return Err(Refused::Credentials);
    }
    let host = authority.host().trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(Refused::NotAUrl);
    }
    Ok(EndpointUrl {
        host: host.to_ascii_lowercase(),
        port: authority.port_u16().unwrap_or(default_port),
        uri,
    })
}

/// Whether a delivery may connect to `ip`: public unicast addresses only (loopback too when
/// local). Written out rather than `IpAddr::is_global`, which is not stable Rust.
pub fn may_connect(ip: IpAddr, policy: Policy) -> bool {
    match ip {
        IpAddr::V4(v4) => v4_may_connect(v4, policy),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            // ::ffff:a.b.c.d is a.b.c.d.
            Some(v4) => v4_may_connect(v4, policy),
            None => v6_may_connect(v6, policy),
        },
    }
}

fn v4_may_connect(ip: Ipv4Addr, policy: Policy) -> bool {
    let [a, b, c, _] = ip.octets();
    if ip.is_loopback() {
        return policy.allow_local;
    }
    !(a == 0 // "this network"
        || ip.is_private() // 10/8, 172.16/12, 192.168/16
        || (a == 100 && (64..128).contains(&b)) // shared address space (carrier-grade NAT)
        || ip.is_link_local() // 169.254/16: the instance metadata service lives here
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || ip.is_documentation()
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || ip.is_multicast()
        || a >= 240) // reserved, and the broadcast address
}

fn v6_may_connect(ip: Ipv6Addr, policy: Policy) -> bool {
    if ip.is_loopback() {
        return policy.allow_local;
    }
    let s = ip.segments();
    !(ip.is_unspecified()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local (AWS's IPv6 metadata address is one)
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x0064 && s[1] == 0xff9b) // NAT64: would reach IPv4 behind it
        || s[0] == 0x2002 // 6to4: embeds an IPv4 address
        || (s[0] == 0x2001 && s[1] == 0) // Teredo
        || (s[0] == 0x0100 && s[1..4] == [0, 0, 0]) // discard-only
        || ip.to_ipv4().is_some()) // IPv4-compatible (deprecated) addresses
}

/// How a host name becomes addresses. The system resolver in production; tests give their
/// own answers (a name that maps to 10.0.0.1, say) without touching DNS.
pub trait Resolve: Send + Sync {
    fn resolve(
        &self,
        host: &str,
        port: u16,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send>>;
}

/// The system resolver (`getaddrinfo`, through tokio).
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve(
        &self,
        host: &str,
        port: u16,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send>> {
        let target = format!("{host}:{port}");
        Box::pin(async move { Ok(tokio::net::lookup_host(target).await?.collect()) })
    }
}

/// The addresses `host` may be reached at, all of them checked: refused if any is not
/// public (a name that answers with one public and one private address is not delivered to).
pub async fn checked_addresses(
    resolver: &dyn Resolve,
    host: &str,
    port: u16,
    policy: Policy,
) -> Result<Vec<SocketAddr>, Refused> {
    let addresses = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => resolver
            .resolve(host, port)
            .await
            .map_err(|_| Refused::Unresolvable)?,
    };
    if addresses.is_empty() {
        return Err(Refused::Unresolvable);
    }
    if addresses.iter().any(|a| !may_connect(a.ip(), policy)) {
        return Err(Refused::NotPublic);
    }
    Ok(addresses)
}

/// The TCP connector every delivery goes through: it resolves the URL's host itself, checks
/// every address, and connects only to those it checked. Under the TLS layer, which still
/// verifies the certificate for the URL's host name.
#[derive(Clone)]
pub struct CheckedConnector {
    resolver: Arc<dyn Resolve>,
    policy: Policy,
    tcp: HttpConnector,
}

impl CheckedConnector {
    pub fn new(resolver: Arc<dyn Resolve>, policy: Policy, connect_timeout: std::time::Duration) -> Self {
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_connect_timeout(Some(connect_timeout));
        tcp.set_nodelay(true);
        CheckedConnector {
            resolver,
            policy,
            tcp,
        }
    }
}

impl tower_service::Service<Uri> for CheckedConnector {
    type Response = TokioIo<tokio::net::TcpStream>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, io::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), io::Error>> {
        tower_service::Service::<Uri>::poll_ready(&mut self.tcp, cx).map_err(io::Error::other)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let (resolver, policy, mut tcp) = (self.resolver.clone(), self.policy, self.tcp.clone());
        Box::pin(async move {
            let refused = |e: Refused| io::Error::new(io::ErrorKind::PermissionDenied, e);
            let host = uri
                .host()
                .ok_or_else(|| refused(Refused::NotAUrl))?
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string();
            let port = uri
                .port_u16()
                .unwrap_or(if uri.scheme_str() == Some("http") { 80 } else { 443 });
            let addresses = checked_addresses(resolver.as_ref(), &host, port, policy)
                .await
                .map_err(refused)?;
            let mut last = io::Error::other("no address to connect to");
            for address in addresses {
                // The checked address itself, as an IP literal: nothing is resolved again.
                let literal: Uri = format!("http://{address}/").parse().map_err(io::Error::other)?;
                match tower_service::Service::<Uri>::call(&mut tcp, literal).await {
                    Ok(stream) => return Ok(stream),
                    Err(e) => last = io::Error::other(e),
                }
            }
            Err(last)
        })
    }
}

/// A resolver with fixed answers (tests only): a name can be made to point anywhere (10.0.0.1,
/// the metadata address, 127.0.0.1) without touching DNS.
#[cfg(any(test, feature = "stand-in"))]
pub struct FixedResolver(Vec<(String, IpAddr)>);

#[cfg(any(test, feature = "stand-in"))]
impl FixedResolver {
    pub fn new(answers: &[(&str, &str)]) -> Self {
        FixedResolver(
            answers
                .iter()
                .map(|(name, ip)| (name.to_string(), ip.parse().expect("an IP address")))
                .collect(),
        )
    }
}

#[cfg(any(test, feature = "stand-in"))]
impl Resolve for FixedResolver {
    fn resolve(
        &self,
        host: &str,
        port: u16,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send>> {
        let found: Vec<SocketAddr> = self
            .0
            .iter()
            .filter(|(name, _)| name == host)
            .map(|(_, ip)| SocketAddr::new(*ip, port))
            .collect();
        Box::pin(async move {
            match found.is_empty() {
                true => Err(io::Error::new(io::ErrorKind::NotFound, "no such host")),
                false => Ok(found),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AWS: Policy = Policy { allow_local: false };
    const LOCAL: Policy = Policy { allow_local: true };

    #[test]
    fn only_public_unicast_addresses_may_be_reached() {
        for ip in [
            "127.0.0.1",
            "127.8.9.10",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.170.2",
            "100.64.0.1",
            "0.0.0.0",
            "192.0.0.192",
            "192.0.2.1",
            "198.18.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "::1",
            "::",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "fd00:ec2::254",
            "fc00::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "64:ff9b::a00:1",
            "2002:a00:1::1",
            "2001::1",
            "::10.0.0.1",
        ] {
            assert!(!may_connect(ip.parse().unwrap(), AWS), "{ip} is refused");
        }
        for ip in [
            "93.184.215.14",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(may_connect(ip.parse().unwrap(), AWS), "{ip} may be reached");
        }
        // Locally, loopback too (and nothing else besides).
        assert!(may_connect("127.0.0.1".parse().unwrap(), LOCAL));
        assert!(may_connect("::1".parse().unwrap(), LOCAL));
        assert!(!may_connect("10.0.0.1".parse().unwrap(), LOCAL));
        assert!(!may_connect("169.254.169.254".parse().unwrap(), LOCAL));
    }

    #[test]
    fn urls_are_absolute_https_with_a_host_and_no_credentials() {
        let ok = parse("https://hooks.example.com/visionpipe?x=1", AWS).unwrap();
        assert_eq!((ok.host.as_str(), ok.port), ("hooks.example.com", 443));
        assert_eq!(
            parse("https://[2606:4700::1111]:8443/", AWS).unwrap().host,
            "2606:4700::1111"
        );
        for (raw, why) in [
            ("http://hooks.example.com/", Refused::NotHttps),
            ("ftp://hooks.example.com/", Refused::NotHttps),
            ("hooks.example.com/path", Refused::NotAUrl),
            ("/just/a/path", Refused::NotAUrl),
            ("https://user:pass@hooks.example.com/", Refused::Credentials),
            ("https://hooks.example.com@10.0.0.1/", Refused::Credentials),
            ("not a url", Refused::NotAUrl),
        ] {
            assert_eq!(parse(raw, AWS), Err(why), "{raw}");
        }
        assert_eq!(
            parse(&format!("https://a.example/{}", "p".repeat(MAX_URL_LEN)), AWS),
            Err(Refused::NotAUrl)
        );
        // Locally, plain http (for a receiver on 127.0.0.1).
        assert_eq!(parse("http://127.0.0.1:9999/hook", LOCAL).unwrap().port, 9999);
    }

    #[tokio::test]
    async fn a_name_is_refused_if_any_address_it_resolves_to_is_not_public() {
        let dns = FixedResolver::new(&[
            ("public.test", "93.184.215.14"),
            ("internal.test", "10.0.0.1"),
            ("both.test", "93.184.215.14"),
            ("both.test", "169.254.169.254"),
        ]);
        assert!(checked_addresses(&dns, "public.test", 443, AWS).await.is_ok());
        for (host, why) in [
            ("internal.test", Refused::NotPublic),
            ("both.test", Refused::NotPublic),
            ("169.254.169.254", Refused::NotPublic),
            ("nowhere.test", Refused::Unresolvable),
        ] {
            assert_eq!(checked_addresses(&dns, host, 443, AWS).await, Err(why), "{host}");
        }
    }

    #[tokio::test]
    async fn the_connector_refuses_before_connecting_and_connects_to_the_address_it_checked() {
        use tower_service::Service;
        // A listener on loopback, to see whether anything connects.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let dns = Arc::new(FixedResolver::new(&[
            ("internal.test", "10.0.0.1"),
            ("here.test", "127.0.0.1"),
        ]));
        let timeout = std::time::Duration::from_secs(2);
        // In AWS: loopback, a private name and the metadata address are refused outright.
        let mut aws = CheckedConnector::new(dns.clone(), AWS, timeout);
        for uri in [
            format!("https://127.0.0.1:{port}/"),
            format!("https://here.test:{port}/"),
            "https://internal.test/".to_string(),
            "https://169.254.169.254/latest/meta-data/".to_string(),
        ] {
            let Err(e) = aws.call(uri.parse().unwrap()).await else {
                panic!("{uri}: connected")
            };
            assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{uri}: {e}");
        }
        let accepted = tokio::time::timeout(std::time::Duration::from_millis(100), listener.accept()).await;
        assert!(accepted.is_err(), "nothing connected to the listener");
        // Locally, the loopback name connects, to the address its check found.
        let mut local = CheckedConnector::new(dns, LOCAL, timeout);
        let stream = local.call(format!("http://here.test:{port}/").parse().unwrap());
        let (stream, accepted) = tokio::join!(stream, listener.accept());
        assert!(stream.is_ok() && accepted.is_ok());
    }
}
