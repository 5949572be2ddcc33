//! A resolver with fixed answers, for tests of where webhooks may go: a name can be made to
//! point anywhere (10.0.0.1, the metadata address, 127.0.0.1) without touching DNS.

use common::webhooks::guard::Resolve;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;

pub struct StaticResolver(pub Vec<(&'static str, IpAddr)>);

impl StaticResolver {
    pub fn new(answers: &[(&'static str, &str)]) -> Self {
        StaticResolver(
            answers
                .iter()
                .map(|(name, ip)| (*name, ip.parse().expect("an IP address")))
                .collect(),
        )
    }
}

impl Resolve for StaticResolver {
    fn resolve(
        &self,
        host: &str,
        port: u16,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send>> {
        let found: Vec<SocketAddr> = self
            .0
            .iter()
            .filter(|(name, _)| *name == host)
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
