//! HTTP requests that a task `.await`s (WASI HTTP underneath).
//!
//! The host lets a plugin reach only the hosts the operator granted (the
//! gateway's `allow` list). A request is sent at once; its response is
//! polled between events (every few milliseconds, by a host timer), so a
//! slow server never holds a call past its deadline.
//!
//! ```no_run
//! use gatehouse_guest::{http, task};
//!
//! task::spawn(async {
//!     match http::get("https://api.example.org/v1/me").await {
//!         Ok(response) if response.status == 200 => { /* response.body */ }
//!         Ok(response) => { /* an HTTP error status */ }
//!         Err(e) => { /* refused, unreachable, malformed */ }
//!     }
//! });
//! ```

use wasi::http::outgoing_handler;
use wasi::http::types::{ErrorCode, Fields, Method, OutgoingBody, OutgoingRequest, Scheme};
use wasi::io::poll::Pollable;
use wasi::io::streams::StreamError;

use crate::task;

/// How often a pending response is looked at, in milliseconds.
const POLL_MS: u32 = 5;

/// A request to send.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `POST`, …
    pub method: String,
    /// `http://` or `https://` URL.
    pub url: String,
    /// Header fields.
    pub headers: Vec<(String, String)>,
    /// The body, if any.
    pub body: Option<Vec<u8>>,
}

/// A response, body included.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header fields, as received.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The whole body.
    pub body: Vec<u8>,
}

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError(pub String);

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HttpError {}

impl From<ErrorCode> for HttpError {
    fn from(code: ErrorCode) -> Self {
        HttpError(format!("{code:?}"))
    }
}

/// `GET url`.
pub async fn get(url: &str) -> Result<Response, HttpError> {
    fetch(Request {
        method: "GET".into(),
        url: url.into(),
        headers: Vec::new(),
        body: None,
    })
    .await
}

/// Sends a request and waits for the whole response.
pub async fn fetch(request: Request) -> Result<Response, HttpError> {
    let pending = send(&request)?;
    let response = loop {
        match pending.get() {
            Some(Ok(Ok(response))) => break response,
            Some(Ok(Err(code))) => return Err(code.into()),
            Some(Err(())) => return Err(HttpError("the response was already taken".into())),
            None => ready(&pending.subscribe()).await,
        }
    };
    let status = response.status();
    let headers = response.headers().entries();
    let body = response
        .consume()
        .map_err(|()| HttpError("the response has no body".into()))?;
    let mut bytes = Vec::new();
    {
        let stream = body
            .stream()
            .map_err(|()| HttpError("the response body cannot be read".into()))?;
        let readable = stream.subscribe();
        loop {
            match stream.read(64 * 1024) {
                Ok(chunk) if chunk.is_empty() => ready(&readable).await,
                Ok(chunk) => bytes.extend(chunk),
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => {
                    return Err(HttpError(e.to_debug_string()));
                }
            }
        }
    }
    Ok(Response {
        status,
        headers,
        body: bytes,
    })
}

/// Waits until a WASI pollable is ready, looking every few milliseconds.
/// (`ready()` is what makes the host move a pending response or body
/// forward: without it, `get` and `read` would never see it arrive.)
async fn ready(pollable: &Pollable) {
    while !pollable.ready() {
        task::sleep(POLL_MS).await;
    }
}

/// Starts the request; the response is then polled.
fn send(request: &Request) -> Result<outgoing_handler::FutureIncomingResponse, HttpError> {
    let bad = |what: &str| HttpError(format!("{what}: {}", request.url));
    let (scheme, rest) = match request.url.split_once("://") {
        Some(("http", rest)) => (Scheme::Http, rest),
        Some(("https", rest)) => (Scheme::Https, rest),
        _ => return Err(bad("not an http:// or https:// URL")),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    };
    let fields = Fields::new();
    for (name, value) in &request.headers {
        fields
            .append(name, &value.clone().into_bytes())
            .map_err(|e| HttpError(format!("header {name}: {e:?}")))?;
    }
    let outgoing = OutgoingRequest::new(fields);
    let method = match request.method.to_ascii_uppercase().as_str() {
        "GET" => Method::Get,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "HEAD" => Method::Head,
        "PATCH" => Method::Patch,
        "OPTIONS" => Method::Options,
        other => Method::Other(other.to_owned()),
    };
    outgoing
        .set_method(&method)
        .map_err(|()| bad("bad method"))?;
    outgoing
        .set_scheme(Some(&scheme))
        .map_err(|()| bad("bad scheme"))?;
    outgoing
        .set_authority(Some(authority))
        .map_err(|()| bad("bad host"))?;
    outgoing
        .set_path_with_query(Some(path))
        .map_err(|()| bad("bad path"))?;
    let body = outgoing
        .body()
        .map_err(|()| HttpError("the request body is unavailable".into()))?;
    // The request goes out first, so that the host reads the body while it
    // is written.
    let pending = outgoing_handler::handle(outgoing, None)?;
    if let Some(data) = &request.body {
        let stream = body
            .write()
            .map_err(|()| HttpError("the request body cannot be written".into()))?;
        for chunk in data.chunks(4096) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(|e| HttpError(format!("writing the request body: {e:?}")))?;
        }
    }
    OutgoingBody::finish(body, None)?;
    Ok(pending)
}
