//! The one way a plugin's traffic reaches the network: a granted name
//! resolved once, each address checked ([`reachable`]), the connection
//! made to a checked one, TLS checked against the name with the web's
//! roots and the operator's `tls_ca`. Streams, the host's HTTP and raw
//! `wasi:http` all connect here, so none of them can be pointed at an
//! internal address by a name that resolves to it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::ClientConfig;

use super::grants::{Grant, reachable};

/// Longest a connection attempt (resolution and TCP, then TLS) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection, plain or TLS.
pub trait Connection: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Connection for T {}

/// Why a connection was not made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The name did not resolve.
    #[error("connecting to {0}: {1}")]
    Resolve(String, String),
    /// No checked address took the connection.
    #[error("connecting to {0}: {1}")]
    Connect(String, String),
    /// Resolution and connection took longer than the bound.
    #[error("connecting to {0}: timed out")]
    TimedOut(String),
    /// The TLS handshake failed (an untrusted or mismatched certificate…).
    #[error("TLS with {0}: {1}")]
    Tls(String, String),
    /// The granted name resolves only to internal addresses no grant names.
    #[error(
        "{0} resolves to {ip}, an internal address (loopback, private, link-local): grant {addr} itself to reach it",
        ip = .2.ip(),
        addr = .2
    )]
    Internal(String, u16, SocketAddr),
}

/// Connects to `host:port` (a granted name: the caller checked the
/// grant), with TLS when given its settings.
pub async fn connect(
    host: &str,
    port: u16,
    tls: Option<&Arc<ClientConfig>>,
    grants: &[Grant],
) -> Result<Box<dyn Connection>, ConnectError> {
    let address = format!("{host}:{port}");
    let connecting = async {
        let resolved = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| ConnectError::Resolve(address.clone(), e.to_string()))?;
        let mut refused = None;
        let mut failed = None;
        for candidate in resolved {
            if !reachable(candidate.ip(), port, grants) {
                refused = Some(candidate);
                continue;
            }
            match TcpStream::connect(candidate).await {
                Ok(tcp) => return Ok(tcp),
                Err(e) => failed = Some(e.to_string()),
            }
        }
        Err(match (failed, refused) {
            (Some(reason), _) => ConnectError::Connect(address.clone(), reason),
            (None, Some(checked)) => ConnectError::Internal(host.to_owned(), port, checked),
            (None, None) => ConnectError::Resolve(address.clone(), "no address".into()),
        })
    };
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
        .await
        .map_err(|_| ConnectError::TimedOut(address.clone()))??;
    let _ = tcp.set_nodelay(true);
    let Some(tls) = tls else {
        return Ok(Box::new(tcp));
    };
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| ConnectError::Tls(host.to_owned(), e.to_string()))?;
    let connector = TlsConnector::from(tls.clone());
    let secured = tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name, tcp))
        .await
        .map_err(|_| ConnectError::Tls(host.to_owned(), "timed out".into()))?
        .map_err(|e| ConnectError::Tls(host.to_owned(), e.to_string()))?;
    Ok(Box::new(secured))
}
