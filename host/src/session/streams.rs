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
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
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

/// Most streams one session may hold at once (HTTP requests included).
const MAX_STREAMS: usize = 16;

/// Chunks read from one stream and not yet handed to the plugin: past them
/// the host stops reading, so a legacy peer that sends faster than the
/// session can pass on is held back by TCP, not buffered here.
const READ_AHEAD: usize = 8;

/// Bytes queued for one stream and not yet written: past them the
/// plugin's `stream-write` waits, for [`WRITE_WAIT`] at most; then it is
/// refused with `limit-exceeded` (the peer does not read: the plugin may
/// try again later), rather than hold the call to its deadline.
pub(super) const WRITE_QUEUE: usize = 1 << 20;
const WRITE_WAIT: Duration = Duration::from_secs(1);

/// How long a closed stream's writer may go on writing what was queued
/// before it is stopped and the socket closed.
const LINGER: Duration = Duration::from_secs(5);

/// A share of a stream's read-ahead, carried by the event of the bytes
/// read with it and given back when that event is dropped (handed to the
/// plugin, or thrown away): the reader takes one before each read.
#[derive(Debug)]
pub struct ReadAhead(#[allow(dead_code)] OwnedSemaphorePermit);

impl ReadAhead {
    /// A new reader's shares.
    pub(super) fn shares() -> Arc<Semaphore> {
        Arc::new(Semaphore::new(READ_AHEAD))
    }

    /// Waits for a share (None: the stream is closing).
    pub(super) async fn take(shares: &Arc<Semaphore>) -> Option<ReadAhead> {
        shares.clone().acquire_owned().await.ok().map(ReadAhead)
    }
}

/// What happens on a stream, for the session to hand to the plugin.
#[derive(Debug)]
pub enum StreamEvent {
    /// Bytes arrived.
    Data(u32, Vec<u8>, ReadAhead),
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
    /// The peer reads slower than the plugin writes.
    #[error("stream {0} already has {WRITE_QUEUE} bytes waiting for the peer to read them")]
    Backlogged(u32),
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
    writer: Option<Writer>,
    tasks: Vec<AbortHandle>,
}

/// The way to a stream's write task: bytes with their share of the
/// stream's write queue, which the task gives back once they are written.
struct Writer {
    queue: mpsc::UnboundedSender<(Vec<u8>, OwnedSemaphorePermit)>,
    room: Arc<Semaphore>,
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
        let (writes, mut to_write) = mpsc::unbounded_channel::<(Vec<u8>, OwnedSemaphorePermit)>();
        let events = self.events.clone();
        let read_task = tokio::spawn(async move {
            let shares = ReadAhead::shares();
            let mut buffer = vec![0u8; CHUNK];
            loop {
                let Some(share) = ReadAhead::take(&shares).await else {
                    return;
                };
                match reader.read(&mut buffer).await {
                    Ok(0) => {
                        let _ = events.send(StreamEvent::Closed(id, None));
                        return;
                    }
                    Ok(n) => {
                        let data = buffer[..n].to_vec();
                        if events.send(StreamEvent::Data(id, data, share)).is_err() {
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
            while let Some((data, _room)) = to_write.recv().await {
                if writer.write_all(&data).await.is_err() {
                    return;
                }
            }
            let _ = writer.shutdown().await;
        });
        self.open.insert(
            id,
            OpenStream {
                writer: Some(Writer {
                    queue: writes,
                    room: Arc::new(Semaphore::new(WRITE_QUEUE)),
                }),
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

    /// Queues bytes for a stream, waiting while its write queue is full
    /// (the peer reads slower than the plugin writes).
    pub async fn write(&self, id: u32, data: Vec<u8>) -> Result<(), StreamError> {
        let writer = self
            .open
            .get(&id)
            .and_then(|stream| stream.writer.as_ref())
            .ok_or(StreamError::NotOpen(id))?;
        // A write larger than the queue waits for all of it, then goes.
        let shares = data.len().clamp(1, WRITE_QUEUE) as u32;
        let room = tokio::time::timeout(WRITE_WAIT, writer.room.clone().acquire_many_owned(shares))
            .await
            .map_err(|_| StreamError::Backlogged(id))?
            .map_err(|_| StreamError::NotOpen(id))?;
        writer
            .queue
            .send((data, room))
            .map_err(|_| StreamError::NotOpen(id))
    }

    /// Closes a stream: the reader (or an HTTP request) stops now; what
    /// was queued is still written, for at most [`LINGER`].
    pub fn close(&mut self, id: u32) {
        if let Some(stream) = self.open.remove(&id) {
            stream.tasks[0].abort();
            linger(stream);
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

    /// Forgets a stream that ended by itself (its writer gets the same
    /// [`LINGER`] as a closed one's: a peer that stopped reading does not
    /// keep it).
    pub fn ended(&mut self, id: u32) {
        if let Some(stream) = self.open.remove(&id) {
            linger(stream);
        }
    }
}

/// Lets a stream's write task write what was queued, for [`LINGER`] at
/// most; dropping the way in ends it after the queue.
fn linger(stream: OpenStream) {
    if let Some(writer) = stream.tasks.get(1).cloned() {
        tokio::spawn(async move {
            tokio::time::sleep(LINGER).await;
            writer.abort();
        });
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
        streams.write(id, b"ping".to_vec()).await.unwrap();
        match rx.recv().await.unwrap() {
            StreamEvent::Data(got, data, _) => {
                assert_eq!((got, data.as_slice()), (id, &b"ping"[..]))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(rx.recv().await.unwrap(), StreamEvent::Closed(got, None) if got == id));
        streams.ended(id);
        assert!(matches!(
            streams.write(id, vec![1]).await,
            Err(StreamError::NotOpen(_))
        ));
    }

    /// A granted stream to a fresh local server that runs `serve` on its
    /// one connection.
    async fn stream_to<F>(
        serve: impl FnOnce(tokio::net::TcpStream) -> F + Send + 'static,
    ) -> (Streams, u32, mpsc::UnboundedReceiver<StreamEvent>)
    where
        F: Future<Output = ()> + Send,
    {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            serve(socket).await;
        });
        let (tx, rx) = mpsc::unbounded_channel();
        let grants = vec![Grant::parse(&format!("127.0.0.1:{port}")).unwrap()];
        let mut streams = Streams::new(grants, crate::plugin::tls_config(&[]).unwrap(), tx);
        let id = streams.open("127.0.0.1", port, false).await.unwrap();
        (streams, id, rx)
    }

    #[tokio::test]
    async fn a_stream_reads_no_further_ahead_than_the_session_takes() {
        let (_streams, _id, mut rx) = stream_to(|mut socket| async move {
            // 8 MiB, far more than the read-ahead and the socket buffers.
            let _ = socket.write_all(&vec![7u8; 8 << 20]).await;
        })
        .await;
        let mut held = Vec::new();
        for _ in 0..READ_AHEAD {
            let event = tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await
                .expect("the read-ahead fills")
                .unwrap();
            held.push(event);
        }
        assert!(
            tokio::time::timeout(Duration::from_millis(500), rx.recv())
                .await
                .is_err(),
            "reading stops at the read-ahead"
        );
        // The session takes them: the reader reads on.
        held.clear();
        let more = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("reading goes on")
            .unwrap();
        assert!(matches!(more, StreamEvent::Data(..)), "{more:?}");
    }

    #[tokio::test]
    async fn a_write_waits_for_a_peer_that_does_not_read_and_close_ends_the_writer() {
        let (_keep, kept) = tokio::sync::oneshot::channel::<()>();
        let (mut streams, id, _rx) = stream_to(|socket| async move {
            // Never reads; holds the connection until the test ends.
            let _ = kept.await;
            drop(socket);
        })
        .await;
        let chunk = vec![1u8; WRITE_QUEUE / 4];
        let mut queued = 0usize;
        let refused = loop {
            match streams.write(id, chunk.clone()).await {
                Ok(()) => {
                    queued += chunk.len();
                    assert!(queued < 256 << 20, "writes never wait");
                }
                Err(e) => break e,
            }
        };
        assert!(matches!(refused, StreamError::Backlogged(_)), "{refused}");
        assert!(
            queued >= WRITE_QUEUE,
            "{queued} bytes queued before a write waited"
        );
        // Closed with much still queued for a peer that never reads: the
        // writer (and with it the socket) stops within the linger.
        let writer = streams.open[&id].tasks[1].clone();
        streams.close(id);
        let closed = std::time::Instant::now();
        while !writer.is_finished() {
            assert!(
                closed.elapsed() < LINGER + Duration::from_secs(10),
                "the writer outlived its linger"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            closed.elapsed() >= LINGER - Duration::from_millis(100),
            "it had its linger"
        );
    }
}
