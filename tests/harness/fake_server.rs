//! An in-process fake XMPP server: the server side of a XEP-0114 component
//! stream, for exact and fast wire tests.
//!
//! It accepts the gateway's connection, checks the handshake, and then lets
//! a test inject stanzas (as XML text) and read, one by one, the stanzas the
//! gateway sends, as `minidom` elements to assert on.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use minidom::Element;
use sha1::{Digest, Sha1};
use tokio::io::BufStream;
use tokio::net::{TcpListener, TcpStream};
use tokio_xmpp::xmlstream::{ReadError, StreamHeader, Timeouts, XmlStream, initiate_stream};

/// The namespace of component streams.
pub const NS: &str = "jabber:component:accept";

/// How long a test waits for a stanza it expects.
pub const WAIT: Duration = Duration::from_secs(10);

/// A listening fake server.
pub struct FakeServer {
    listener: TcpListener,
    /// Where it listens, on loopback.
    pub addr: SocketAddr,
}

/// One accepted component connection.
pub struct FakeLink {
    stream: XmlStream<BufStream<TcpStream>, Element>,
}

impl FakeServer {
    /// Listens on a free loopback port.
    pub async fn bind() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address");
        FakeServer { listener, addr }
    }

    /// Accepts the gateway's connection and checks its handshake against
    /// `secret`; a wrong handshake fails the test.
    pub async fn accept(&self, secret: &str) -> FakeLink {
        let (tcp, _) = tokio::time::timeout(WAIT, self.listener.accept())
            .await
            .expect("the gateway connects in time")
            .expect("accept");
        self.handshake(tcp, secret)
            .await
            .expect("component handshake")
    }

    async fn handshake(&self, tcp: TcpStream, secret: &str) -> std::io::Result<FakeLink> {
        const STREAM_ID: &str = "fake-stream-id";
        let header = StreamHeader {
            from: None,
            to: None,
            id: Some(Cow::Borrowed(STREAM_ID)),
        };
        // The initiator's API is used from the server side: it sends its
        // header first, which a component client accepts as well, and needs
        // no stream features (XEP-0114 streams have none).
        let pending = initiate_stream(BufStream::new(tcp), NS, header, Timeouts::default()).await?;
        let mut stream: XmlStream<_, Element> = pending.skip_features();
        let handshake = match stream.next().await {
            Some(Ok(el)) => el,
            other => panic!("expected a handshake, got {other:?}"),
        };
        assert!(
            handshake.is("handshake", NS),
            "expected a handshake, got {handshake:?}"
        );
        let expected = hex::encode(Sha1::digest(format!("{STREAM_ID}{secret}").as_bytes()));
        assert_eq!(handshake.text(), expected, "handshake digest");
        stream
            .send(&Element::builder("handshake", NS).build())
            .await?;
        Ok(FakeLink { stream })
    }
}

impl FakeLink {
    /// Sends a stanza given as XML (in the `jabber:component:accept`
    /// namespace unless it says otherwise).
    pub async fn send(&mut self, xml: &str) {
        let element: Element = with_default_ns(xml).parse().expect("test XML parses");
        self.stream
            .send(&element)
            .await
            .expect("send to the gateway");
    }

    /// Sends an element as it is.
    pub async fn send_element(&mut self, element: &Element) {
        self.stream
            .send(element)
            .await
            .expect("send to the gateway");
    }

    /// The next stanza from the gateway; fails the test after [`WAIT`].
    pub async fn recv(&mut self) -> Element {
        match self.recv_within(WAIT).await {
            Some(el) => el,
            None => panic!("no stanza from the gateway within {WAIT:?}"),
        }
    }

    /// The next stanza within `wait`, if any.
    pub async fn recv_within(&mut self, wait: Duration) -> Option<Element> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => return None,
                Ok(Some(Ok(el))) => return Some(el),
                Ok(Some(Err(ReadError::SoftTimeout))) => continue,
                Ok(other) => panic!("gateway stream ended: {other:?}"),
            }
        }
    }

    /// The next stanza for which `keep` holds, skipping others; fails the
    /// test after [`WAIT`].
    pub async fn recv_until(&mut self, what: &str, keep: impl Fn(&Element) -> bool) -> Element {
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut skipped = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.recv_within(left).await {
                Some(el) if keep(&el) => return el,
                Some(el) => skipped.push(String::from(&el)),
                None => panic!("no {what} within {WAIT:?}; skipped: {skipped:#?}"),
            }
        }
    }

    /// Asserts the gateway sends nothing for `wait`.
    pub async fn expect_silence(&mut self, wait: Duration) {
        if let Some(el) = self.recv_within(wait).await {
            panic!("expected no stanza, got {}", String::from(&el));
        }
    }

    /// Writes `bytes` as they are (malformed XML, say) and closes the
    /// connection, as a broken server would.
    pub async fn send_raw_and_close(self, bytes: &[u8]) {
        use tokio::io::AsyncWriteExt;
        let mut socket = self.stream.into_inner();
        // The gateway may close first, on the first bad byte.
        let _ = socket.write_all(bytes).await;
        let _ = socket.flush().await;
    }

    /// Closes the connection as a crashed server would.
    pub fn drop_connection(self) {
        drop(self.stream);
    }
}

/// Adds the component namespace to a root element that has none.
fn with_default_ns(xml: &str) -> String {
    let trimmed = xml.trim_start();
    let end = trimmed.find(['>', ' ', '/']).expect("an element");
    if trimmed[..trimmed.find('>').unwrap_or(trimmed.len())].contains("xmlns=") {
        return trimmed.to_owned();
    }
    format!("{} xmlns='{NS}'{}", &trimmed[..end], &trimmed[end..])
}
