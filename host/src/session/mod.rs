//! A session: one registered user of one gateway, as an actor.
//!
//! Each session is a task with a mailbox and its own plugin instance. It
//! handles its events one at a time, in arrival order, so the plugin never
//! sees two calls at once and the user's messages reach the network in the
//! order they were sent; sessions of different users run in parallel.
//!
//! The session logs in when it starts (after the gateway knows its
//! privileges), retries a failed login with capped backoff, and answers the
//! stanzas addressed to its user's puppets.

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

use crate::gateway::GatewayContext;
use crate::plugin::streams::{Grant, StreamEvent, Streams};
use crate::plugin::{HostState, Instance, PluginError, PluginRuntime, SessionData};
use crate::roster::{ContactId, Roster, RosterError};
use crate::stanza::escape;
use crate::store::UserRow;

/// Sleeps until `at`, or for ever without one.
async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

mod commands;
mod inbound;
mod login;
mod puppet;

pub use commands::{CommandReply, ContactLine, SessionReport, UserCommand};
pub use login::LoginState;

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
    Reload(Arc<PluginRuntime>),
    /// An ad-hoc command of the user's (or an administrator's about them).
    Command(UserCommand, oneshot::Sender<CommandReply>),
    /// The user's roster as the server has it (None: it would not say),
    /// asked for to settle pushes a kill left unanswered.
    ServerRoster(Option<std::collections::HashSet<BareJid>>),
}

/// The sending side of a session's mailbox.
#[derive(Debug, Clone)]
pub struct SessionHandle {
    tx: mpsc::UnboundedSender<SessionEvent>,
    state: watch::Receiver<LoginState>,
}

impl SessionHandle {
    /// Queues an event; false if the session has ended.
    pub fn send(&self, event: SessionEvent) -> bool {
        self.tx.send(event).is_ok()
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
        answer.await.ok()
    }
}

/// Starts a user's session.
pub fn spawn(
    ctx: Arc<GatewayContext>,
    runtime: Arc<PluginRuntime>,
    user: UserRow,
) -> Result<(BareJid, SessionHandle), RosterError> {
    let roster = Roster::load(ctx.clone(), &user)?;
    let jid = roster.user().clone();
    let (tx, rx) = mpsc::unbounded_channel();
    let (stream_events_tx, stream_events) = mpsc::unbounded_channel();
    let grants = ctx
        .config
        .allow
        .iter()
        .filter_map(|a| Grant::parse(a))
        .collect();
    let tls = ctx.tls.clone();
    let (published, state) = watch::channel(LoginState::LoggedOut);
    let session = Session {
        ctx,
        runtime,
        user: jid.clone(),
        instance: None,
        state: Some(HostState::for_session(SessionData {
            roster,
            registration: user.registration,
            timers: Vec::new(),
            streams: Streams::new(grants, tls, stream_events_tx),
        })),
        login: LoginState::LoggedOut,
        published,
        failures: 0,
        login_crashes: 0,
        retry_at: None,
        timers: Vec::new(),
        stream_events,
        resources: HashSet::new(),
        awaiting_roster: Vec::new(),
    };
    crate::metrics::METRICS.session_state(
        session.ctx.jid.as_str(),
        None,
        Some(session.login.name()),
    );
    let span = tracing::info_span!("session", gateway = %session.ctx.jid, user = %jid);
    tokio::spawn(tracing::Instrument::instrument(session.run(rx), span));
    Ok((jid, SessionHandle { tx, state }))
}

struct Session {
    ctx: Arc<GatewayContext>,
    runtime: Arc<PluginRuntime>,
    user: BareJid,
    /// The live instance, if any; `state` holds the host state otherwise.
    instance: Option<Instance>,
    state: Option<HostState>,
    login: LoginState,
    /// `login`, for whoever holds the handle.
    published: watch::Sender<LoginState>,
    failures: u32,
    /// Logins in a row that crashed the plugin.
    login_crashes: u32,
    retry_at: Option<Instant>,
    /// The plugin's timers, soonest first.
    timers: Vec<(Instant, String)>,
    /// What happens on the session's network streams.
    stream_events: mpsc::UnboundedReceiver<StreamEvent>,
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
        loop {
            self.after_calls().await;
            let wake = self.next_wake();
            let event = tokio::select! {
                event = mailbox.recv() => event,
                Some(stream_event) = self.stream_events.recv() => {
                    self.on_stream_event(stream_event).await;
                    continue;
                }
                _ = sleep_until_some(wake) => {
                    self.on_wake().await;
                    continue;
                }
            };
            let Some(event) = event else { break };
            match event {
                SessionEvent::Available(resource) => self.on_available(resource).await,
                SessionEvent::Unavailable(resource) => self.on_unavailable(resource).await,
                SessionEvent::Probe(from) => self.send_status(from),
                SessionEvent::Message(m) => self.on_message(*m).await,
                SessionEvent::Presence(p) => self.on_presence(*p).await,
                SessionEvent::Iq(iq) => self.on_iq(*iq).await,
                SessionEvent::Unregister(done) => {
                    self.log_out().await;
                    if let Some(data) = self.data() {
                        data.roster.remove_all();
                    }
                    let user: Jid = self.user.clone().into();
                    for type_ in [
                        PresenceType::Unsubscribe,
                        PresenceType::Unsubscribed,
                        PresenceType::Unavailable,
                    ] {
                        self.ctx.send_presence_type(user.clone(), type_);
                    }
                    let _ = done.send(());
                    break;
                }
                SessionEvent::Reload(runtime) => self.on_reload(runtime).await,
                SessionEvent::ServerRoster(roster) => self.on_server_roster(roster),
                SessionEvent::Command(command, reply) => {
                    let answer = self.on_command(command).await;
                    let _ = reply.send(answer);
                }
                SessionEvent::Stop(done) => {
                    self.log_out().await;
                    if let Some(data) = self.data() {
                        data.roster.all_offline();
                    }
                    let _ = done.send(());
                    break;
                }
            }
        }
        crate::metrics::METRICS.session_state(self.ctx.jid.as_str(), Some(self.login.name()), None);
        tracing::debug!(gateway = %self.ctx.jid, user = %self.user, "session ended");
    }

    /// What the last calls left to do: schedule the timers the plugin set,
    /// and call `update-contact-info` once for each contact they created
    /// (not during the call that created it: instances are not reentrant).
    async fn after_calls(&mut self) {
        loop {
            let Some(data) = self.data() else { return };
            let timers = std::mem::take(&mut data.timers);
            let created = data.roster.take_created();
            let now = Instant::now();
            for (delay_ms, token) in timers {
                self.timers
                    .push((now + Duration::from_millis(u64::from(delay_ms)), token));
            }
            self.timers.sort_by_key(|(at, _)| *at);
            if created.is_empty() {
                return;
            }
            for contact in created {
                let result = match self.instance().await {
                    Ok(instance) => instance.update_contact_info(contact).await,
                    Err(e) => Err(e),
                };
                match result {
                    Ok(Ok(())) => {}
                    Ok(Err(reason)) => {
                        tracing::warn!(gateway = %self.ctx.jid, user = %self.user, %reason, "update-contact-info failed");
                    }
                    Err(e) => self.on_crash(&e, "update-contact-info"),
                }
            }
        }
    }

    /// Hands what happened on a stream to the plugin.
    async fn on_stream_event(&mut self, event: StreamEvent) {
        let result = match self.instance().await {
            Ok(instance) => match &event {
                StreamEvent::Data(id, data) => instance.on_stream_data(*id, data).await,
                StreamEvent::Closed(id, reason) => {
                    instance.on_stream_closed(*id, reason.as_deref()).await
                }
            },
            Err(e) => Err(e),
        };
        if let StreamEvent::Closed(id, _) = event
            && let Some(data) = self.data()
        {
            data.streams.ended(id);
        }
        if let Err(e) = result {
            self.on_crash(&e, "network data");
        }
    }

    /// When the session must wake up without an event: a login retry or a
    /// plugin timer.
    fn next_wake(&self) -> Option<Instant> {
        let timer = self.timers.first().map(|(at, _)| *at);
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
        let due = self.timers.iter().take_while(|(at, _)| *at <= now).count();
        let fired: Vec<(Instant, String)> = self.timers.drain(..due).collect();
        for (_, token) in fired {
            let result = match self.instance().await {
                Ok(instance) => instance.on_timer(&token).await,
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                self.on_crash(&e, "on-timer");
            }
        }
    }

    /// Swaps to a reloaded plugin: the old instance goes (its host state
    /// stays), and a logged-in session logs in again on the new code, which
    /// resumes from what the host holds (roster, key-value store, timers).
    async fn on_reload(&mut self, runtime: Arc<PluginRuntime>) {
        if let Some(instance) = self.instance.take() {
            self.state = instance
                .into_state()
                .into_session()
                .map(HostState::for_session);
        }
        self.runtime = runtime;
        if !matches!(self.login, LoginState::LoggedIn { .. }) {
            tracing::debug!(gateway = %self.ctx.jid, user = %self.user, "session on the reloaded plugin");
            return;
        }
        let result = match self.instance().await {
            Ok(instance) => instance.login().await,
            Err(e) => Err(e),
        };
        match result {
            Ok(Ok(status)) => {
                if self.login
                    != (LoginState::LoggedIn {
                        status: status.clone(),
                    })
                {
                    self.set_login(LoginState::LoggedIn { status });
                    self.send_status(self.user.clone().into());
                }
            }
            Ok(Err(reason)) => self.login_failed(reason),
            Err(e) => {
                self.on_crash(&e, "login after a reload");
                self.login_failed("the plugin crashed".into());
            }
        }
        tracing::debug!(gateway = %self.ctx.jid, user = %self.user, "session on the reloaded plugin");
    }

    /// The live instance, made from the held state if there is none.
    async fn instance(&mut self) -> Result<&mut Instance, PluginError> {
        if self.instance.is_none() {
            let state = self
                .state
                .take()
                .ok_or_else(|| PluginError::Instantiate("session state lost".into()))?;
            let instance = self.runtime.instantiate(state).await?;
            self.instance = Some(instance);
        }
        self.instance
            .as_mut()
            .ok_or_else(|| PluginError::Instantiate("no instance".into()))
    }

    /// After a crash: drop the dead instance, keep the host state, tell the
    /// user.
    fn on_crash(&mut self, error: &PluginError, during: &str) {
        tracing::error!(gateway = %self.ctx.jid, user = %self.user, during, %error, "plugin crashed");
        if let Some(instance) = self.instance.take() {
            let data = instance.into_state().into_session();
            self.state = data.map(HostState::for_session);
        }
        let what = match error {
            PluginError::Deadline(ms) => format!("ran past its {ms} ms time limit"),
            PluginError::Memory(mb) => format!("used more than its {mb} MiB of memory"),
            _ => "crashed".to_owned(),
        };
        self.ctx.send_message(
            &self.user,
            &format!("The gateway's plugin {what} during {during}; it was restarted."),
        );
    }

    fn data(&mut self) -> Option<&mut SessionData> {
        match &mut self.instance {
            Some(instance) => instance.state().session(),
            None => self.state.as_mut().and_then(HostState::session),
        }
    }

    /// The contact a puppet JID's local part names: a known one, else the
    /// plugin's `jid-username-to-legacy-id` decides. Err is the text of an
    /// `item-not-found`.
    async fn resolve(&mut self, to: &Jid) -> Result<ContactId, String> {
        let username = to.node().map(|n| n.as_str().to_owned()).unwrap_or_default();
        if let Some(id) = self.data().and_then(|d| d.roster.by_username(&username)) {
            return Ok(id);
        }
        let unescaped = escape::unescape(&username);
        let answer = match self.instance().await {
            Ok(instance) => {
                instance
                    .jid_username_to_legacy_id(&username, &unescaped)
                    .await
            }
            Err(e) => Err(e),
        };
        let legacy_id = match answer {
            Ok(Ok(legacy_id)) => legacy_id,
            Ok(Err(reason)) => return Err(reason),
            Err(e) => {
                self.on_crash(&e, "jid-username-to-legacy-id");
                return Err("the gateway's plugin crashed".into());
            }
        };
        let data = self.data().ok_or("session state lost")?;
        data.roster
            .by_legacy_id(&legacy_id, Some(&username))
            .map_err(|e| e.to_string())
    }
}
