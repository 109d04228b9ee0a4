//! One gateway: a component JID served by one plugin.
//!
//! The gateway answers what is addressed to its own JID: service discovery
//! (XEP-0030), registration (XEP-0077), pings and the users' presences. It
//! owns the table of sessions, one per registered user, and starts one for
//! every user at start-up and on registration.

use std::collections::HashMap;
use std::sync::Arc;

use jid::BareJid;
use minidom::Element;
use xmpp_parsers::{
    disco::DiscoItemsResult,
    iq::Iq,
    message::Message,
    presence::{Presence, Type as PresenceType},
    stanza::Stanza,
    stanza_error::DefinedCondition,
};

mod commands;
mod registration;

pub use registration::Registered;

use crate::context::GatewayContext;
use crate::plugin::reload::ReloadTrigger;
use crate::session::{self, Runtime, Service, SessionEvent, SessionHandle};
use crate::stanza::{
    disco,
    error::{iq_error, message_error, stanza_error},
    ns,
    register::{self, Submission},
};

/// A gateway: its context, its plugin and its sessions.
pub struct Gateway {
    ctx: Arc<GatewayContext>,
    runtime: Arc<Runtime>,
    /// Another, shared by every session for its new contacts' id mapping:
    /// a registration never waits behind a session's mapping, nor a
    /// session behind a registration.
    mapping: Arc<Service>,
    sessions: HashMap<BareJid, SessionHandle>,
    /// Reloads the plugin on an administrator's command.
    reload: Option<ReloadTrigger>,
    /// Ad-hoc commands waiting for their forms.
    pending: commands::PendingCommands,
    /// Registrations running as tasks, and what they hold.
    registrations: registration::Registrations,
    /// Where those tasks report, until the router takes it.
    registered: Option<tokio::sync::mpsc::UnboundedReceiver<Registered>>,
}

/// How long a shutdown waits for each session to log out (they end side
/// by side); the router's flush gets its own 10 s after it, and the two
/// stay under the supervisor's `SHUTDOWN_WAIT`.
pub const SHUTDOWN_SESSION_WAIT: std::time::Duration = std::time::Duration::from_secs(8);

impl Gateway {
    /// A gateway with no sessions yet.
    pub fn new(ctx: Arc<GatewayContext>, runtime: Arc<Runtime>) -> Self {
        let (done, registered) = tokio::sync::mpsc::unbounded_channel();
        Gateway {
            ctx,
            mapping: Arc::new(Service::new(runtime.clone())),
            runtime,
            sessions: HashMap::new(),
            reload: None,
            pending: Default::default(),
            registrations: registration::Registrations::new(done),
            registered: Some(registered),
        }
    }

    /// What registration tasks report, for the router to hand back to
    /// [`Gateway::on_registered`] (taken once).
    pub fn take_registered(&mut self) -> Option<tokio::sync::mpsc::UnboundedReceiver<Registered>> {
        self.registered.take()
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
    pub fn reload(&mut self, runtime: Arc<Runtime>) {
        if runtime.info.name != self.ctx.info.name || runtime.info.form != self.ctx.info.form {
            tracing::warn!(gateway = %self.ctx.jid, "the reloaded plugin describes its network differently; restart to show it");
        }
        self.runtime = runtime.clone();
        self.mapping.reload(runtime.clone());
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
        let (ctx, runtime, mapping) =
            (self.ctx.clone(), self.runtime.clone(), self.mapping.clone());
        match session::spawn(ctx, runtime, mapping, user) {
            Ok((jid, handle)) => {
                self.sessions.insert(jid, handle);
            }
            Err(e) => {
                tracing::error!(gateway = %self.ctx.jid, error = %e, "cannot start a session")
            }
        }
    }

    /// The user's rooms, as the gateway's disco#items (XEP-0045 §6.3).
    fn room_items(&self, user: &jid::BareJid) -> Vec<xmpp_parsers::disco::Item> {
        let gateway = self.ctx.jid.to_string();
        let rows = match self.ctx.store.user(&gateway, user.as_str()) {
            Ok(Some(row)) => self.ctx.store.rooms(row.id).unwrap_or_default(),
            _ => return Vec::new(),
        };
        rows.into_iter()
            .filter_map(|row| {
                let jid = self.ctx.jid_of(&row.jid_username)?;
                let info: crate::groups::RoomInfo = serde_json::from_str(&row.info).ok()?;
                Some(xmpp_parsers::disco::Item {
                    jid: jid.into(),
                    node: None,
                    name: info.name,
                })
            })
            .collect()
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
                        items: self.room_items(&sender.to_bare()),
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
                Ok(submission) => {
                    // Answered by the registration's task.
                    self.submit(registration::Job {
                        user: sender.to_bare(),
                        submission,
                        result: reply(None).into(),
                        refuse: registration::refuse_iq(from.clone(), to.clone(), id.clone()),
                    });
                    return;
                }
                Err(text) => error(DefinedCondition::BadRequest, &text),
            },
            _ => error(DefinedCondition::FeatureNotImplemented, ""),
        };
        self.ctx.outbox.send(response);
    }

    /// Ends every session, for a shutdown: each logs out of the legacy
    /// network and shows its contacts offline, then the gateway shows
    /// itself offline to every user. A session not done within
    /// [`SHUTDOWN_SESSION_WAIT`] is aborted: with the link's flush after
    /// it, the shutdown stays inside the supervisor's bound.
    pub async fn shutdown(&mut self) {
        let jid = &self.ctx.jid;
        let stops = self.sessions.drain().map(|(user, handle)| async move {
            if !handle.ending_within(false, SHUTDOWN_SESSION_WAIT).await {
                tracing::warn!(gateway = %jid, %user, "the session did not end in time: aborted");
            }
            user
        });
        let users = futures::future::join_all(stops).await;
        for user in &users {
            let offline = self
                .ctx
                .presence_to(user.clone().into(), PresenceType::Unavailable);
            self.ctx.outbox.send(offline);
        }
        tracing::info!(gateway = %self.ctx.jid, sessions = users.len(), "sessions ended");
    }

    /// A presence addressed to the gateway JID.
    pub fn on_presence(&mut self, presence: Presence) {
        let Some(from) = presence.from.clone() else {
            return;
        };
        let user = from.to_bare();
        let presence = if self.sessions.contains_key(&user) {
            presence
        } else {
            // Registering: this presence is for the session about to start.
            match self.hold(&user, presence.into()) {
                Some(Stanza::Presence(presence)) => presence,
                _ => return,
            }
        };
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
                let subscribed = self
                    .ctx
                    .presence_to(user.clone().into(), PresenceType::Subscribed);
                self.ctx.outbox.send(subscribed);
                session.send(SessionEvent::Probe(from));
            }
            (PresenceType::Subscribe | PresenceType::Probe, None) => {
                let unsubscribed = self
                    .ctx
                    .presence_to(user.into(), PresenceType::Unsubscribed);
                self.ctx.outbox.send(unsubscribed);
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
