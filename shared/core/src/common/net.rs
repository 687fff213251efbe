//! Where Ritmo may post: a bot's `webhook_url` must reach the public internet, never this
//! machine, a private network or a cloud metadata service (server-side request forgery). The
//! address checks here are shared by the save-time check (names resolved through the
//! [`HostResolver`] port) and by the HTTP client that calls bots, which resolves every request
//! through the same filter and follows no redirect.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use async_trait::async_trait;

use crate::common::error::PortError;

/// Whether Ritmo must never connect to `ip`: loopback, private, shared (CGNAT), link-local
/// (cloud metadata at 169.254.169.254 included), unspecified, broadcast, multicast,
/// documentation and benchmarking ranges, IPv6 unique-local and link-local, and any IPv4 one
/// of those inside an IPv6 address.
pub fn forbidden_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return forbidden_v4(v4);
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local fc00::/7 (fd00:ec2::254 metadata)
                || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (first == 0x2001 && v6.segments()[1] == 0x0db8) // documentation
                || v6 == Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0) // NAT64 prefix itself
                || (first == 0x0064 && v6.segments()[1] == 0xff9b && {
                    let s = v6.segments();
                    forbidden_v4(Ipv4Addr::new(
                        (s[6] >> 8) as u8,
                        s[6] as u8,
                        (s[7] >> 8) as u8,
                        s[7] as u8,
                    ))
                })
        }
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || a >= 240 // reserved
}

/// The host of an `http(s)://` URL, without user info, port or brackets.
pub fn url_host(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let host = if let Some(bracketed) = authority.strip_prefix('[') {
        bracketed.split(']').next()?
    } else {
        authority.split(':').next()?
    };
    (!host.is_empty()).then_some(host)
}

/// Resolves host names (the system resolver, `ritmo_whatsapp::dns::SystemResolver`, in
/// production; a fixed table in tests).
#[async_trait]
pub trait HostResolver: Send + Sync {
    async fn resolve(&self, host: &str) -> Result<Vec<IpAddr>, PortError>;
}

/// How long the save-time check waits for a name to resolve.
pub const RESOLVE_TIMEOUT: Duration = Duration::from_secs(2);

/// Why `url` may not be posted to, checked before it is stored: a literal address or
/// `localhost` that is forbidden, or a name that resolves to a forbidden address now. A name
/// that does not resolve (yet) is stored: every call resolves it again through the same filter.
pub async fn refuse_webhook_url(resolver: &dyn HostResolver, url: &str) -> Option<String> {
    let host = url_host(url)?;
    let refusal = || {
        Some(
            "must reach the public internet: it points at this machine, a private network, a \
             link-local or a cloud metadata address"
                .to_string(),
        )
    };
    let lowered = host.to_ascii_lowercase();
    if lowered == "localhost" || lowered.ends_with(".localhost") {
        return refusal();
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return forbidden_address(ip).then(refusal).flatten();
    }
    match tokio::time::timeout(RESOLVE_TIMEOUT, resolver.resolve(host)).await {
        Ok(Ok(addresses)) if addresses.iter().any(|ip| forbidden_address(*ip)) => refusal(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_loopback_link_local_and_metadata_addresses_are_forbidden() {
        for ip in [
            "127.0.0.1",
            "127.8.9.10",
            "10.0.0.1",
            "10.255.255.255",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(forbidden_address(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "157.240.22.35",
            "172.32.0.1",
            "2a03:2880:f10c:83:face:b00c:0:25de",
        ] {
            assert!(!forbidden_address(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn the_host_of_a_url_is_found_past_user_info_ports_and_brackets() {
        assert_eq!(
            url_host("https://bot.example.com/hook?x=1"),
            Some("bot.example.com")
        );
        assert_eq!(
            url_host("https://user:pw@10.0.0.1:8443/x"),
            Some("10.0.0.1")
        );
        assert_eq!(url_host("https://[::1]:443/x"), Some("::1"));
        assert_eq!(url_host("https://evil.com@127.0.0.1/"), Some("127.0.0.1"));
        assert_eq!(url_host("ftp://x"), None);
    }

    struct Table(Vec<IpAddr>);

    #[async_trait]
    impl HostResolver for Table {
        async fn resolve(&self, _: &str) -> Result<Vec<IpAddr>, PortError> {
            Ok(self.0.clone())
        }
    }

    #[tokio::test]
    async fn a_url_is_refused_by_its_literal_address_or_what_its_name_resolves_to() {
        let public = Table(vec!["157.240.22.35".parse().unwrap()]);
        let inside = Table(vec![
            "157.240.22.35".parse().unwrap(),
            "10.1.2.3".parse().unwrap(),
        ]);
        assert!(refuse_webhook_url(&public, "https://bot.example.com/h")
            .await
            .is_none());
        assert!(refuse_webhook_url(&inside, "https://bot.example.com/h")
            .await
            .is_some());
        for url in [
            "https://127.0.0.1/h",
            "https://169.254.169.254/latest/meta-data/",
            "https://10.0.0.8:8443/h",
            "https://localhost/h",
            "https://api.localhost/h",
            "https://[::1]/h",
        ] {
            assert!(refuse_webhook_url(&public, url).await.is_some(), "{url}");
        }
        struct Failing;
        #[async_trait]
        impl HostResolver for Failing {
            async fn resolve(&self, _: &str) -> Result<Vec<IpAddr>, PortError> {
                Err(PortError::new("no answer"))
            }
        }
        assert!(
            refuse_webhook_url(&Failing, "https://not-yet.example.com/h")
                .await
                .is_none(),
            "checked again at every call"
        );
    }
}
