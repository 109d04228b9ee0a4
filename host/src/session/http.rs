//! HTTP requests the host sends for a plugin (`session.http-request`):
//! HTTP/1.1 over a connection made as a stream's is (granted address, the
//! same TLS roots), with the answer handed to the plugin as events when it
//! arrives: the head, then the body in chunks, then the end. The plugin is
//! never called to look whether something came. A request ends with the
//! instance that sent it (a crash, a reload): the code waiting for its
//! answer is gone, so nobody is left to hand it to.

use std::sync::Arc;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use tokio::sync::mpsc;
use tokio_rustls::rustls::ClientConfig;

use super::streams::{CHUNK, ReadAhead, StreamError, StreamEvent};
use crate::plugin::bindings::gatehouse::gateway::types::HttpRequest;
use crate::plugin::{Grant, HttpResponse, connect};

/// Header fields the host sets itself: the framing and the connection's
/// use are the host's, so a plugin cannot smuggle a second request in.
const HOST_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "proxy-connection",
];

/// A request checked and ready to send.
#[derive(Debug)]
pub(super) struct Prepared {
    pub(super) target: Target,
    method: http::Method,
    headers: http::HeaderMap,
    body: Vec<u8>,
}

impl Prepared {
    /// Checks a plugin's request: an `http(s)://` URL without credentials,
    /// a method, and header fields that are valid and not the host's.
    pub(super) fn new(request: HttpRequest) -> Result<Prepared, StreamError> {
        let target = Target::parse(&request.url)?;
        let method = http::Method::from_bytes(request.method.to_ascii_uppercase().as_bytes())
            .map_err(|_| StreamError::Invalid(format!("bad method {:?}", request.method)))?;
        let mut headers = http::HeaderMap::new();
        for (name, value) in &request.headers {
            let bad = |why: &str| StreamError::Invalid(format!("header {name:?}: {why}"));
            let name = http::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| bad("not a header name"))?;
            if HOST_HEADERS.contains(&name.as_str()) {
                return Err(bad("the host sets it"));
            }
            let value =
                http::HeaderValue::from_str(value).map_err(|_| bad("not a header value"))?;
            headers.append(name, value);
        }
        Ok(Prepared {
            target,
            method,
            headers,
            body: request.body.unwrap_or_default(),
        })
    }
}

/// Where a request goes, read from its URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Target {
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) tls: bool,
    /// `host[:port]`, for the `host` header.
    authority: String,
    /// The path and query, `/` at least.
    path: String,
}

impl Target {
    /// Reads an `http://` or `https://` URL.
    pub(super) fn parse(url: &str) -> Result<Target, StreamError> {
        let invalid = |why: &str| StreamError::Invalid(format!("{why}: {url}"));
        let uri: http::Uri = url.parse().map_err(|_| invalid("not a URL"))?;
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(invalid("not an http:// or https:// URL")),
        };
        let authority = uri.authority().ok_or_else(|| invalid("no host"))?;
        if authority.as_str().contains('@') {
            return Err(invalid("credentials in a URL are not sent"));
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        if host.is_empty() {
            return Err(invalid("no host"));
        }
        Ok(Target {
            host: host.to_owned(),
            port: authority.port_u16().unwrap_or(if tls { 443 } else { 80 }),
            tls,
            authority: authority.as_str().to_owned(),
            path: uri
                .path_and_query()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_else(|| "/".to_owned()),
        })
    }
}

/// Sends the request and hands what comes back to `events`.
pub(super) async fn fetch(
    id: u32,
    request: Prepared,
    tls: Option<Arc<ClientConfig>>,
    grants: Vec<Grant>,
    events: mpsc::UnboundedSender<StreamEvent>,
) {
    let (response, _connection) = match send(request, tls.as_ref(), &grants).await {
        Ok(response) => response,
        Err(reason) => {
            let _ = events.send(StreamEvent::HttpResponse(id, Err(reason)));
            return;
        }
    };
    let (head, mut body) = response.into_parts();
    // `_connection` lives until the body is read: dropping it (here, or
    // when the task is aborted) closes the socket.
    let head = HttpResponse {
        status: head.status.as_u16(),
        headers: head
            .headers
            .iter()
            .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
            .collect(),
    };
    if events
        .send(StreamEvent::HttpResponse(id, Ok(head)))
        .is_err()
    {
        return;
    }
    let shares = ReadAhead::shares();
    let end = loop {
        match body.frame().await {
            None => break None,
            Some(Err(e)) => break Some(e.to_string()),
            Some(Ok(frame)) => {
                let Ok(data) = frame.into_data() else {
                    continue; // trailers
                };
                for chunk in data.chunks(CHUNK) {
                    let Some(share) = ReadAhead::take(&shares).await else {
                        return;
                    };
                    let event = StreamEvent::Data(id, chunk.to_vec(), share);
                    if events.send(event).is_err() {
                        return;
                    }
                }
            }
        }
    };
    let _ = events.send(StreamEvent::Closed(id, end));
}

/// The task driving a request's connection, stopped with the request
/// (the plugin closed it, or its instance went).
struct Connection(tokio::task::JoinHandle<()>);

impl Drop for Connection {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Connects, sends the request, and waits for the response's head.
async fn send(
    request: Prepared,
    tls: Option<&Arc<ClientConfig>>,
    grants: &[Grant],
) -> Result<(hyper::Response<hyper::body::Incoming>, Connection), String> {
    let Prepared {
        target,
        method,
        headers,
        body,
    } = request;
    let mut outgoing = hyper::Request::builder()
        .method(method)
        .uri(target.path.as_str())
        .header(http::header::HOST, target.authority.as_str())
        .header(http::header::CONNECTION, "close")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| format!("bad request: {e}"))?;
    outgoing.headers_mut().extend(headers);
    let stream = connect(&target.host, target.port, tls, grants)
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, driver) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
    let connection = Connection(tokio::spawn(async move {
        if let Err(e) = driver.await {
            tracing::debug!(error = %e, "an HTTP connection of a plugin ended");
        }
    }));
    let response = sender
        .send_request(outgoing)
        .await
        .map_err(|e| e.to_string())?;
    Ok((response, connection))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_read_with_their_default_ports() {
        let target =
            Target::parse("https://matrix.example.org/_matrix/client/v3/sync?since=s1").unwrap();
        assert_eq!(target.host, "matrix.example.org");
        assert_eq!(target.port, 443);
        assert!(target.tls);
        assert_eq!(target.path, "/_matrix/client/v3/sync?since=s1");
        let plain = Target::parse("http://127.0.0.1:8008").unwrap();
        assert_eq!(
            (plain.port, plain.tls, plain.path.as_str()),
            (8008, false, "/")
        );
        for bad in [
            "ftp://x/",
            "not a url",
            "http:///nohost",
            "http://me:pw@example.org/",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_host_keeps_the_framing_headers() {
        let request = |name: &str, value: &str| HttpRequest {
            method: "post".into(),
            url: "http://example.org/x".into(),
            headers: vec![(name.into(), value.into())],
            body: Some(b"{}".to_vec()),
        };
        let ok = Prepared::new(request("content-type", "application/json")).unwrap();
        assert_eq!(ok.method, http::Method::POST);
        assert_eq!(ok.headers["content-type"], "application/json");
        for (name, value) in [
            ("Host", "evil.example"),
            ("content-length", "0"),
            ("Transfer-Encoding", "chunked"),
            ("bad name", "x"),
            ("x-ok", "line\nbreak"),
        ] {
            let refused = Prepared::new(request(name, value)).unwrap_err();
            assert!(
                matches!(refused, StreamError::Invalid(_)),
                "{name}: {refused}"
            );
        }
    }
}
