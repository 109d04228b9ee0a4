//! Network streams the host holds for a session (and its HTTP requests,
//! which are streams with a head): a plugin asks for a TCP
//! connection to a granted `host:port`, writes through the host, and gets
//! what arrives as `on-stream-data` events between its other events.
//!
//! The connections belong to the session, not to the instance: a crash or
//! a reload does not drop them, so a network connection survives the
//! plugin being replaced. A plugin has no socket of its own.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio_rustls::rustls::ClientConfig;

use crate::plugin::bindings::gatehouse::gateway::types::HttpRequest;
use crate::plugin::{ConnectError, Grant, HttpResponse, connect};

/// Most bytes handed to the plugin in one `on-stream-data`.
pub(super) const CHUNK: usize = 16 * 1024;

/// HTTP requests are numbered from here up, streams from 1 to below it:
/// their events share `on-stream-data`, and a stream's number does not
/// depend on how many requests came before.
const FIRST_HTTP_ID: u32 = 1 << 31;

/// Most streams one session may hold at once.
const MAX_STREAMS: usize = 16;

/// What happens on a stream, for the session to hand to the plugin.
#[derive(Debug)]
pub enum StreamEvent {
    /// Bytes arrived.
    Data(u32, Vec<u8>),
    /// The stream ended; `Some` with the reason if it failed.
    Closed(u32, Option<String>),
    /// The head of an HTTP response (its body follows as `Data`, its end
    /// as `Closed`), or why the request failed (then nothing follows).
    HttpResponse(u32, Result<HttpResponse, String>),
}

/// Why a stream call was refused.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// Not in the gateway's `allow` list.
    #[error("{0}:{1} is not granted to this gateway (see `allow` in its configuration)")]
    Denied(String, u16),
    /// Too many open streams.
    #[error("a session may hold at most {MAX_STREAMS} streams")]
    TooMany,
    /// No such open stream.
    #[error("stream {0} is not open")]
    NotOpen(u32),
    /// The connection was not made.
    #[error(transparent)]
    Net(#[from] ConnectError),
    /// An HTTP request that cannot be sent as it is.
    #[error("{0}")]
    Invalid(String),
}

/// A session's open streams.
pub struct Streams {
    grants: Vec<Grant>,
    tls: Arc<ClientConfig>,
    next_id: u32,
    next_http_id: u32,
    open: HashMap<u32, OpenStream>,
    events: mpsc::UnboundedSender<StreamEvent>,
}

struct OpenStream {
    /// None for an HTTP request, which takes no writes.
    writer: Option<mpsc::UnboundedSender<Vec<u8>>>,
    tasks: Vec<AbortHandle>,
}

impl Streams {
    /// No streams yet; `events` receives what happens on them.
    pub fn new(
        grants: Vec<Grant>,
        tls: Arc<ClientConfig>,
        events: mpsc::UnboundedSender<StreamEvent>,
    ) -> Self {
        Streams {
            grants,
            tls,
            next_id: 1,
            next_http_id: FIRST_HTTP_ID,
            open: HashMap::new(),
            events,
        }
    }

    /// Opens a granted connection, with TLS (the certificate checked
    /// against `host`) if `tls`.
    pub async fn open(&mut self, host: &str, port: u16, tls: bool) -> Result<u32, StreamError> {
        self.admit(host, port)?;
        let connection = connect(host, port, tls.then_some(&self.tls), &self.grants).await?;
        let id = self.new_id();
        let (mut reader, mut writer) = tokio::io::split(connection);
        let (writes, mut to_write) = mpsc::unbounded_channel::<Vec<u8>>();
        let events = self.events.clone();
        let read_task = tokio::spawn(async move {
            let mut buffer = vec![0u8; CHUNK];
            loop {
                match reader.read(&mut buffer).await {
                    Ok(0) => {
                        let _ = events.send(StreamEvent::Closed(id, None));
                        return;
                    }
                    Ok(n) => {
                        if events
                            .send(StreamEvent::Data(id, buffer[..n].to_vec()))
                            .is_err()
                        {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = events.send(StreamEvent::Closed(id, Some(e.to_string())));
                        return;
                    }
                }
            }
        });
        let write_task = tokio::spawn(async move {
            while let Some(data) = to_write.recv().await {
                if writer.write_all(&data).await.is_err() {
                    return;
                }
            }
            let _ = writer.shutdown().await;
        });
        self.open.insert(
            id,
            OpenStream {
                writer: Some(writes),
                tasks: vec![read_task.abort_handle(), write_task.abort_handle()],
            },
        );
        Ok(id)
    }

    /// Sends an HTTP request to a granted address; what comes back arrives
    /// as events under the returned id (see [`super::http`]).
    pub fn http_request(&mut self, request: HttpRequest) -> Result<u32, StreamError> {
        let request = super::http::Prepared::new(request)?;
        let target = &request.target;
        self.admit(&target.host, target.port)?;
        let id = self.next_http_id;
        self.next_http_id = self.next_http_id.wrapping_add(1).max(FIRST_HTTP_ID);
        let tls = target.tls.then(|| self.tls.clone());
        let grants = self.grants.clone();
        let task = tokio::spawn(super::http::fetch(
            id,
            request,
            tls,
            grants,
            self.events.clone(),
        ));
        self.open.insert(
            id,
            OpenStream {
                writer: None,
                tasks: vec![task.abort_handle()],
            },
        );
        Ok(id)
    }

    /// Refuses an address not granted, or a stream past the cap.
    fn admit(&self, host: &str, port: u16) -> Result<(), StreamError> {
        if !self.grants.iter().any(|g| g.allows(host, port)) {
            return Err(StreamError::Denied(host.to_owned(), port));
        }
        if self.open.len() >= MAX_STREAMS {
            return Err(StreamError::TooMany);
        }
        Ok(())
    }

    fn new_id(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id = (self.next_id + 1) % FIRST_HTTP_ID;
        self.next_id = self.next_id.max(1);
        id
    }

    /// The grants streams are checked against.
    pub fn grants(&self) -> &[Grant] {
        &self.grants
    }

    /// The TLS settings streams use (the web's roots and `tls_ca`).
    pub fn tls(&self) -> &Arc<ClientConfig> {
        &self.tls
    }

    /// Queues bytes for a stream.
    pub fn write(&self, id: u32, data: Vec<u8>) -> Result<(), StreamError> {
        let writer = self
            .open
            .get(&id)
            .and_then(|stream| stream.writer.as_ref())
            .ok_or(StreamError::NotOpen(id))?;
        writer.send(data).map_err(|_| StreamError::NotOpen(id))
    }

    /// Closes a stream (what was queued is still written).
    pub fn close(&mut self, id: u32) {
        if let Some(stream) = self.open.remove(&id) {
            // Dropping the writer ends the write task after the queue; the
            // reader (or an HTTP request) stops now.
            stream.tasks[0].abort();
        }
    }

    /// Ends every HTTP request, for an instance that goes (its requests'
    /// answers would reach an instance that never asked for them).
    pub fn end_http_requests(&mut self) {
        self.open.retain(|id, stream| {
            let http = *id >= FIRST_HTTP_ID;
            if http {
                stream.tasks.iter().for_each(AbortHandle::abort);
            }
            !http
        });
    }

    /// Forgets a stream that ended by itself.
    pub fn ended(&mut self, id: u32) {
        self.open.remove(&id);
    }
}

impl Drop for Streams {
    fn drop(&mut self) {
        for stream in self.open.values() {
            for task in &stream.tasks {
                task.abort();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_are_parsed_and_matched() {
        let exact = Grant::parse("irc.example.net:6697").unwrap();
        assert!(exact.allows("irc.example.net", 6697));
        assert!(exact.allows("IRC.Example.NET", 6697));
        assert!(!exact.allows("irc.example.net", 6667));
        assert!(!exact.allows("evil.irc.example.net", 6697));
        let any_port = Grant::parse("127.0.0.1:*").unwrap();
        assert!(any_port.allows("127.0.0.1", 1));
        assert!(!any_port.allows("127.0.0.2", 1));
        let wildcard = Grant::parse("*.libera.chat:6697").unwrap();
        assert!(wildcard.allows("irc.libera.chat", 6697));
        assert!(!wildcard.allows("libera.chat", 6697));
        assert!(!wildcard.allows("evil-libera.chat", 6697));
        for bad in [
            "",
            "host",
            "host:",
            ":80",
            "host:0",
            "host:http",
            "a*b:1",
            "*.:1",
            "*.a*.b:1",
            "h o:1",
        ] {
            assert_eq!(Grant::parse(bad), None, "{bad:?}");
        }
        assert!(Grant::parse("[::1]:8080").unwrap().allows("::1", 8080));
    }

    #[tokio::test]
    async fn a_granted_stream_carries_bytes_both_ways_and_others_are_denied() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 64];
            let n = socket.read(&mut buf).await.unwrap();
            socket.write_all(&buf[..n]).await.unwrap();
        });
        let (tx, mut rx) = mpsc::unbounded_channel();
        let grants = vec![Grant::parse(&format!("127.0.0.1:{port}")).unwrap()];
        let mut streams = Streams::new(grants, crate::plugin::tls_config(&[]).unwrap(), tx);
        assert!(matches!(
            streams.open("127.0.0.1", port.wrapping_add(1), false).await,
            Err(StreamError::Denied(_, _))
        ));
        assert!(matches!(
            streams.open("localhost", port, false).await,
            Err(StreamError::Denied(_, _))
        ));
        let id = streams.open("127.0.0.1", port, false).await.unwrap();
        streams.write(id, b"ping".to_vec()).unwrap();
        match rx.recv().await.unwrap() {
            StreamEvent::Data(got, data) => assert_eq!((got, data.as_slice()), (id, &b"ping"[..])),
            other => panic!("{other:?}"),
        }
        assert!(matches!(rx.recv().await.unwrap(), StreamEvent::Closed(got, None) if got == id));
        streams.ended(id);
        assert!(matches!(
            streams.write(id, vec![1]),
            Err(StreamError::NotOpen(_))
        ));
    }
}
