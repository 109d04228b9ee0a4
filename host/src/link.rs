//! The component link (XEP-0114): one XML stream to the XMPP server per
//! gateway, kept up for as long as the gateway runs.
//!
//! tokio-xmpp's `Component` ends its stream on the first stanza it cannot
//! parse and never reconnects, so the link is built from its public pieces
//! instead: `initiate_stream` and the handshake, then an `XmppStream` whose
//! unparseable stanzas arrive as values (with their `from`, `to`, `id`) so
//! that the router can answer them with an error rather than drop the
//! connection.
//!
//! The link is only the transport: what it is handed to write (by the
//! gateway's sender, which has committed the database first) waits in a queue that outlives connections. Stanzas handed over
//! while the server is away wait there and go out, in order, after the next
//! handshake; a batch whose write failed is put back at the front.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use jid::BareJid;
use tokio::io::BufStream;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio_xmpp::xmlstream::{
    FallibleStreamElement, ReadError, StreamElementError, StreamHeader, Timeouts, XmppStream,
    XmppStreamElement, initiate_stream,
};
use xmpp_parsers::{component::Handshake, iq::Iq, ping::Ping, stanza::Stanza};

use crate::metrics::LinkMetrics;
use crate::stanza::ns;

/// Why one connection attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// TCP or the XML stream failed.
    #[error("connection to {server}: {source}")]
    Io {
        /// The server address.
        server: String,
        /// Why.
        source: std::io::Error,
    },
    /// The server sent no stream id, so no handshake can be made.
    #[error("the server sent no stream id")]
    NoStreamId,
    /// The server refused the handshake (usually a wrong secret or JID).
    #[error("the server refused the component handshake: {0}")]
    Refused(String),
}

/// Where to connect and as whom.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    /// `host:port` of the server's component listener.
    pub server: String,
    /// The component's JID.
    pub jid: BareJid,
    /// The handshake secret.
    pub secret: String,
}

/// A stanza the server sent that could not be parsed, with enough of its
/// header to answer it.
#[derive(Debug, Clone)]
pub struct InvalidStanza {
    /// `message`, `presence` or `iq`.
    pub kind: String,
    /// Its `from`.
    pub from: Option<String>,
    /// Its `to`.
    pub to: Option<String>,
    /// Its `type`.
    pub type_: Option<String>,
    /// Its `id`.
    pub id: Option<String>,
    /// What the parser did not like.
    pub reason: String,
}

/// What the link hands to the router.
#[derive(Debug)]
pub enum LinkEvent {
    /// A handshake succeeded: the link is up (again).
    Connected,
    /// A stanza arrived.
    Stanza(Box<Stanza>),
    /// A stanza arrived that could not be parsed.
    Invalid(InvalidStanza),
}

/// What the link is handed to write, in order.
pub type Outgoing = mpsc::Receiver<Stanza>;

/// Reconnection delays: doubled from the first to the cap.
const FIRST_RETRY: Duration = Duration::from_millis(200);
const MAX_RETRY: Duration = Duration::from_secs(30);

/// How many queued stanzas are written before one flush.
const BATCH: usize = 256;

/// Silence after which the link pings the server (the stream's soft
/// timeout), and the grace after it before the stream counts as dead.
const TIMEOUTS: Timeouts = Timeouts {
    read_timeout: Duration::from_secs(30),
    response_timeout: Duration::from_secs(20),
};

type Stream = XmppStream<BufStream<TcpStream>>;

/// Most stanzas the link holds while the server is away.
const AWAY_QUEUE: usize = 2 * crate::sender::LINK_QUEUE;

/// Runs the link: connects, hands what arrives to `events`, writes what
/// `outbox` hands it, and reconnects with capped backoff when the connection
/// ends. Returns when the router is gone, or once `closing` turns true:
/// then every stanza queued so far is written and the stream closed.
pub async fn run(
    config: LinkConfig,
    events: mpsc::Sender<LinkEvent>,
    mut outbox: Outgoing,
    mut closing: watch::Receiver<bool>,
) {
    let mut queue: VecDeque<Stanza> = VecDeque::new();
    let mut delay = FIRST_RETRY;
    let metrics = LinkMetrics::of(config.jid.as_str());
    loop {
        let connected = tokio::select! {
            connected = connect(&config) => connected,
            _ = closed(&mut closing) => {
                give_up(&config, &mut outbox, &queue);
                return;
            }
        };
        match connected {
            Ok(mut stream) => {
                tracing::info!(gateway = %config.jid, server = %config.server, "component link up");
                metrics.connects.inc();
                delay = FIRST_RETRY;
                if events.send(LinkEvent::Connected).await.is_err() {
                    return;
                }
                let end = serve(
                    &config,
                    &metrics,
                    &mut stream,
                    &events,
                    &mut outbox,
                    &mut queue,
                    &mut closing,
                )
                .await;
                match end {
                    ServeEnd::RouterGone => return,
                    ServeEnd::Closing => {
                        close(&config, &mut stream, &mut outbox, &mut queue).await;
                        return;
                    }
                    ServeEnd::Lost(reason) => {
                        tracing::warn!(gateway = %config.jid, %reason, queued = queue.len(), "component link lost");
                    }
                }
            }
            Err(e) => {
                tracing::warn!(gateway = %config.jid, error = %e, retry_in = ?delay, "component link failed");
            }
        }
        // Keep accepting stanzas while away, up to a bound: past it the
        // sender waits, and what comes after waits in each session's own
        // bounded queue (see `sender`), not here.
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = &mut sleep => break,
                _ = closed(&mut closing) => {
                    give_up(&config, &mut outbox, &queue);
                    return;
                }
                stanza = outbox.recv(), if queue.len() < AWAY_QUEUE => match stanza {
                    Some(stanza) => {
                        queue.push_back(stanza);
                        // Operators watch this grow while the server is away.
                        metrics.queue.set(queue.len() as i64);
                    }
                    None => return,
                },
            }
        }
        delay = (delay * 2).min(MAX_RETRY);
    }
}

/// Opens the TCP connection and the stream, and makes the handshake.
async fn connect(config: &LinkConfig) -> Result<Stream, LinkError> {
    let io = |source| LinkError::Io {
        server: config.server.clone(),
        source,
    };
    let tcp = TcpStream::connect(&config.server).await.map_err(io)?;
    tcp.set_nodelay(true).map_err(io)?;
    let header = StreamHeader {
        to: Some(Cow::Borrowed(config.jid.domain().as_str())),
        from: None,
        id: None,
    };
    let mut pending = initiate_stream(BufStream::new(tcp), ns::COMPONENT, header, TIMEOUTS)
        .await
        .map_err(io)?;
    let stream_id = pending.take_header().id.ok_or(LinkError::NoStreamId)?;
    let mut stream: Stream = pending.skip_features();
    let handshake = Handshake::from_stream_id_and_password(stream_id.into_owned(), &config.secret);
    stream
        .send(&XmppStreamElement::ComponentHandshake(handshake))
        .await
        .map_err(io)?;
    loop {
        match stream.next().await {
            Some(Ok(FallibleStreamElement::Ok(XmppStreamElement::ComponentHandshake(_)))) => {
                return Ok(stream);
            }
            Some(Ok(FallibleStreamElement::Ok(XmppStreamElement::StreamError(e)))) => {
                return Err(LinkError::Refused(format!("{e:?}")));
            }
            Some(Err(ReadError::SoftTimeout)) => continue,
            Some(Err(ReadError::HardError(e))) => return Err(io(e)),
            Some(other) => return Err(LinkError::Refused(format!("unexpected {other:?}"))),
            None => {
                return Err(io(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "stream closed during the handshake",
                )));
            }
        }
    }
}

enum ServeEnd {
    RouterGone,
    Lost(String),
    /// The gateway is shutting down.
    Closing,
}

/// Resolves once `closing` turns true (or its sender is gone).
async fn closed(closing: &mut watch::Receiver<bool>) {
    let _ = closing.wait_for(|c| *c).await;
}

/// A clean end: writes everything queued (the gateway's last words:
/// sessions logged out, presences unavailable), and closes the stream with
/// its footer.
async fn close(
    config: &LinkConfig,
    stream: &mut Stream,
    outbox: &mut Outgoing,
    queue: &mut VecDeque<Stanza>,
) {
    while let Ok(stanza) = outbox.try_recv() {
        queue.push_back(stanza);
    }
    let queued = queue.len();
    while !queue.is_empty() {
        if let Err(e) = write_batch(stream, queue).await {
            tracing::warn!(gateway = %config.jid, error = %e, unsent = queue.len(), "link lost while closing");
            return;
        }
    }
    if let Err(e) = stream.shutdown().await {
        tracing::debug!(gateway = %config.jid, error = %e, "stream footer not sent");
    }
    tracing::info!(gateway = %config.jid, flushed = queued, "component link closed");
}

/// Closing while the server is away: what is queued cannot go.
fn give_up(config: &LinkConfig, outbox: &mut Outgoing, queue: &VecDeque<Stanza>) {
    let mut unsent = queue.len();
    while outbox.try_recv().is_ok() {
        unsent += 1;
    }
    tracing::warn!(gateway = %config.jid, unsent, "closing while the server is unreachable: queued stanzas dropped");
}

/// Moves stanzas both ways until the connection ends.
async fn serve(
    config: &LinkConfig,
    metrics: &LinkMetrics,
    stream: &mut Stream,
    events: &mpsc::Sender<LinkEvent>,
    outbox: &mut Outgoing,
    queue: &mut VecDeque<Stanza>,
    closing: &mut watch::Receiver<bool>,
) -> ServeEnd {
    let mut pings = 0u64;
    loop {
        if !queue.is_empty() {
            let before = queue.len();
            let written = write_batch(stream, queue).await;
            metrics.out.inc_by((before - queue.len()) as u64);
            metrics.queue.set(queue.len() as i64);
            if let Err(e) = written {
                return ServeEnd::Lost(format!("write: {e}"));
            }
            continue;
        }
        tokio::select! {
            _ = closed(closing) => return ServeEnd::Closing,
            item = stream.next() => match item {
                Some(Ok(FallibleStreamElement::Ok(XmppStreamElement::Stanza(stanza)))) => {
                    match &stanza {
                        Stanza::Message(_) => metrics.messages_in.inc(),
                        Stanza::Presence(_) => metrics.presences_in.inc(),
                        Stanza::Iq(_) => metrics.iqs_in.inc(),
                    };
                    if events.send(LinkEvent::Stanza(Box::new(stanza))).await.is_err() {
                        return ServeEnd::RouterGone;
                    }
                }
                Some(Ok(FallibleStreamElement::Err(StreamElementError::InvalidStanza { name, header, error, .. }))) => {
                    let invalid = InvalidStanza {
                        kind: name.to_string(),
                        from: header.from,
                        to: header.to,
                        type_: header.type_,
                        id: header.id,
                        reason: error.to_string(),
                    };
                    if events.send(LinkEvent::Invalid(invalid)).await.is_err() {
                        return ServeEnd::RouterGone;
                    }
                }
                Some(Ok(FallibleStreamElement::Err(e))) => {
                    tracing::warn!(gateway = %config.jid, error = %e, "ignored an invalid element");
                }
                Some(Ok(FallibleStreamElement::Ok(XmppStreamElement::StreamError(e)))) => {
                    return ServeEnd::Lost(format!("stream error from the server: {e:?}"));
                }
                Some(Ok(FallibleStreamElement::Ok(other))) => {
                    tracing::debug!(gateway = %config.jid, ?other, "ignored a nonza");
                }
                Some(Err(ReadError::SoftTimeout)) => {
                    // Silence: make the server say something, or find out
                    // that it is gone before the hard timeout does.
                    pings += 1;
                    queue.push_back(keepalive(config, pings).into());
                }
                Some(Err(ReadError::ParseError(e))) => {
                    tracing::warn!(gateway = %config.jid, error = %e, "ignored unparseable input");
                }
                Some(Err(e)) => return ServeEnd::Lost(e.to_string()),
                None => return ServeEnd::Lost("the server closed the stream".into()),
            },
            stanza = outbox.recv() => match stanza {
                Some(stanza) => {
                    queue.push_back(stanza);
                    take_queued(outbox, queue);
                }
                // A closing gateway drops its sender too.
                None if *closing.borrow() => return ServeEnd::Closing,
                None => return ServeEnd::RouterGone,
            },
        }
    }
}

/// Moves what the outbox holds into the queue, up to a batch.
fn take_queued(outbox: &mut Outgoing, queue: &mut VecDeque<Stanza>) {
    while queue.len() < BATCH {
        match outbox.try_recv() {
            Ok(stanza) => queue.push_back(stanza),
            Err(_) => break,
        }
    }
}

/// Writes up to [`BATCH`] queued stanzas and flushes them. They leave the
/// queue only once flushed, so a failed write loses nothing.
async fn write_batch(stream: &mut Stream, queue: &mut VecDeque<Stanza>) -> std::io::Result<()> {
    let count = queue.len().min(BATCH);
    let batch: Vec<XmppStreamElement> = queue
        .drain(..count)
        .map(XmppStreamElement::Stanza)
        .collect();
    let mut result = Ok(());
    // A stanza that cannot be serialised (the sender cleans them, so
    // none should come) is not put back: written again after the
    // reconnection, it would drop the link again, for ever.
    let mut unwritable = None;
    for (i, element) in batch.iter().enumerate() {
        if let Err(e) = stream.feed(element).await {
            if e.kind() == std::io::ErrorKind::InvalidData {
                tracing::error!(error = %e, "dropped a stanza that cannot be written as XML");
                unwritable = Some(i);
            }
            result = Err(e);
            break;
        }
    }
    if result.is_ok() {
        result = <Stream as SinkExt<&XmppStreamElement>>::flush(stream).await;
    }
    if result.is_err() {
        for (i, element) in batch.into_iter().enumerate().rev() {
            if let XmppStreamElement::Stanza(stanza) = element
                && Some(i) != unwritable
            {
                queue.push_front(stanza);
            }
        }
    }
    result
}

/// An XEP-0199 ping to the server, to keep an idle link alive.
fn keepalive(config: &LinkConfig, n: u64) -> Iq {
    let server = server_domain(&config.jid);
    Iq::from_get(format!("gh-keepalive-{n}"), Ping)
        .with_from(config.jid.clone().into())
        .with_to(server.into())
}

/// The server's domain: the component's JID minus its first label
/// (`echo.example.org` → `example.org`), or the JID itself if it has one
/// label only.
pub fn server_domain(component: &BareJid) -> BareJid {
    let domain = component.domain().as_str();
    domain
        .split_once('.')
        .and_then(|(_, parent)| BareJid::new(parent).ok())
        .unwrap_or_else(|| component.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_domain_is_the_parent_domain() {
        let jid = |s: &str| BareJid::new(s).unwrap();
        assert_eq!(server_domain(&jid("echo.example.org")), jid("example.org"));
        assert_eq!(server_domain(&jid("echo.localhost")), jid("localhost"));
        assert_eq!(server_domain(&jid("localhost")), jid("localhost"));
    }

    /// With the server away (its port refuses connections), the link
    /// takes at most [`AWAY_QUEUE`] stanzas; past them (and the channel's
    /// room) the sender waits.
    #[tokio::test]
    async fn the_link_holds_a_bounded_queue_while_the_server_is_away() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let config = LinkConfig {
            server: format!("127.0.0.1:{port}"),
            jid: BareJid::new("echo.localhost").unwrap(),
            secret: "s".into(),
        };
        let (events, _events) = mpsc::channel(16);
        let (to_link, outbox) = mpsc::channel(crate::sender::LINK_QUEUE);
        let (_closing, closing) = watch::channel(false);
        let link = tokio::spawn(run(config, events, outbox, closing));
        let mut accepted = 0;
        while accepted < 10 * AWAY_QUEUE {
            let stanza: Stanza = xmpp_parsers::message::Message::new(None).into();
            match tokio::time::timeout(Duration::from_secs(2), to_link.send(stanza)).await {
                Ok(Ok(())) => accepted += 1,
                _ => break,
            }
        }
        assert_eq!(accepted, AWAY_QUEUE + crate::sender::LINK_QUEUE);
        link.abort();
    }
}
