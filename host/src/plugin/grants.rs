//! What the operator lets a plugin reach: the gateway's `allow` entries,
//! checked before any connection (stream or HTTP) is made, and the
//! certificates its TLS connections trust.

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
