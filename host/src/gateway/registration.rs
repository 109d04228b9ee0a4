//! Registrations (XEP-0077 forms, `<remove/>`, the ad-hoc `unregister`)
//! run as tasks, off the router: checking a form takes a fresh plugin
//! instance and ending a session may take its plugin's deadlines, and
//! neither may hold up the other users' stanzas.
//!
//! One user's registrations run one at a time, in the order they came
//! (the next waits for the one before, so an unregistration never deletes
//! what a later registration wrote). While one runs and the user has no
//! session (a first registration, or the old session ending before the
//! new one starts), the user's stanzas to contacts are held, and handed
//! to the new session, or refused, when it is done.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use jid::BareJid;
use tokio::sync::mpsc;
use xmpp_parsers::{
    presence::Type as PresenceType,
    stanza::Stanza,
    stanza_error::{DefinedCondition, StanzaError},
};

use super::Gateway;
use crate::context::GatewayContext;
use crate::plugin::HostState;
use crate::session::Runtime;
use crate::stanza::error::stanza_error;
use crate::stanza::register::Submission;
use crate::store::UserRow;

/// Stanzas (and their bytes) held for one user at most; past them the
/// user's stanzas are refused with `resource-constraint` until the
/// registration is done.
const MAX_HELD: usize = 1000;
const MAX_HELD_BYTES: usize = 1 << 20;

/// Registrations of one user waiting behind the one running, at most;
/// more are refused with `resource-constraint`.
const MAX_WAITING: usize = 4;

/// Registration forms checked at once, gateway-wide: each takes a fresh
/// plugin instance, and a wave of registrants must not take every
/// instance slot from the sessions.
const CHECKS_AT_ONCE: usize = 4;

/// Builds the answer that refuses a registration.
pub(super) type Refuse = Box<dyn FnOnce(StanzaError) -> Stanza + Send>;

/// A registration to run: the form (or `<remove/>`), the answer it gets
/// when it succeeds and the way to refuse it.
pub(super) struct Job {
    pub(super) user: BareJid,
    pub(super) submission: Submission,
    pub(super) result: Stanza,
    pub(super) refuse: Refuse,
}

/// What a registration's task hands back to the router.
#[derive(Debug)]
pub enum Registered {
    /// Registered: start the user's session.
    Start(BareJid, UserRow),
    /// Registered again: end the running session, then start a new one.
    Restart(BareJid, UserRow),
    /// Nothing more to do (unregistered, or refused).
    Done(BareJid),
}

/// The registrations running and waiting, by user.
pub(super) struct Registrations {
    /// A user is here while one of their registrations runs; the queue
    /// holds those waiting behind it.
    running: HashMap<BareJid, VecDeque<Job>>,
    /// Stanzas of users with a registration running and no session, with
    /// their bytes.
    held: HashMap<BareJid, (Vec<Stanza>, usize)>,
    done: mpsc::UnboundedSender<Registered>,
    checks: Arc<tokio::sync::Semaphore>,
}

impl Registrations {
    /// No registrations; tasks report on `done`.
    pub(super) fn new(done: mpsc::UnboundedSender<Registered>) -> Self {
        Registrations {
            running: HashMap::new(),
            held: HashMap::new(),
            done,
            checks: Arc::new(tokio::sync::Semaphore::new(CHECKS_AT_ONCE)),
        }
    }
}

impl Gateway {
    /// Runs a registration now, or after the user's one running.
    pub(super) fn submit(&mut self, job: Job) {
        if let Some(waiting) = self.registrations.running.get_mut(&job.user) {
            if waiting.len() >= MAX_WAITING {
                self.ctx.outbox.send((job.refuse)(stanza_error(
                    DefinedCondition::ResourceConstraint,
                    "your earlier registrations are still being handled",
                )));
                return;
            }
            waiting.push_back(job);
            return;
        }
        self.registrations
            .running
            .insert(job.user.clone(), VecDeque::new());
        self.start(job);
    }

    /// Keeps a stanza of a user with a registration running and no
    /// session, for what the registration starts; gives it back if the
    /// user has none running (if too much is held already, it is refused).
    pub fn hold(&mut self, user: &BareJid, stanza: Stanza) -> Option<Stanza> {
        if !self.registrations.running.contains_key(user) {
            return Some(stanza);
        }
        let (held, bytes) = self.registrations.held.entry(user.clone()).or_default();
        let size = crate::stanza::size::upper_bound(&stanza);
        if held.len() >= MAX_HELD || *bytes + size > MAX_HELD_BYTES {
            refuse_held(&self.ctx, stanza);
        } else {
            held.push(stanza);
            *bytes += size;
        }
        None
    }

    /// Applies what a registration's task did; returns the stanzas held
    /// for the user, to route again now that the user has a session (or
    /// definitely none).
    pub fn on_registered(&mut self, registered: Registered) -> Vec<Stanza> {
        let user = match registered {
            Registered::Restart(user, row) => {
                match self.sessions.remove(&user) {
                    Some(old) => {
                        let ending = old.ending(false);
                        let done = self.registrations.done.clone();
                        let jid = self.ctx.jid.clone();
                        tokio::spawn(async move {
                            if !ending.await {
                                tracing::warn!(gateway = %jid, %user, "the session did not end in time: aborted");
                            }
                            let _ = done.send(Registered::Start(user, row));
                        });
                    }
                    None => {
                        let _ = self.registrations.done.send(Registered::Start(user, row));
                    }
                }
                return Vec::new();
            }
            Registered::Start(user, row) => {
                self.spawn_session(row);
                user
            }
            Registered::Done(user) => user,
        };
        let next = self
            .registrations
            .running
            .get_mut(&user)
            .and_then(VecDeque::pop_front);
        match next {
            Some(job) => {
                // Held stanzas stay held if the next one leaves the user
                // without a session; they go now if it has one.
                self.start(job);
                if self.sessions.contains_key(&user) {
                    self.release(&user)
                } else {
                    Vec::new()
                }
            }
            None => {
                self.registrations.running.remove(&user);
                self.release(&user)
            }
        }
    }

    fn release(&mut self, user: &BareJid) -> Vec<Stanza> {
        self.registrations
            .held
            .remove(user)
            .map(|(held, _)| held)
            .unwrap_or_default()
    }

    /// Starts a registration's task. Whatever becomes of it (a panic
    /// included), the router hears that it is done, so that the user's
    /// next registration runs and what was held is released.
    fn start(&mut self, job: Job) {
        let ctx = self.ctx.clone();
        let done = self.registrations.done.clone();
        let Job {
            user,
            submission,
            result,
            refuse,
        } = job;
        let work = match submission {
            Submission::Remove => {
                let gateway = ctx.jid.to_string();
                // Checked before the session is touched: a refusal leaves
                // it as it was.
                match ctx.store.user(&gateway, user.as_str()) {
                    Ok(Some(row)) => {
                        // No new stanza reaches the leaving session.
                        let ending = self.sessions.remove(&user).map(|s| s.ending(true));
                        let (ctx, user) = (ctx.clone(), user.clone());
                        tokio::spawn(async move {
                            unregister(&ctx, &user, row.id, ending, result, refuse).await;
                            Registered::Done(user)
                        })
                    }
                    Ok(None) => {
                        ctx.outbox.send(refuse(stanza_error(
                            DefinedCondition::RegistrationRequired,
                            "you are not registered with this gateway",
                        )));
                        let _ = done.send(Registered::Done(user));
                        return;
                    }
                    Err(e) => {
                        ctx.outbox.send(refuse(internal(&e)));
                        let _ = done.send(Registered::Done(user));
                        return;
                    }
                }
            }
            Submission::Values(values) => {
                let runtime = self.runtime.clone();
                let checks = self.registrations.checks.clone();
                let (ctx, user) = (ctx.clone(), user.clone());
                tokio::spawn(async move {
                    let registered =
                        register(&ctx, &runtime, &checks, &user, &values, result, refuse).await;
                    registered.unwrap_or(Registered::Done(user))
                })
            }
        };
        tokio::spawn(async move {
            let registered = work.await.unwrap_or_else(|e| {
                tracing::error!(gateway = %ctx.jid, %user, error = %e, "a registration's task failed");
                Registered::Done(user)
            });
            let _ = done.send(registered);
        });
    }
}

/// Ends the user's session (its contacts leave the roster), forgets the
/// user, and answers.
async fn unregister(
    ctx: &GatewayContext,
    user: &BareJid,
    row_id: i64,
    ending: Option<impl Future<Output = bool>>,
    result: Stanza,
    refuse: Refuse,
) {
    let gateway = ctx.jid.to_string();
    if let Some(ending) = ending
        && !ending.await
    {
        tracing::warn!(gateway, %user, "the session did not end in time: aborted");
    }
    match ctx.store.delete_user(row_id) {
        Ok(()) => {
            tracing::info!(gateway, %user, "unregistered");
            ctx.outbox.send(result);
        }
        // The store has failed for good: the gateway stops, and the user
        // is still registered when it starts again.
        Err(e) => {
            tracing::error!(gateway, %user, error = %e, "cannot forget an unregistered user");
            ctx.outbox.send(refuse(internal(&e)));
        }
    }
}

/// Checks the form on a fresh instance, stores it, and answers; None when
/// refused (the refusal went out).
async fn register(
    ctx: &GatewayContext,
    runtime: &Runtime,
    checks: &tokio::sync::Semaphore,
    user: &BareJid,
    values: &[(String, String)],
    result: Stanza,
    refuse: Refuse,
) -> Option<Registered> {
    let gateway = ctx.jid.to_string();
    let refused = |refuse: Refuse, error| {
        ctx.outbox.send(refuse(error));
        None
    };
    let registered = match ctx.store.user(&gateway, user.as_str()) {
        Ok(row) => row.is_some(),
        Err(e) => return refused(refuse, internal(&e)),
    };
    let values = match ctx.info.form.complete(values) {
        Ok(values) => values,
        Err(text) => {
            return refused(refuse, stanza_error(DefinedCondition::NotAcceptable, text));
        }
    };
    let checking = checks.acquire().await;
    let checked = validate(ctx, runtime, &values).await;
    drop(checking);
    match checked {
        Ok(Ok(())) => {}
        Ok(Err(text)) => {
            return refused(refuse, stanza_error(DefinedCondition::NotAcceptable, text));
        }
        Err(text) => {
            return refused(
                refuse,
                stanza_error(DefinedCondition::InternalServerError, text),
            );
        }
    }
    let row = match ctx.store.upsert_user(&gateway, user.as_str(), &values) {
        Ok(row) => row,
        Err(e) => return refused(refuse, internal(&e)),
    };
    tracing::info!(gateway, %user, again = registered, "registered");
    ctx.outbox.send(result);
    if registered {
        // New settings: log in again with them.
        return Some(Registered::Restart(user.clone(), row));
    }
    let subscribe = ctx.presence_to(user.clone().into(), PresenceType::Subscribe);
    ctx.outbox.send(subscribe);
    Some(Registered::Start(user.clone(), row))
}

/// Runs `validate-registration` on a fresh instance; Err is a crash.
async fn validate(
    ctx: &GatewayContext,
    runtime: &Runtime,
    values: &[(String, String)],
) -> Result<Result<(), String>, String> {
    // A fresh instance each time: nothing one registrant's form leaves in
    // the plugin's memory (a password) reaches the next registrant.
    let crashed = |e: crate::plugin::PluginError| {
        tracing::error!(gateway = %ctx.jid, error = %e, "validate-registration crashed");
        "the gateway's plugin crashed while checking the form".to_owned()
    };
    let mut instance = runtime
        .instantiate(HostState::service())
        .await
        .map_err(crashed)?;
    instance
        .validate_registration(values)
        .await
        .map_err(crashed)
}

fn internal(e: &dyn std::fmt::Display) -> StanzaError {
    stanza_error(DefinedCondition::InternalServerError, e.to_string())
}

/// Refuses a stanza that found no room among those held.
fn refuse_held(ctx: &Arc<GatewayContext>, stanza: Stanza) {
    let error = stanza_error(
        DefinedCondition::ResourceConstraint,
        "your registration is being handled: try again in a moment",
    );
    if let Some(reply) = crate::stanza::error::error_reply(stanza, error) {
        ctx.outbox.send(reply);
    }
}

/// The answer refusing an iq registration.
pub(super) fn refuse_iq(from: Option<jid::Jid>, to: Option<jid::Jid>, id: String) -> Refuse {
    Box::new(move |error| crate::stanza::error::iq_error(from, to, &id, error).into())
}
