//! What the operator lets a plugin reach: the gateway's `allow` entries,
//! checked before any connection (stream or HTTP) is made, and the
//! certificates its TLS connections trust.
//!
//! A grant names a host; the address it resolves to is checked again, and
//! the connection goes to that checked address (no second lookup). A
//! granted name that resolves to a loopback, private, link-local or other
//! internal address (the XMPP server's component port, a cloud metadata
//! service) is refused unless a grant names that address itself.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::Arc;

use rustls_pki_types::{CertificateDer, pem::PemObject};
use tokio_rustls::rustls::{ClientConfig, RootCertStore, crypto::ring};

/// One `allow` entry: a host (exact, or `*.suffix`) and a port (or any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    host: String,
    port: Option<u16>,
}

impl Grant {
    /// Reads `host:port`, `host:*` or `*.domain:port`; None if malformed.
    pub fn parse(pattern: &str) -> Option<Grant> {
        let (host, port) = pattern.rsplit_once(':')?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || host.contains(char::is_whitespace) {
            return None;
        }
        if let Some(domain) = host.strip_prefix("*.")
            && (domain.is_empty() || domain.contains('*'))
        {
            return None;
        }
        if host != "*" && host.trim_start_matches("*.").contains('*') {
            return None;
        }
        let port = match port {
            "*" => None,
            p => Some(p.parse::<u16>().ok().filter(|p| *p != 0)?),
        };
        Some(Grant {
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    /// Whether this grant names the address `ip` itself (an IP literal,
    /// compared as an address: `::1` and `0:0::1` are one) and `port`.
    pub fn names_address(&self, ip: IpAddr, port: u16) -> bool {
        self.port.is_none_or(|p| p == port) && self.host.parse::<IpAddr>().is_ok_and(|h| h == ip)
    }

    /// Whether this grant lets a plugin reach `host:port`.
    pub fn allows(&self, host: &str, port: u16) -> bool {
        if self.port.is_some_and(|p| p != port) {
            return false;
        }
        let host = host.to_ascii_lowercase();
        match self.host.strip_prefix("*.") {
            Some(domain) => host.ends_with(&format!(".{domain}")),
            None => self.host == host,
        }
    }
}

/// Whether a plugin may connect to `ip:port`, an address a granted name
/// resolved to: a public address, or one a grant names literally.
pub fn reachable(ip: IpAddr, port: u16, grants: &[Grant]) -> bool {
    is_public(ip) || grants.iter().any(|g| g.names_address(ip, port))
}

/// Not an address of this machine, its networks or its provider's.
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            let segments = v6.segments();
            // An IPv4 address inside an IPv6 one (mapped, compatible,
            // NAT64): judged as that IPv4 address.
            let embedded = match segments {
                [0, 0, 0, 0, 0, 0xffff, ..] | [0x64, 0xff9b, 0, 0, 0, 0, ..] => true,
                [0, 0, 0, 0, 0, 0, hi, _] => hi != 0,
                _ => false,
            };
            if embedded {
                let [.., a, b, c, d] = v6.octets();
                return is_public_v4(Ipv4Addr::new(a, b, c, d));
            }
            // fec0::/10: the deprecated site-local range.
            let site_local = segments[0] & 0xffc0 == 0xfec0;
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || v6.is_unique_local()
                || v6.is_unicast_link_local()
                || site_local)
        }
    }
}

fn is_public_v4(v4: Ipv4Addr) -> bool {
    let [a, b, c, _] = v4.octets();
    // 100.64.0.0/10: carrier-grade NAT, the provider's own network;
    // 192.0.0.0/24: protocol assignments; 198.18.0.0/15: benchmarking;
    // 240.0.0.0/4: reserved.
    let shared = a == 100 && (64..128).contains(&b);
    let protocol = a == 192 && b == 0 && c == 0;
    let benchmarking = a == 198 && (b == 18 || b == 19);
    !(v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_multicast()
        || shared
        || protocol
        || benchmarking
        || a >= 240
        || a == 0)
}

/// The TLS settings streams use: the web's root certificates (Mozilla's,
/// from `webpki-roots`) plus the operator's extra CA files (PEM), for
/// servers with a private CA.
pub fn tls_config(extra_ca: &[PathBuf]) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for path in extra_ca {
        let certs =
            CertificateDer::pem_file_iter(path).map_err(|e| format!("{}: {e}", path.display()))?;
        for cert in certs {
            let cert = cert.map_err(|e| format!("{}: {e}", path.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    let config = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_need_a_grant_of_their_own() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let named = vec![Grant::parse("irc.example.net:6667").unwrap()];
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:127.0.0.1",
            "::127.0.0.1",
            "64:ff9b::10.0.0.1",
            "fec0::1",
            "192.0.0.8",
            "198.18.0.1",
            "240.0.0.1",
        ] {
            assert!(!reachable(ip(internal), 6667, &named), "{internal}");
        }
        assert!(reachable(ip("203.0.113.7"), 6667, &named));
        assert!(reachable(ip("2001:db8::1"), 6667, &named));
        let literal = vec![Grant::parse("127.0.0.1:6667").unwrap()];
        assert!(reachable(ip("127.0.0.1"), 6667, &literal));
        assert!(!reachable(ip("127.0.0.1"), 6668, &literal));
        let v6 = vec![Grant::parse("[0:0::1]:6667").unwrap()];
        assert!(reachable(ip("::1"), 6667, &v6));
        // A wildcard names no address.
        let wildcard = vec![Grant::parse("*.0.1:6667").unwrap()];
        assert!(!reachable(ip("127.0.0.1"), 6667, &wildcard));
    }
}
