//! A session: one registered user of one gateway, as an actor.
//!
//! Each session is a task with a mailbox and its own plugin instance. It
//! handles its events one at a time, in arrival order (an order to end
//! goes first: what is still queued then gets an error), so the plugin never
//! sees two calls at once and the user's messages reach the network in the
//! order they were sent; sessions of different users run in parallel.
//!
//! The session logs in when it starts (after the gateway knows its
//! privileges), retries a failed login with capped backoff, and answers the
//! stanzas addressed to its user's puppets. What its calls produce (the
//! roster's stanzas) it hands to the gateway's sender after each call.
//!
//! - `calls`: the one way to call the plugin, under crash containment;
//! - `data`: the state the session keeps across instances;
//! - `imports`: the host side of every import the plugin calls;
//! - `login`, `inbound` (messages), `puppet` (presences, iqs), `rooms`
//!   (joins, groupchat), `room_iqs` (disco, vCard, MAM, self-ping),
//!   `commands`: what the session does for each kind of event;
//! - `streams`, `http`: the network connections the host holds for it.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use jid::{BareJid, Jid};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use xmpp_parsers::{
    iq::Iq,
    message::Message,
    presence::{Presence, Type as PresenceType},
};

use crate::context::{GatewayContext, ServerRoster};
use crate::groups::Rooms;
use crate::plugin::{self, Grant, HostState};
use crate::roster::{ContactId, Roster, RosterError};
use crate::store::UserRow;

mod calls;
mod commands;
mod data;
mod http;
mod imports;
mod inbound;
mod login;
mod puppet;
mod room_iqs;
mod rooms;
mod streams;

pub use commands::{CommandReply, ContactLine, GroupLine, SessionReport, UserCommand};
pub use data::SessionData;
pub use login::{LoginKind, LoginState};
pub use streams::{StreamEvent, Streams};

/// A plugin compiled for sessions.
pub type Runtime = plugin::PluginRuntime<SessionData>;
/// A plugin instance serving a session.
pub type SessionInstance = plugin::Instance<SessionData>;
/// The gateway's own instance, which serves no user.
pub type Service = plugin::Service<SessionData>;
type State = HostState<SessionData>;

/// What a session is asked to do.
#[derive(Debug)]
pub enum SessionEvent {
    /// One of the user's clients came online (a presence to the gateway).
    Available(Jid),
    /// One of the user's clients went offline.
    Unavailable(Jid),
    /// The user's server asks for the gateway's presence.
    Probe(Jid),
    /// A message from the user to a puppet.
    Message(Box<Message>),
    /// A presence from the user to a puppet.
    Presence(Box<Presence>),
    /// An iq from the user to a puppet.
    Iq(Box<Iq>),
    /// Log out, take the contacts out of the roster, and end.
    Unregister(oneshot::Sender<()>),
    /// Log out and end (the user registered again with new settings).
    Stop(oneshot::Sender<()>),
    /// Move to a reloaded plugin.
    Reload(Arc<Runtime>),
    /// An ad-hoc command of the user's (or an administrator's about them).
    Command(UserCommand, oneshot::Sender<CommandReply>),
    /// The user's roster as the server has it, asked for to settle pushes
    /// a kill left unanswered.
    ServerRoster(ServerRoster),
}

/// The sending side of a session's mailbox.
#[derive(Debug, Clone)]
pub struct SessionHandle {
    tx: mpsc::UnboundedSender<SessionEvent>,
    /// Unregister and Stop: taken before anything queued in `tx`, so that
    /// ending a session never waits behind its backlog.
    stop: mpsc::UnboundedSender<SessionEvent>,
    state: watch::Receiver<LoginState>,
    task: tokio::task::AbortHandle,
    /// How long ending the session may take: its current event and its
    /// logout, each call bounded by the plugin's `call_timeout`.
    stop_wait: Duration,
}

impl SessionHandle {
    /// Queues an event; false if the session has ended.
    pub fn send(&self, event: SessionEvent) -> bool {
        match event {
            SessionEvent::Unregister(_) | SessionEvent::Stop(_) => self.stop.send(event).is_ok(),
            _ => self.tx.send(event).is_ok(),
        }
    }

    /// Ends the session (with `unregister`, its contacts leave the user's
    /// roster too): the order goes now, and the returned future waits for
    /// the session within a bound; a session that does not end in time is
    /// aborted, and the future gives false.
    pub fn ending(self, unregister: bool) -> impl Future<Output = bool> + Send + 'static {
        let limit = self.stop_wait;
        self.ending_within(unregister, limit)
    }

    /// The same, waiting at most `limit` (a shutdown has a deadline of its
    /// own, shorter than a session's bound).
    pub fn ending_within(
        self,
        unregister: bool,
        limit: Duration,
    ) -> impl Future<Output = bool> + Send + 'static {
        let limit = limit.min(self.stop_wait);
        let (done, wait) = oneshot::channel();
        let event = if unregister {
            SessionEvent::Unregister(done)
        } else {
            SessionEvent::Stop(done)
        };
        let sent = self.send(event);
        async move {
            // The whole handle lives until the session ended: its mailbox
            // stays open meanwhile.
            let handle = self;
            if !sent {
                return true;
            }
            match tokio::time::timeout(limit, wait).await {
                Ok(_) => true,
                Err(_) => {
                    handle.task.abort();
                    false
                }
            }
        }
    }

    /// Where the session stands with the legacy network, read without
    /// waiting for the session (which may be busy in a plugin call).
    pub fn state(&self) -> LoginState {
        self.state.borrow().clone()
    }

    /// Asks the session to run a command and waits for its answer; None if
    /// the session ended first.
    pub async fn command(&self, command: UserCommand) -> Option<CommandReply> {
        let (reply, answer) = oneshot::channel();
        if !self.send(SessionEvent::Command(command, reply)) {
            return None;
        }
        // A session behind a long queue of bounded calls answers late, but
        // the one asking is not kept waiting without end.
        match tokio::time::timeout(COMMAND_WAIT, answer).await {
            Ok(answer) => answer.ok(),
            Err(_) => Some(CommandReply::Refused(
                "Your session is busy with the legacy network; try again in a moment.".into(),
            )),
        }
    }
}

/// Starts a user's session, whose plugin instances come from `runtime`
/// and whose id mappings from the gateway's `service`.
pub fn spawn(
    ctx: Arc<GatewayContext>,
    runtime: Arc<Runtime>,
    service: Arc<Service>,
    user: UserRow,
) -> Result<(BareJid, SessionHandle), RosterError> {
    let roster = Roster::load(ctx.clone(), &user)?;
    let mut roster = roster;
    let rooms = Rooms::load(ctx.clone(), &user, &mut roster)?;
    let jid = roster.user().clone();
    let (tx, rx) = mpsc::unbounded_channel();
    let (stop, stop_rx) = mpsc::unbounded_channel();
    let (stream_events_tx, stream_events) = mpsc::unbounded_channel();
    let grants: Vec<Grant> = ctx
        .config
        .allow
        .iter()
        .filter_map(|a| Grant::parse(a))
        .collect();
    let streams = Streams::new(grants, ctx.tls.clone(), stream_events_tx);
    let (published, state) = watch::channel(LoginState::LoggedOut);
    let data = SessionData {
        ctx: ctx.clone(),
        service,
        roster,
        rooms,
        registration: user.registration,
        requested_timers: Vec::new(),
        scheduled_timers: 0,
        streams,
        files: crate::files::ScratchFiles::new(
            ctx.files.as_ref().map(|shelf| shelf.dir().to_owned()),
            u64::from(ctx.config.max_file_mb) * 1024 * 1024,
        ),
    };
    let session = Session {
        ctx,
        runtime,
        user: jid.clone(),
        instance: None,
        state: Some(data.into_state()),
        login: LoginState::LoggedOut,
        published,
        failures: 0,
        login_crashes: 0,
        retry_at: None,
        scheduled_timers: Vec::new(),
        stream_events,
        stops: stop_rx,
        resources: HashSet::new(),
        awaiting_roster: Vec::new(),
    };
    crate::metrics::METRICS.session_state(
        session.ctx.jid.as_str(),
        None,
        Some(session.login.kind().name()),
    );
    let stop_wait = Duration::from_millis(session.ctx.config.call_timeout_ms)
        .saturating_mul(STOP_CALLS)
        .saturating_add(Duration::from_secs(1));
    let span = tracing::info_span!("session", gateway = %session.ctx.jid, user = %jid);
    let task = tokio::spawn(tracing::Instrument::instrument(session.run(rx), span));
    let handle = SessionHandle {
        tx,
        stop,
        state,
        task: task.abort_handle(),
        stop_wait,
    };
    Ok((jid, handle))
}

/// Plugin calls an ending session may make before it ends: those of the
/// event it is handling (a message may take three: the id mapping,
/// `on-text`, `update-contact-info`; a login two, with an instantiation
/// each), one more the backlog checks stop short of, and the logout. A
/// session past it is aborted, and its contacts stay where they are.
const STOP_CALLS: u32 = 8;

/// The longest an ad-hoc command waits for the session to answer it.
const COMMAND_WAIT: Duration = Duration::from_secs(60);

/// How soon a session whose queue is behind looks again whether it may
/// hand the plugin network data.
const BEHIND_RECHECK: Duration = Duration::from_millis(20);

/// Sleeps until `at`, or for ever without one.
async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

struct Session {
    ctx: Arc<GatewayContext>,
    runtime: Arc<Runtime>,
    user: BareJid,
    /// The live instance, if any; `state` holds the host state otherwise.
    instance: Option<SessionInstance>,
    state: Option<State>,
    login: LoginState,
    /// `login`, for whoever holds the handle.
    published: watch::Sender<LoginState>,
    failures: u32,
    /// Logins in a row that crashed the plugin.
    login_crashes: u32,
    retry_at: Option<Instant>,
    /// The plugin's timers, scheduled, soonest first.
    scheduled_timers: Vec<(Instant, String)>,
    /// What happens on the session's network streams.
    stream_events: mpsc::UnboundedReceiver<StreamEvent>,
    /// Orders to end (Unregister, Stop), taken before the mailbox.
    stops: mpsc::UnboundedReceiver<SessionEvent>,
    /// The user's online clients.
    resources: HashSet<Jid>,
    /// Contacts whose pushes were unconfirmed at load, while the server's
    /// roster is asked for.
    awaiting_roster: Vec<ContactId>,
}

impl Session {
    async fn run(mut self, mut mailbox: mpsc::UnboundedReceiver<SessionEvent>) {
        self.ctx.wait_settled().await;
        self.log_in().await;
        let stop = loop {
            self.after_calls().await;
            self.flush();
            // A stop goes before anything queued, without starving the
            // other branches below of their turn.
            if let Ok(stop) = self.stops.try_recv() {
                break Some(stop);
            }
            // Network data waits while the user's queue is behind; the
            // session looks again shortly.
            let behind = self.data().is_some_and(|d| d.roster.behind());
            let wake = match (self.next_wake(), behind) {
                (wake, false) => wake,
                (wake, true) => {
                    let soon = Instant::now() + BEHIND_RECHECK;
                    Some(wake.map_or(soon, |at| at.min(soon)))
                }
            };
            let event = tokio::select! {
                Some(stop) = self.stops.recv() => break Some(stop),
                event = mailbox.recv() => event,
                Some(stream_event) = self.stream_events.recv(), if !behind => {
                    self.on_stream_event(stream_event).await;
                    continue;
                }
                _ = sleep_until_some(wake) => {
                    self.on_wake().await;
                    continue;
                }
            };
            // The handle gone: only an order to end, if one came, is left.
            let Some(event) = event else {
                break self.stops.try_recv().ok();
            };
            match event {
                SessionEvent::Available(resource) => self.on_available(resource).await,
                SessionEvent::Unavailable(resource) => self.on_unavailable(resource).await,
                SessionEvent::Probe(from) => self.send_status(from),
                SessionEvent::Message(m) => self.on_message(*m).await,
                SessionEvent::Presence(p) => self.on_presence(*p).await,
                SessionEvent::Iq(iq) => self.on_iq(*iq).await,
                SessionEvent::Reload(runtime) => self.on_reload(runtime).await,
                SessionEvent::ServerRoster(roster) => self.on_server_roster(roster),
                // The one who asked gave up (the wait is bounded): a late
                // command, a leave above all, must not run behind their back.
                SessionEvent::Command(_, reply) if reply.is_closed() => {}
                SessionEvent::Command(command, reply) => {
                    let answer = self.on_command(command).await;
                    self.flush();
                    let _ = reply.send(answer);
                }
                stop @ (SessionEvent::Unregister(_) | SessionEvent::Stop(_)) => break Some(stop),
            }
        };
        if let Some(stop) = stop {
            self.end(stop).await;
            self.refuse_queued(&mut mailbox);
        }
        crate::metrics::METRICS.session_state(
            self.ctx.jid.as_str(),
            Some(self.login.kind().name()),
            None,
        );
        tracing::debug!(gateway = %self.ctx.jid, user = %self.user, "session ended");
    }

    /// Ends the session: logs out; on unregistration takes every contact
    /// out of the user's roster and the gateway out of their presence, else
    /// shows the contacts offline.
    async fn end(&mut self, stop: SessionEvent) {
        self.log_out().await;
        if let Some(data) = self.data() {
            data.rooms.all_left(&mut data.roster, None);
        }
        match stop {
            SessionEvent::Unregister(done) => {
                if let Some(data) = self.data() {
                    data.rooms.retract_all(&mut data.roster);
                    data.roster.remove_all();
                }
                let user: Jid = self.user.clone().into();
                for type_ in [
                    PresenceType::Unsubscribe,
                    PresenceType::Unsubscribed,
                    PresenceType::Unavailable,
                ] {
                    self.send(self.ctx.presence_to(user.clone(), type_));
                }
                let _ = done.send(());
            }
            SessionEvent::Stop(done) => {
                if let Some(data) = self.data() {
                    data.roster.all_offline();
                }
                self.flush();
                let _ = done.send(());
            }
            _ => {}
        }
    }

    /// What was still queued when the session ended gets an answer, not
    /// silence: an error for messages and iqs, a refusal for commands.
    fn refuse_queued(&mut self, mailbox: &mut mpsc::UnboundedReceiver<SessionEvent>) {
        let ended = || {
            crate::stanza::error::stanza_error(
                xmpp_parsers::stanza_error::DefinedCondition::RecipientUnavailable,
                "the session ended before this was handled",
            )
        };
        while let Ok(event) = mailbox.try_recv() {
            match event {
                SessionEvent::Message(m)
                    if m.type_ != xmpp_parsers::message::MessageType::Error =>
                {
                    let error = crate::stanza::error::message_error(
                        m.from,
                        m.to,
                        m.id.map(|id| id.0),
                        ended(),
                    );
                    self.send(error);
                }
                SessionEvent::Iq(iq) => {
                    if let Iq::Get { from, to, id, .. } | Iq::Set { from, to, id, .. } = *iq {
                        self.send(crate::stanza::error::iq_error(from, to, &id, ended()));
                    }
                }
                SessionEvent::Command(_, reply) => {
                    let _ = reply.send(CommandReply::Refused("The session ended.".into()));
                }
                _ => {}
            }
        }
    }

    /// What the last calls left to do: schedule the timers the plugin set,
    /// and call `update-contact-info` once for each contact they created
    /// (not during the call that created it: instances are not reentrant).
    pub(super) async fn after_calls(&mut self) {
        loop {
            let Some(data) = self.data() else { return };
            let requested = std::mem::take(&mut data.requested_timers);
            let created = data.roster.take_created();
            let created_rooms = data.rooms.take_created();
            let now = Instant::now();
            for (delay_ms, token) in requested {
                self.scheduled_timers
                    .push((now + Duration::from_millis(u64::from(delay_ms)), token));
            }
            self.scheduled_timers.sort_by_key(|(at, _)| *at);
            let scheduled = self.scheduled_timers.len();
            if let Some(data) = self.data() {
                data.scheduled_timers = scheduled;
            }
            if created.is_empty() && created_rooms.is_empty() {
                return;
            }
            for room in created_rooms {
                if !self.stops.is_empty() {
                    return;
                }
                if let Ok(Err(reason)) = self
                    .call("update-muc-info", async |i| i.update_muc_info(room).await)
                    .await
                {
                    tracing::warn!(gateway = %self.ctx.jid, user = %self.user, ?reason, "update-muc-info failed");
                }
            }
            for contact in created {
                // A session asked to end does not finish this backlog.
                if !self.stops.is_empty() {
                    return;
                }
                let during = "update-contact-info";
                if let Ok(Err(reason)) = self
                    .call(during, async |i| i.update_contact_info(contact).await)
                    .await
                {
                    tracing::warn!(gateway = %self.ctx.jid, user = %self.user, ?reason, "update-contact-info failed");
                }
            }
        }
    }

    /// Hands what happened on a stream (or an HTTP request) to the plugin.
    async fn on_stream_event(&mut self, event: StreamEvent) {
        let _ = match event {
            StreamEvent::Data(id, data, _share) => {
                // The share goes back (and the reader reads on) once the
                // plugin has had the bytes.
                self.call("network data", async |i| i.on_stream_data(id, &data).await)
                    .await
            }
            StreamEvent::Closed(id, reason) => {
                let result = self
                    .call("network data", async |i| {
                        i.on_stream_closed(id, reason.as_deref()).await
                    })
                    .await;
                if let Some(data) = self.data() {
                    data.streams.ended(id);
                }
                result
            }
            StreamEvent::HttpResponse(id, response) => {
                if response.is_err()
                    && let Some(data) = self.data()
                {
                    data.streams.ended(id);
                }
                self.call("network data", async |i| {
                    i.on_http_response(id, response).await
                })
                .await
            }
        };
    }

    /// When the session must wake up without an event: a login retry or a
    /// plugin timer.
    fn next_wake(&self) -> Option<Instant> {
        let timer = self.scheduled_timers.first().map(|(at, _)| *at);
        match (self.retry_at, timer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    async fn on_wake(&mut self) {
        let now = Instant::now();
        if self.retry_at.is_some_and(|at| at <= now) {
            self.retry_at = None;
            self.log_in().await;
        }
        let due = self
            .scheduled_timers
            .iter()
            .take_while(|(at, _)| *at <= now)
            .count();
        let fired: Vec<(Instant, String)> = self.scheduled_timers.drain(..due).collect();
        let scheduled = self.scheduled_timers.len();
        if let Some(data) = self.data() {
            data.scheduled_timers = scheduled;
        }
        for (_, token) in fired {
            if !self.stops.is_empty() {
                return;
            }
            let _ = self
                .call("on-timer", async |i| i.on_timer(&token).await)
                .await;
        }
    }

    /// Swaps to a reloaded plugin: the old instance goes (its host state
    /// stays), and a logged-in session logs in again on the new code, which
    /// resumes from what the host holds (roster, key-value store, timers).
    async fn on_reload(&mut self, runtime: Arc<Runtime>) {
        self.drop_instance();
        self.runtime = runtime;
        if !matches!(self.login, LoginState::LoggedIn { .. }) {
            tracing::debug!(gateway = %self.ctx.jid, user = %self.user, "session on the reloaded plugin");
            return;
        }
        match self
            .call("login after a reload", async |i| i.login().await)
            .await
        {
            Ok(Ok(status)) => {
                let login = LoginState::LoggedIn { status };
                if self.login != login {
                    self.set_login(login);
                    self.send_status(self.user.clone().into());
                }
            }
            Ok(Err(reason)) => self.login_failed(reason),
            Err(_) => self.login_failed("the plugin crashed".into()),
        }
        tracing::debug!(gateway = %self.ctx.jid, user = %self.user, "session on the reloaded plugin");
    }
}
