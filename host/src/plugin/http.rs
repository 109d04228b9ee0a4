//! Raw `wasi:http` for plugins (what JavaScript's `fetch` uses), through
//! the same grants and the same connection path as streams: an authority
//! not in the gateway's `allow` list fails with `HTTP-request-denied`
//! before any connection is made, a granted name that resolves to an
//! internal address with `destination-IP-prohibited`, and HTTPS trusts the
//! operator's `tls_ca` as streams do. An instance has at most
//! [`MAX_REQUESTS`] requests open; more wait for one to end.

use std::sync::Arc;
use std::time::Duration;

use http::uri::Scheme;
use http_body_util::BodyExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::rustls::ClientConfig;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use super::connect::{ConnectError, connect};
use super::grants::Grant;

/// Most `wasi:http` requests one instance has open at once.
pub const MAX_REQUESTS: usize = 8;

/// How long the response's head may take when the plugin sets no bound.
const FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(60);

/// The wasi:http hooks of one instance: its grants, its TLS roots, and
/// its share of open requests.
pub struct HttpGrants {
    grants: Arc<[Grant]>,
    tls: Option<Arc<ClientConfig>>,
    open: Arc<Semaphore>,
}

impl HttpGrants {
    /// Hooks that let requests reach `grants` only, with `tls` for HTTPS
    /// (None: no HTTPS).
    pub fn new(grants: Vec<Grant>, tls: Option<Arc<ClientConfig>>) -> Self {
        HttpGrants {
            grants: grants.into(),
            tls,
            open: Arc::new(Semaphore::new(MAX_REQUESTS)),
        }
    }
}

type Io = Box<dyn Future<Output = Result<(), Error>> + Send>;
type ResponseFuture =
    Box<dyn Future<Output = Result<(http::Response<WasiBody>, Io), Error>> + Send>;

impl WasiHttpHooks for HttpGrants {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> ResponseFuture {
        _ = fut;
        let uri = request.uri();
        let host = uri
            .host()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let https = uri.scheme() != Some(&Scheme::HTTP);
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        if !self.grants.iter().any(|g| g.allows(&host, port)) {
            tracing::warn!(host, port, "a plugin was denied an HTTP request");
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        let tls = match (https, &self.tls) {
            (false, _) => None,
            (true, Some(tls)) => Some(tls.clone()),
            (true, None) => return Box::new(async { Err(Error::ConfigurationError) }),
        };
        let grants = self.grants.clone();
        let open = self.open.clone();
        Box::new(async move {
            let permit = open
                .acquire_owned()
                .await
                .map_err(|_| Error::ConnectionLimitReached)?;
            send(request, options, &host, port, tls, &grants, permit).await
        })
    }
}

/// Connects through [`connect`], sends the request, and waits for the
/// response's head while driving the connection; the connection's
/// remaining work (the body) is the returned `Io`, which holds the
/// request's permit.
async fn send(
    mut request: http::Request<WasiBody>,
    options: Option<RequestOptions>,
    host: &str,
    port: u16,
    tls: Option<Arc<ClientConfig>>,
    grants: &[Grant],
    permit: OwnedSemaphorePermit,
) -> Result<(http::Response<WasiBody>, Io), Error> {
    let connection = connect(host, port, tls.as_ref(), grants)
        .await
        .map_err(refused)?;
    let (mut sender, driver) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(connection)).await?;
    // The request line carries the path only: the authority is in `host`.
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .parse()
        .map_err(|_| Error::HttpRequestUriInvalid)?;
    *request.uri_mut() = path;
    let first_byte = options
        .and_then(|o| o.first_byte_timeout)
        .unwrap_or(FIRST_BYTE_TIMEOUT);
    let mut driver = Box::pin(driver);
    let sending = sender.send_request(request);
    tokio::pin!(sending);
    let head = async {
        tokio::select! {
            biased;
            response = &mut sending => Ok((response?, true)),
            ended = &mut driver => {
                // The connection ended first (the server answered and
                // closed): the response is there to take.
                ended?;
                Ok::<_, Error>(((&mut sending).await?, false))
            }
        }
    };
    let (response, driving) = tokio::time::timeout(first_byte, head)
        .await
        .map_err(|_| Error::ConnectionReadTimeout)??;
    let io: Io = Box::new(async move {
        let _permit = permit;
        if driving {
            driver.await?;
        }
        Ok(())
    });
    Ok((
        response.map(|body| body.map_err(Error::from).boxed_unsync()),
        io,
    ))
}

/// The wasi:http error for a connection not made.
fn refused(e: ConnectError) -> Error {
    tracing::warn!(error = %e, "a plugin's HTTP request found no connection");
    match e {
        ConnectError::Internal(..) => Error::DestinationIpProhibited,
        ConnectError::Resolve(..) => Error::DnsError {
            rcode: None,
            info_code: None,
        },
        ConnectError::TimedOut(_) => Error::ConnectionTimeout,
        ConnectError::Connect(_, reason) => Error::Connect(std::io::Error::other(reason)),
        ConnectError::Tls(_, reason) => Error::Tls(std::io::Error::other(reason)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Empty;
    use hyper::body::Bytes;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A server answering every request on `listener` with `body`,
    /// through `tls` when given.
    fn serve(
        listener: tokio::net::TcpListener,
        tls: Option<tokio_rustls::TlsAcceptor>,
        body: &'static str,
    ) {
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let tls = tls.clone();
                tokio::spawn(async move {
                    let mut socket: Box<dyn super::super::Connection> = match tls {
                        Some(tls) => match tls.accept(socket).await {
                            Ok(s) => Box::new(s),
                            Err(_) => return,
                        },
                        None => Box::new(socket),
                    };
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.ends_with(b"\r\n\r\n") {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&request);
                    let path = head.split(' ').nth(1).unwrap_or_default().to_owned();
                    let text = format!("{body} {path}");
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                        text.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
    }

    async fn get(hooks: &mut HttpGrants, url: &str) -> Result<String, Error> {
        let request = http::Request::get(url)
            .body(Empty::<Bytes>::new().map_err(|e| match e {}).boxed_unsync())
            .unwrap();
        let fut: Io = Box::new(async { Ok(()) });
        let (response, io) = Box::into_pin(hooks.send_request(request, None, fut)).await?;
        let io = tokio::spawn(Box::into_pin(io));
        let body = response.into_body().collect().await?.to_bytes();
        io.await.expect("the connection's task")?;
        Ok(String::from_utf8_lossy(&body).into_owned())
    }

    fn grants(list: &[String]) -> Vec<Grant> {
        list.iter().map(|g| Grant::parse(g).unwrap()).collect()
    }

    #[tokio::test]
    async fn requests_reach_checked_addresses_only() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        serve(listener, None, "hello");
        let tls = super::super::tls_config(&[]).ok();
        // Granted by name only: `localhost` is loopback, which no grant names.
        let mut by_name = HttpGrants::new(grants(&[format!("localhost:{port}")]), tls.clone());
        assert!(matches!(
            get(&mut by_name, &format!("http://localhost:{port}/x")).await,
            Err(Error::DestinationIpProhibited)
        ));
        // Not granted at all: refused before any connection.
        assert!(matches!(
            get(&mut by_name, &format!("http://127.0.0.1:{port}/x")).await,
            Err(Error::HttpRequestDenied)
        ));
        // The address granted itself: the request goes through.
        let mut literal = HttpGrants::new(grants(&[format!("127.0.0.1:{port}")]), tls);
        assert_eq!(
            get(&mut literal, &format!("http://127.0.0.1:{port}/x?y=1"))
                .await
                .unwrap(),
            "hello /x?y=1"
        );
    }

    #[tokio::test]
    async fn https_trusts_the_operators_ca() {
        use tokio_rustls::rustls::{self, pki_types::PrivateKeyDer};

        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let key = PrivateKeyDer::try_from(certified.signing_key.serialize_der()).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        serve(
            listener,
            Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))),
            "secure",
        );
        let allowed = grants(&[format!("localhost:{port}"), format!("127.0.0.1:{port}")]);
        let url = format!("https://localhost:{port}/s");
        // The web's roots only: the private certificate is refused.
        let mut web = HttpGrants::new(allowed.clone(), super::super::tls_config(&[]).ok());
        assert!(matches!(get(&mut web, &url).await, Err(Error::Tls(_))));
        // With the operator's CA file, as `tls_ca` gives it.
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, certified.cert.pem()).unwrap();
        let mut private = HttpGrants::new(allowed, super::super::tls_config(&[ca]).ok());
        assert_eq!(get(&mut private, &url).await.unwrap(), "secure /s");
    }

    #[tokio::test]
    async fn an_instance_has_a_bounded_number_of_requests_open() {
        use std::sync::atomic::{AtomicUsize, Ordering};

        // A server that holds every connection unanswered until told to
        // hang up on the first one.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        let (hang_up, mut told) = tokio::sync::mpsc::unbounded_channel::<()>();
        tokio::spawn(async move {
            let mut held = Vec::new();
            loop {
                tokio::select! {
                    Ok((socket, _)) = listener.accept() => {
                        counter.fetch_add(1, Ordering::SeqCst);
                        held.push(socket);
                    }
                    Some(()) = told.recv() => drop(held.remove(0)),
                }
            }
        });
        let until = async |n: usize| {
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            while accepted.load(Ordering::SeqCst) < n {
                assert!(std::time::Instant::now() < deadline, "{n} connections");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        let mut hooks = HttpGrants::new(grants(&[format!("127.0.0.1:{port}")]), None);
        let url = format!("http://127.0.0.1:{port}/");
        let mut pending = Vec::new();
        for _ in 0..MAX_REQUESTS + 4 {
            let request = http::Request::get(url.as_str())
                .body(Empty::<Bytes>::new().map_err(|e| match e {}).boxed_unsync())
                .unwrap();
            let fut: Io = Box::new(async { Ok(()) });
            pending.push(tokio::spawn(Box::into_pin(
                hooks.send_request(request, None, fut),
            )));
        }
        until(MAX_REQUESTS).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            MAX_REQUESTS,
            "the requests past the cap wait"
        );
        // One request ends (the server hangs up): one waiting request goes.
        hang_up.send(()).unwrap();
        until(MAX_REQUESTS + 1).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(accepted.load(Ordering::SeqCst), MAX_REQUESTS + 1);
        pending.iter().for_each(|task| task.abort());
    }
}
