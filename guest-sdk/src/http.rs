//! HTTP requests that a task `.await`s, sent by the host
//! (`session.http-request`).
//!
//! The host lets a plugin reach only the hosts the operator granted (the
//! gateway's `allow` list). A request is sent at once; the host calls the
//! plugin when the response's head arrives (`on-http-response`), then with
//! each piece of its body and at its end (`on-stream-data`,
//! `on-stream-closed`), and the waiting task resumes in those calls. Nothing
//! polls, and a slow server never holds a call past its deadline.
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

use crate::bindings::gatehouse::gateway::session as wit_session;
use crate::task::Exchange;
use crate::{HostError, HttpRequest};

/// A request to send: `method` (`GET`, `POST`, …), an `http://` or
/// `https://` `url`, header fields (the host sets `host`, `content-length`
/// and `connection: close` itself, and refuses a request that names them)
/// and the body, if any.
pub type Request = HttpRequest;

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

/// Why a request failed. A request to an address the operator did not
/// grant fails with a text that starts with `HttpRequestDenied: `.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError(pub String);

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HttpError {}

impl From<HostError> for HttpError {
    fn from(e: HostError) -> Self {
        match e {
            HostError::Denied(m) => HttpError(format!("HttpRequestDenied: {m}")),
            other => HttpError(other.reason().to_owned()),
        }
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
    let id = wit_session::http_request(&request)?;
    let mut exchange = Exchange::new(id);
    let head = exchange.head().await.map_err(HttpError)?;
    let body = exchange.body().await.map_err(HttpError)?;
    Ok(Response {
        status: head.status,
        headers: head.headers,
        body,
    })
}
