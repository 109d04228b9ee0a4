//! The router: where each stanza from the server goes.
//!
//! Stanzas to the gateway's own JID go to the [`Gateway`]; stanzas to a
//! puppet go to the sender's session, or get `registration-required` if the
//! sender has none. The server's XEP-0356 grants are recorded, answers to
//! the gateway's own requests are consumed (a roster push's answer settles
//! it; a roster the gateway asked for goes to the user's session), and a
//! stanza that could not be parsed gets a `bad-request` error so that its
//! sender is not left waiting. A shutdown from the supervisor ends the
//! sessions, flushes the gateway's sender, then has the link write its
//! queue and close.

use std::sync::Arc;

use jid::Jid;
use tokio::sync::{mpsc, oneshot, watch};
use xmpp_parsers::{
    iq::Iq,
    message::{Id, Message},
    ping::Ping,
    presence::{Presence, Type as PresenceType},
    stanza::Stanza,
    stanza_error::DefinedCondition,
};

use crate::context::{Answered, GatewayContext};
use crate::gateway::Gateway;
use crate::link::{InvalidStanza, LinkEvent, server_domain};
use crate::session::{Runtime, SessionEvent};
use crate::stanza::{
    error::{error_reply, iq_error, message_error, presence_error, stanza_error},
    privilege::Privileges,
};

/// What the supervisor asks of a running gateway.
#[derive(Debug)]
pub enum Control {
    /// End every session, flush the link and close it; then answer.
    Shutdown(oneshot::Sender<()>),
}

/// Routes every event of a gateway's link until the link ends, or until a
/// shutdown (whose answer is returned, to be sent once the link is closed).
/// Also takes reloaded plugins, handed to the gateway between two stanzas.
pub async fn run(
    gateway: &mut Gateway,
    events: &mut mpsc::Receiver<LinkEvent>,
    mut reloads: mpsc::UnboundedReceiver<Arc<Runtime>>,
    mut control: mpsc::UnboundedReceiver<Control>,
) -> Option<oneshot::Sender<()>> {
    // The id of the ping that tells when the server's privileges are known:
    // a new one for each connection.
    let mut settle_ping = String::new();
    let mut registered = gateway
        .take_registered()
        .unwrap_or_else(|| mpsc::unbounded_channel().1);
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(LinkEvent::Connected) => settle_ping = on_connected(gateway.ctx()),
                Some(LinkEvent::Stanza(stanza)) => route(gateway, *stanza, &settle_ping).await,
                Some(LinkEvent::Invalid(invalid)) => answer_invalid(gateway.ctx(), invalid),
                None => return None,
            },
            Some(done) = registered.recv() => {
                for held in gateway.on_registered(done) {
                    route(gateway, held, &settle_ping).await;
                }
            }
            Some(runtime) = reloads.recv() => gateway.reload(runtime),
            Some(Control::Shutdown(done)) = control.recv() => {
                gateway.shutdown().await;
                return Some(done);
            }
        }
    }
}

/// After a handshake: ping the server. A server sends its `<privilege/>`
/// grants right after the handshake, so once the ping's answer is back they
/// are known (or there are none). Returns the ping's id.
fn on_connected(ctx: &GatewayContext) -> String {
    let id = ctx.new_id();
    ctx.outbox.send(
        Iq::from_get(id.clone(), Ping)
            .with_from(ctx.jid.clone().into())
            .with_to(server_domain(&ctx.jid).into()),
    );
    id
}

async fn route(gateway: &mut Gateway, stanza: Stanza, settle_ping: &str) {
    let ctx = gateway.ctx().clone();
    let (from, to) = match &stanza {
        Stanza::Message(m) => (m.from.clone(), m.to.clone()),
        Stanza::Presence(p) => (p.from.clone(), p.to.clone()),
        Stanza::Iq(iq) => (iq.from().cloned(), iq.to().cloned()),
    };
    let (Some(from), Some(to)) = (from, to) else {
        tracing::debug!(gateway = %ctx.jid, "dropped a stanza without from or to");
        return;
    };
    if let Stanza::Iq(iq @ (Iq::Result { .. } | Iq::Error { .. })) = &stanza {
        if let Answered::Roster(user, roster) = on_answer(&ctx, iq, settle_ping)
            && let Some(session) = gateway.session(&user)
        {
            session.send(SessionEvent::ServerRoster(roster));
        }
        return;
    }
    if from.node().is_none() && from.domain() != ctx.jid.domain() {
        // From a server domain: its XEP-0356 grants; a request (a ping,
        // the server checking on its component) is answered, as every iq
        // get or set must be (RFC 6120 §8.2.3): by the gateway, or, to a
        // puppet or a room, which serve users, refused.
        match stanza {
            Stanza::Message(m) => {
                if let Some(granted) = Privileges::from_message_payloads(&m.payloads) {
                    ctx.set_privileges(from.domain().as_str(), granted);
                }
            }
            // To the gateway JID: answered as anyone's (ping, disco…).
            Stanza::Iq(iq @ (Iq::Get { .. } | Iq::Set { .. })) if to.node().is_none() => {
                gateway.on_iq(iq).await
            }
            Stanza::Iq(iq @ (Iq::Get { .. } | Iq::Set { .. })) => refuse_server_request(&ctx, iq),
            _ => {}
        }
        return;
    }
    if to.node().is_none() {
        match stanza {
            Stanza::Iq(iq) => gateway.on_iq(iq).await,
            Stanza::Presence(p) => gateway.on_presence(p),
            Stanza::Message(m) => gateway.on_message(m),
        }
        return;
    }
    let user = from.to_bare();
    match gateway.session(&user) {
        Some(session) => {
            let event = match stanza {
                Stanza::Message(m) => SessionEvent::Message(Box::new(m)),
                Stanza::Presence(p) => SessionEvent::Presence(Box::new(p)),
                Stanza::Iq(iq) => SessionEvent::Iq(Box::new(iq)),
            };
            session.send(event);
        }
        None => {
            // Held while the user's registration runs; refused otherwise.
            if let Some(stanza) = gateway.hold(&user, stanza) {
                refuse_unregistered(&ctx, stanza);
            }
        }
    }
}

/// A server domain's request to a puppet or a room: those serve users.
fn refuse_server_request(ctx: &GatewayContext, iq: Iq) {
    if let Some(reply) = error_reply(
        iq.into(),
        stanza_error(DefinedCondition::ServiceUnavailable, ""),
    ) {
        ctx.outbox.send(reply);
    }
}

/// Answers to the gateway's own requests: the settle ping, roster pushes
/// and requests (see `context::pushes`), keepalives. Errors are logged;
/// nothing is ever answered.
fn on_answer(ctx: &GatewayContext, iq: &Iq, settle_ping: &str) -> Answered {
    if let Iq::Result { id, from, .. } | Iq::Error { id, from, .. } = iq
        && id == settle_ping
        && from
            .as_ref()
            .is_some_and(|f| f.to_bare() == server_domain(&ctx.jid))
    {
        ctx.settle();
        return Answered::Other;
    }
    if let Iq::Error {
        error, from, id, ..
    } = iq
    {
        tracing::warn!(gateway = %ctx.jid, id, ?from, condition = ?error.defined_condition, texts = ?error.texts, "request refused");
    }
    ctx.answered(iq)
}

/// A stanza to a puppet from someone with no session: `registration-required`.
fn refuse_unregistered(ctx: &GatewayContext, stanza: Stanza) {
    let error = stanza_error(
        DefinedCondition::RegistrationRequired,
        "you are not registered with this gateway",
    );
    match stanza {
        Stanza::Presence(p) if matches!(p.type_, PresenceType::Probe | PresenceType::Subscribe) => {
            ctx.outbox.send(presence_error(p.from, p.to, p.id, error));
        }
        stanza => {
            if let Some(reply) = error_reply(stanza, error) {
                ctx.outbox.send(reply);
            }
        }
    }
}

/// A stanza the parser refused: `bad-request` to its sender, unless it is
/// an error or a result itself.
fn answer_invalid(ctx: &GatewayContext, invalid: InvalidStanza) {
    tracing::info!(gateway = %ctx.jid, ?invalid, "invalid stanza");
    let from = invalid.from.as_deref().and_then(|j| Jid::new(j).ok());
    let to = invalid.to.as_deref().and_then(|j| Jid::new(j).ok());
    if from.is_none() {
        return;
    }
    let error = stanza_error(
        DefinedCondition::BadRequest,
        format!(
            "the gateway could not parse this {}: {}",
            invalid.kind, invalid.reason
        ),
    );
    let type_ = invalid.type_.as_deref();
    match invalid.kind.as_str() {
        "iq" if matches!(type_, Some("get" | "set")) => {
            let id = invalid.id.unwrap_or_default();
            ctx.outbox.send(iq_error(from, to, &id, error));
        }
        "message" if type_ != Some("error") => {
            let mut reply: Message = message_error(from, to, invalid.id.clone(), error);
            reply.id = invalid.id.map(Id);
            ctx.outbox.send(reply);
        }
        "presence" if type_ != Some("error") => {
            let reply: Presence = presence_error(from, to, invalid.id, error);
            ctx.outbox.send(reply);
        }
        _ => {}
    }
}

/// How long a shutdown waits for the link to write its last stanzas.
const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Starts a gateway's sender, link and router; returns when the router
/// ends, or once a shutdown has flushed and closed the link.
pub async fn serve(
    mut gateway: Gateway,
    link: crate::link::LinkConfig,
    outbox: crate::sender::OutboxReceiver,
    reloads: mpsc::UnboundedReceiver<Arc<Runtime>>,
    control: mpsc::UnboundedReceiver<Control>,
) {
    let jid = gateway.ctx().jid.clone();
    let (events_tx, mut events) = mpsc::channel(1024);
    let (closing, closing_rx) = watch::channel(false);
    let (to_link, link_queue) = mpsc::channel(crate::sender::LINK_QUEUE);
    let store = gateway.ctx().store.clone();
    let sender_config = crate::sender::SenderConfig {
        jid: jid.clone(),
        max_stanza_bytes: gateway.ctx().config.max_stanza_kb as usize * 1024,
    };
    let sender_task = tokio::spawn(crate::sender::run(sender_config, store, outbox, to_link));
    let mut link_task = tokio::spawn(crate::link::run(link, events_tx, link_queue, closing_rx));
    // The gateway (and its outbox) lives until the link is closed: a link
    // whose sender is gone before it is told to close would just stop.
    let shutdown = run(&mut gateway, &mut events, reloads, control).await;
    if let Some(done) = shutdown {
        // One deadline for the last words: the sender commits and hands
        // them to the link, then the link writes them and closes.
        let deadline = tokio::time::Instant::now() + CLOSE_WAIT;
        let outbox = gateway.ctx().outbox.clone();
        // What arrives meanwhile is dropped: a link blocked on handing it
        // over would stop writing, and the flush would wait for nothing.
        let flushed = async {
            tokio::select! {
                _ = outbox.flush() => {}
                _ = async { while events.recv().await.is_some() {} } => outbox.flush().await,
            }
        };
        if tokio::time::timeout_at(deadline, flushed).await.is_err() {
            tracing::warn!(gateway = %jid, "the last stanzas could not be committed in time: they are not sent");
        }
        closing.send_replace(true);
        // What still arrives is dropped; the link must not wait on it.
        let drain = async { while events.recv().await.is_some() {} };
        let closed = async {
            tokio::select! {
                _ = &mut link_task => {}
                _ = drain => (&mut link_task).await.unwrap_or(()),
            }
        };
        if tokio::time::timeout_at(deadline, closed).await.is_err() {
            tracing::warn!(gateway = %jid, "the link did not close in time");
        }
        let _ = done.send(());
    }
    link_task.abort();
    sender_task.abort();
    drop(gateway);
}
