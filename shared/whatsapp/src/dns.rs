//! The operating system's resolver behind the domain's [`HostResolver`] port: the save-time
//! check of a bot's address and the HTTP client that calls bots both resolve through it.

use std::net::IpAddr;

use async_trait::async_trait;
use ritmo_core::common::net::HostResolver;
use ritmo_core::PortError;

/// The operating system's resolver.
pub struct SystemResolver;

#[async_trait]
impl HostResolver for SystemResolver {
    async fn resolve(&self, host: &str) -> Result<Vec<IpAddr>, PortError> {
        let addrs = tokio::net::lookup_host((host, 443))
            .await
            .map_err(|e| PortError::with_source("the host name did not resolve", e))?;
        Ok(addrs.map(|a| a.ip()).collect())
    }
}
