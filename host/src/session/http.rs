//! HTTP requests the host sends for a plugin (`session.http-request`):
//! HTTP/1.1 over a connection made as a stream's is (granted address, the
//! same TLS roots), with the answer handed to the plugin as events when it
//! arrives: the head, then the body in chunks, then the end. The plugin is
//! never called to look whether something came; a request is a task of
//! the session's, so it outlives plugin restarts, like a stream.

use std::sync::Arc;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use tokio::sync::mpsc;
use tokio_rustls::rustls::ClientConfig;

use super::streams::{CHUNK, StreamError, StreamEvent, connect};
use crate::plugin::HttpResponse;
use crate::plugin::bindings::gatehouse::gateway::types::HttpRequest;

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
    target: Target,
    request: HttpRequest,
    tls: Option<Arc<ClientConfig>>,
    events: mpsc::UnboundedSender<StreamEvent>,
) {
    let response = match send(&target, request, tls.as_ref()).await {
        Ok(response) => response,
        Err(reason) => {
            let _ = events.send(StreamEvent::HttpResponse(id, Err(reason)));
            return;
        }
    };
    let (head, mut body) = response.into_parts();
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
    let end = loop {
        match body.frame().await {
            None => break None,
            Some(Err(e)) => break Some(e.to_string()),
            Some(Ok(frame)) => {
                let Ok(data) = frame.into_data() else {
                    continue; // trailers
                };
                for chunk in data.chunks(CHUNK) {
                    if events.send(StreamEvent::Data(id, chunk.to_vec())).is_err() {
                        return;
                    }
                }
            }
        }
    };
    let _ = events.send(StreamEvent::Closed(id, end));
}

/// Connects, sends the request, and waits for the response's head.
async fn send(
    target: &Target,
    request: HttpRequest,
    tls: Option<&Arc<ClientConfig>>,
) -> Result<hyper::Response<hyper::body::Incoming>, String> {
    let mut builder = hyper::Request::builder()
        .method(request.method.to_ascii_uppercase().as_str())
        .uri(target.path.as_str())
        .header(http::header::HOST, target.authority.as_str())
        .header(http::header::CONNECTION, "close");
    for (name, value) in &request.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let body = Full::new(Bytes::from(request.body.unwrap_or_default()));
    let request = builder
        .body(body)
        .map_err(|e| format!("bad request: {e}"))?;
    let connection = connect(&target.host, target.port, tls)
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, driver) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(connection))
            .await
            .map_err(|e| e.to_string())?;
    // The connection's own task; it ends with the response's body.
    tokio::spawn(async move {
        if let Err(e) = driver.await {
            tracing::debug!(error = %e, "an HTTP connection of a plugin ended");
        }
    });
    sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())
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
        for bad in ["ftp://x/", "not a url", "http:///nohost"] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }
}
