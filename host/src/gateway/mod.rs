//! One gateway: a component JID served by one plugin.
//!
//! The gateway answers what is addressed to its own JID: service discovery
//! (XEP-0030), registration (XEP-0077), pings and the users' presences. It
//! owns the table of sessions, one per registered user, and starts one for
//! every user at start-up and on registration.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use jid::{BareJid, Jid};
use minidom::Element;
use tokio::sync::{oneshot, watch};
use xmpp_parsers::{
    disco::DiscoItemsResult,
    iq::Iq,
    message::Message,
    presence::{Presence, Show, Type as PresenceType},
    stanza_error::DefinedCondition,
};

mod commands;
mod pushes;

pub use pushes::SentPush;

use crate::config::GatewayConfig;
use crate::link::Outbox;
use crate::plugin::reload::ReloadTrigger;
use crate::plugin::{GatewayInfo, HostState, Instance, PluginRuntime};
use crate::session::{self, SessionEvent, SessionHandle};
use crate::stanza::{
    disco,
    error::{iq_error, message_error, stanza_error},
    message, ns, presence as presence_stanza,
    privilege::Privileges,
    register::{self, Submission},
};
use crate::store::Store;

/// What every part of a gateway shares: its JID, its outgoing queue, the
/// database, the plugin's self-description and the server's privileges.
pub struct GatewayContext {
    /// The component's JID.
    pub jid: BareJid,
    /// The queue of stanzas to the server.
    pub outbox: Outbox,
    /// The database.
    pub store: Store,
    /// What the plugin said about its network.
    pub info: GatewayInfo,
    /// The operator's settings for this gateway.
    pub config: GatewayConfig,
    /// The TLS settings of plugins' streams.
    pub tls: Arc<tokio_rustls::rustls::ClientConfig>,
    /// XEP-0356 grants, per user domain.
    privileges: RwLock<HashMap<String, Privileges>>,
    /// Becomes true once the server had its chance to send its privileges
    /// after the first handshake, so that sessions do not log in (and fill
    /// rosters) before the gateway knows whether it may push roster items.
    settled: watch::Sender<bool>,
    next_id: AtomicU64,
    id_prefix: String,
    /// Roster pushes awaiting the server's answer.
    pushes: pushes::Pushes,
}

impl GatewayContext {
    /// A new context; not settled until [`GatewayContext::settle`].
    pub fn new(
        config: GatewayConfig,
        jid: BareJid,
        outbox: Outbox,
        store: Store,
        info: GatewayInfo,
        tls: Arc<tokio_rustls::rustls::ClientConfig>,
    ) -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
            ^ u64::from(std::process::id()).rotate_left(32);
        GatewayContext {
            jid,
            outbox,
            store,
            info,
            config,
            tls,
            privileges: RwLock::new(HashMap::new()),
            settled: watch::channel(false).0,
            next_id: AtomicU64::new(1),
            id_prefix: format!("{:x}", seed & 0xffff_ffff),
            pushes: pushes::Pushes::default(),
        }
    }

    /// Whether `user` may register and have a session (`allow_users`).
    pub fn admits(&self, user: &BareJid) -> bool {
        crate::config::admitted(&self.config.allow_users, user)
    }

    /// A fresh stanza id, unique across restarts.
    pub fn new_id(&self) -> String {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        format!("gh-{}-{n}", self.id_prefix)
    }

    /// Whether the user's server lets the gateway write their roster.
    pub fn can_push_roster(&self, user: &BareJid) -> bool {
        let privileges = self.privileges.read().unwrap_or_else(|p| p.into_inner());
        privileges
            .get(user.domain().as_str())
            .is_some_and(|p| p.roster.can_set())
    }

    /// If the user's server lets the gateway send messages as them, the
    /// namespace to wrap them in.
    pub fn send_as_user_namespace(&self, user: &BareJid) -> Option<&'static str> {
        let privileges = self.privileges.read().unwrap_or_else(|p| p.into_inner());
        privileges
            .get(user.domain().as_str())
            .filter(|p| p.message_outgoing)
            .map(|p| p.namespace)
    }

    /// Records what a server domain granted.
    pub fn set_privileges(&self, domain: &str, granted: Privileges) {
        tracing::info!(gateway = %self.jid, domain, ?granted, "privileges granted");
        let mut privileges = self.privileges.write().unwrap_or_else(|p| p.into_inner());
        privileges.insert(domain.to_owned(), granted);
    }

    /// Asks the user's server for the user's roster (XEP-0356 roster get);
    /// the answer goes to the user's session.
    pub fn ask_roster(&self, user: &BareJid) {
        let id = self.new_id();
        self.pushes.asked_roster(id.clone(), user.clone());
        self.outbox.send(
            Iq::from_get(
                id,
                xmpp_parsers::roster::Roster {
                    ver: None,
                    items: vec![],
                },
            )
            .with_from(self.jid.clone().into())
            .with_to(user.clone().into()),
        );
    }

    /// Whose roster an answer carries, if it answers [`Self::ask_roster`].
    pub fn roster_answered(&self, id: &str) -> Option<BareJid> {
        self.pushes.roster_answered(id)
    }

    /// Remembers a roster push, to act on its answer.
    pub fn sent_push(&self, id: String, push: SentPush) {
        self.pushes.sent(id, push);
    }

    /// An answer from a server: if it refuses a roster push, roster pushes
    /// to that domain stop (see `pushes`) and the contact is offered as a
    /// subscription request instead.
    pub fn on_push_answer(&self, id: &str, refused: bool) {
        let Some(push) = self.pushes.answered(id) else {
            return;
        };
        // Answered either way: a refused addition becomes a subscription
        // request below, which needs no checking at the next login.
        if let Err(e) = self.store.set_push_unconfirmed(push.row_id, false) {
            tracing::warn!(gateway = %self.jid, error = %e, "cannot record a push's answer");
        }
        if !refused {
            return;
        }
        let domain = push.user.domain().as_str();
        {
            let mut privileges = self.privileges.write().unwrap_or_else(|p| p.into_inner());
            if let Some(granted) = privileges.get_mut(domain)
                && granted.roster.can_set()
            {
                tracing::warn!(gateway = %self.jid, domain, "the server refuses roster pushes it granted: sending subscription requests instead");
                granted.roster = crate::stanza::privilege::RosterAccess::None;
            }
        }
        if !push.adding {
            return;
        }
        tracing::info!(gateway = %self.jid, user = %push.user, contact = %push.contact, "roster push refused: asking to subscribe instead");
        self.outbox.send(presence_stanza::subscribe(
            push.contact.into(),
            push.user.into(),
            push.name.as_deref(),
        ));
    }

    /// Marks the privileges as known.
    pub fn settle(&self) {
        self.settled.send_replace(true);
    }

    /// Waits until the privileges are known.
    pub async fn wait_settled(&self) {
        let mut settled = self.settled.subscribe();
        // Err means the sender is gone: nothing will ever settle, go on.
        let _ = settled.wait_for(|s| *s).await;
    }

    /// A chat message from the gateway to a user.
    pub fn send_message(&self, user: &BareJid, text: &str) {
        self.outbox.send(message::gateway_text(
            self.jid.clone().into(),
            user.clone().into(),
            self.new_id(),
            text,
        ));
    }

    /// The gateway's status presence to a user (or one of their clients).
    pub fn send_status(&self, to: Jid, show: Option<Show>, status: &str) {
        self.outbox.send(presence_stanza::gateway_status(
            self.jid.clone().into(),
            to,
            show,
            status,
        ));
    }

    /// A presence of one of the subscription types from the gateway.
    pub fn send_presence_type(&self, to: Jid, type_: PresenceType) {
        self.outbox
            .send(presence_stanza::bare(type_, self.jid.clone().into(), to));
    }
}

/// A gateway: its context, its plugin and its sessions.
pub struct Gateway {
    ctx: Arc<GatewayContext>,
    runtime: Arc<PluginRuntime>,
    /// The instance that serves no user, for registration checks.
    service: Option<Instance>,
    sessions: HashMap<BareJid, SessionHandle>,
    /// Reloads the plugin on an administrator's command.
    reload: Option<ReloadTrigger>,
    /// Ad-hoc commands waiting for their forms.
    pending: commands::PendingCommands,
}

impl Gateway {
    /// A gateway with no sessions yet.
    pub fn new(ctx: Arc<GatewayContext>, runtime: Arc<PluginRuntime>) -> Self {
        Gateway {
            ctx,
            runtime,
            service: None,
            sessions: HashMap::new(),
            reload: None,
            pending: HashMap::new(),
        }
    }

    /// Lets administrators reload the plugin with a command.
    pub fn set_reload_trigger(&mut self, trigger: ReloadTrigger) {
        self.reload = Some(trigger);
    }

    /// The shared context.
    pub fn ctx(&self) -> &Arc<GatewayContext> {
        &self.ctx
    }

    /// Starts a session for every registered user.
    pub fn start_sessions(&mut self) -> Result<usize, crate::store::StoreError> {
        let users = self.ctx.store.users(&self.ctx.jid.to_string())?;
        let mut count = 0;
        for user in users {
            if !BareJid::new(&user.jid).is_ok_and(|jid| self.ctx.admits(&jid)) {
                tracing::warn!(gateway = %self.ctx.jid, user = user.jid, "registered, but not admitted by allow_users: no session");
                continue;
            }
            self.spawn_session(user);
            count += 1;
        }
        Ok(count)
    }

    /// Moves to a reloaded plugin: registration checks use it from now on,
    /// and every session swaps to it between two of its events.
    pub fn reload(&mut self, runtime: Arc<PluginRuntime>) {
        if runtime.info.name != self.ctx.info.name || runtime.info.form != self.ctx.info.form {
            tracing::warn!(gateway = %self.ctx.jid, "the reloaded plugin describes its network differently; restart to show it");
        }
        self.runtime = runtime.clone();
        self.service = None;
        for session in self.sessions.values() {
            session.send(SessionEvent::Reload(runtime.clone()));
        }
        tracing::info!(gateway = %self.ctx.jid, sessions = self.sessions.len(), "sessions moving to the reloaded plugin");
    }

    /// The session of a user, if registered.
    pub fn session(&self, user: &BareJid) -> Option<&SessionHandle> {
        self.sessions.get(user)
    }

    fn spawn_session(&mut self, user: crate::store::UserRow) {
        match session::spawn(self.ctx.clone(), self.runtime.clone(), user) {
            Ok((jid, handle)) => {
                self.sessions.insert(jid, handle);
            }
            Err(e) => {
                tracing::error!(gateway = %self.ctx.jid, error = %e, "cannot start a session")
            }
        }
    }

    /// An iq addressed to the gateway JID.
    pub async fn on_iq(&mut self, iq: Iq) {
        let (from, to, id, payload, is_set) = match iq {
            Iq::Get {
                from,
                to,
                id,
                payload,
            } => (from, to, id, payload, false),
            Iq::Set {
                from,
                to,
                id,
                payload,
            } => (from, to, id, payload, true),
            Iq::Result { .. } | Iq::Error { .. } => return,
        };
        let Some(sender) = from.clone() else { return };
        let reply = |payload: Option<Element>| Iq::Result {
            from: to.clone(),
            to: from.clone(),
            id: id.clone(),
            payload,
        };
        let error = |condition, text: &str| {
            iq_error(from.clone(), to.clone(), &id, stanza_error(condition, text))
        };
        // Leaving is never refused, whatever `allow_users` says now.
        let unregistering =
            is_set && matches!(register::parse_submission(&payload), Ok(Submission::Remove));
        let response = match (is_set, payload.name(), payload.ns().as_str()) {
            (false, "query", ns::DISCO_INFO) => reply(Some(
                disco::gateway_info(&self.ctx.info.name, &self.ctx.info.network_type).into(),
            )),
            (false, "query", ns::DISCO_ITEMS) => match payload.attr("node") {
                Some(ns::COMMANDS) => reply(Some(self.command_list(&sender).into())),
                Some(_) => error(DefinedCondition::ItemNotFound, "no such node"),
                None => reply(Some(
                    DiscoItemsResult {
                        node: None,
                        items: vec![],
                        rsm: None,
                    }
                    .into(),
                )),
            },
            (true, "command", ns::COMMANDS) => {
                let Some(to) = to.clone() else { return };
                self.on_command(sender, to, id, payload).await;
                return;
            }
            (false, "ping", ns::PING) => reply(None),
            (_, "query", ns::REGISTER) if !self.ctx.admits(&sender.to_bare()) && !unregistering => {
                tracing::info!(gateway = %self.ctx.jid, user = %sender.to_bare(), "registration refused by allow_users");
                error(
                    DefinedCondition::NotAllowed,
                    "this gateway does not take users of your server",
                )
            }
            (false, "query", ns::REGISTER) => {
                let user = sender.to_bare();
                match self
                    .ctx
                    .store
                    .user(&self.ctx.jid.to_string(), user.as_str())
                {
                    Ok(row) => reply(Some(
                        self.ctx
                            .info
                            .form
                            .to_query(row.as_ref().map(|r| r.registration.as_slice())),
                    )),
                    Err(e) => error(DefinedCondition::InternalServerError, &e.to_string()),
                }
            }
            (true, "query", ns::REGISTER) => match register::parse_submission(&payload) {
                Ok(submission) => match self
                    .on_registration(sender.to_bare(), submission, reply(None))
                    .await
                {
                    // The result went out before the session started.
                    Ok(()) => return,
                    Err((condition, text)) => error(condition, &text),
                },
                Err(text) => error(DefinedCondition::BadRequest, &text),
            },
            _ => error(DefinedCondition::FeatureNotImplemented, ""),
        };
        self.ctx.outbox.send(response);
    }

    /// A registration form was submitted, or `<remove/>`. On success the
    /// iq `result` is sent before anything else the registration causes.
    async fn on_registration(
        &mut self,
        user: BareJid,
        submission: Submission,
        result: Iq,
    ) -> Result<(), (DefinedCondition, String)> {
        let gateway = self.ctx.jid.to_string();
        let internal =
            |e: &dyn std::fmt::Display| (DefinedCondition::InternalServerError, e.to_string());
        let registered = self
            .ctx
            .store
            .user(&gateway, user.as_str())
            .map_err(|e| internal(&e))?;
        let values = match submission {
            Submission::Remove => {
                let Some(row) = registered else {
                    return Err((
                        DefinedCondition::RegistrationRequired,
                        "you are not registered with this gateway".into(),
                    ));
                };
                self.stop_session(&user, true).await;
                self.ctx
                    .store
                    .delete_user(row.id)
                    .map_err(|e| internal(&e))?;
                tracing::info!(gateway, %user, "unregistered");
                self.ctx.outbox.send(result);
                return Ok(());
            }
            Submission::Values(values) => values,
        };
        let values = self
            .ctx
            .info
            .form
            .complete(&values)
            .map_err(|text| (DefinedCondition::NotAcceptable, text))?;
        match self.validate(&values).await {
            Ok(Ok(())) => {}
            Ok(Err(text)) => return Err((DefinedCondition::NotAcceptable, text)),
            Err(text) => return Err((DefinedCondition::InternalServerError, text)),
        }
        let row = self
            .ctx
            .store
            .upsert_user(&gateway, user.as_str(), &values)
            .map_err(|e| internal(&e))?;
        tracing::info!(gateway, %user, again = registered.is_some(), "registered");
        self.ctx.outbox.send(result);
        if registered.is_some() {
            // New settings: log in again with them.
            self.stop_session(&user, false).await;
        } else {
            self.ctx
                .send_presence_type(user.clone().into(), PresenceType::Subscribe);
        }
        self.spawn_session(row);
        Ok(())
    }

    /// Runs `validate-registration` on the service instance; Err is a crash.
    async fn validate(
        &mut self,
        values: &[(String, String)],
    ) -> Result<Result<(), String>, String> {
        let mut instance = match self.service.take() {
            Some(instance) => instance,
            None => self
                .runtime
                .instantiate(HostState::service())
                .await
                .map_err(|e| e.to_string())?,
        };
        match instance.validate_registration(values).await {
            Ok(result) => {
                self.service = Some(instance);
                Ok(result)
            }
            Err(e) => {
                tracing::error!(gateway = %self.ctx.jid, error = %e, "validate-registration crashed");
                Err("the gateway's plugin crashed while checking the form".into())
            }
        }
    }

    /// Ends a user's session and waits for it; `unregister` also takes the
    /// user's contacts out of their roster.
    async fn stop_session(&mut self, user: &BareJid, unregister: bool) {
        if let Some(handle) = self.sessions.remove(user) {
            let (done, wait) = oneshot::channel();
            let event = if unregister {
                SessionEvent::Unregister(done)
            } else {
                SessionEvent::Stop(done)
            };
            if handle.send(event) {
                let _ = wait.await;
            }
        }
    }

    /// Ends every session, for a shutdown: each logs out of the legacy
    /// network and shows its contacts offline, then the gateway shows
    /// itself offline to every user.
    pub async fn shutdown(&mut self) {
        let stops = self.sessions.drain().map(|(user, handle)| async move {
            let (done, wait) = oneshot::channel();
            if handle.send(SessionEvent::Stop(done)) {
                let _ = wait.await;
            }
            user
        });
        let users = futures::future::join_all(stops).await;
        for user in &users {
            self.ctx
                .send_presence_type(user.clone().into(), PresenceType::Unavailable);
        }
        tracing::info!(gateway = %self.ctx.jid, sessions = users.len(), "sessions ended");
    }

    /// A presence addressed to the gateway JID.
    pub fn on_presence(&mut self, presence: Presence) {
        let Some(from) = presence.from.clone() else {
            return;
        };
        let user = from.to_bare();
        let session = self.sessions.get(&user);
        match (presence.type_, session) {
            (PresenceType::None, Some(session)) => {
                session.send(SessionEvent::Available(from));
            }
            (PresenceType::Unavailable, Some(session)) => {
                session.send(SessionEvent::Unavailable(from));
            }
            (PresenceType::Probe, Some(session)) => {
                session.send(SessionEvent::Probe(from));
            }
            (PresenceType::Subscribe, Some(session)) => {
                self.ctx
                    .send_presence_type(user.clone().into(), PresenceType::Subscribed);
                session.send(SessionEvent::Probe(from));
            }
            (PresenceType::Subscribe | PresenceType::Probe, None) => {
                self.ctx
                    .send_presence_type(user.into(), PresenceType::Unsubscribed);
            }
            _ => {}
        }
    }

    /// A message addressed to the gateway JID: there are no chat commands
    /// yet, so anything but an error gets `feature-not-implemented`.
    pub fn on_message(&mut self, message: Message) {
        if message.type_ == xmpp_parsers::message::MessageType::Error {
            return;
        }
        self.ctx.outbox.send(message_error(
            message.from,
            message.to,
            message.id.map(|id| id.0),
            stanza_error(
                DefinedCondition::FeatureNotImplemented,
                "this gateway has no chat commands",
            ),
        ));
    }
}
