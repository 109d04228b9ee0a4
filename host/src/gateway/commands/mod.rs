//! The gateway's ad-hoc commands (XEP-0050): what users and the operator's
//! administrators can do from their XMPP client.
//!
//! Users (with a session) can log in and out, re-sync and list their
//! contacts, list and leave their groups, see their session's state and
//! unregister; administrators (the
//! `admins` of the gateway's config) can list the users, see and end any
//! session, reload the plugin and see its version and limits. Each command
//! answers with a data form: a form to fill for the ones that need input
//! (one stage, then `complete`), a result form or table otherwise.
//!
//! Commands a session runs are answered from a task, so that a slow plugin
//! call never holds up the gateway's other stanzas.
//!
//! This module checks who may run what and walks the stages; `catalogue`
//! parses a node into a [`Command`], and one file per command (or family:
//! `user` for the session's own) does what it does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jid::{BareJid, Jid};
use minidom::Element;
use xmpp_parsers::{
    disco::DiscoItemsResult,
    iq::Iq,
    stanza_error::{DefinedCondition, StanzaError},
};

mod catalogue;
mod plugin;
mod reload;
mod session;
mod unregister;
mod user;
mod users;

use catalogue::{Access, Command};

use super::Gateway;
use crate::session::UserCommand;
use crate::stanza::commands::{
    self, Action, CommandError, CommandRequest, CommandResponse, NoteType, Status,
};
use crate::stanza::error::{iq_error, stanza_error};

/// A command waiting for its form.
#[derive(Debug)]
pub(super) struct Pending {
    command: Command,
    requester: Jid,
    since: Instant,
}

/// A form not submitted within this is forgotten.
const PENDING_FOR: Duration = Duration::from_secs(600);
/// At most this many commands wait for their forms at once.
const MAX_PENDING: usize = 1000;
/// Of those, at most this many are one user's: no user fills the table.
const MAX_PENDING_PER_USER: usize = 8;
/// How long the reload command waits for the new plugin to compile.
const RELOAD_WAIT: Duration = Duration::from_secs(300);

/// What a finished command tells its requester.
struct Completed {
    note: (NoteType, String),
    form: Option<Element>,
}

impl Completed {
    fn note(type_: NoteType, text: impl Into<String>) -> Self {
        Completed {
            note: (type_, text.into()),
            form: None,
        }
    }
}

/// How a command ended: completed, or refused with a stanza error.
type Answer = Result<Completed, Box<StanzaError>>;

/// A refusal, as an iq error.
fn refusal(condition: DefinedCondition, text: impl Into<String>) -> Box<StanzaError> {
    Box::new(stanza_error(condition, text))
}

/// A refusal with XEP-0050's specific condition.
fn command_refusal(
    condition: DefinedCondition,
    specific: CommandError,
    text: &str,
) -> Box<StanzaError> {
    Box::new(commands::error(condition, specific, text))
}

/// The iq answering a command request.
#[derive(Clone)]
struct Reply {
    from: Jid,
    to: Jid,
    id: String,
    node: String,
    session_id: String,
}

impl Reply {
    fn iq(&self, status: Status, answer: Answer) -> Iq {
        match answer {
            Ok(Completed { note, form }) => Iq::Result {
                from: Some(self.to.clone()),
                to: Some(self.from.clone()),
                id: self.id.clone(),
                payload: Some(
                    CommandResponse {
                        node: self.node.clone(),
                        session_id: self.session_id.clone(),
                        status,
                        note: Some(note),
                        form,
                    }
                    .into(),
                ),
            },
            Err(error) => iq_error(
                Some(self.from.clone()),
                Some(self.to.clone()),
                &self.id,
                *error,
            ),
        }
    }
}

impl Gateway {
    /// Whether `user` is one of the gateway's administrators.
    fn is_admin(&self, user: &BareJid) -> bool {
        self.ctx
            .config
            .admins
            .iter()
            .any(|admin| BareJid::new(admin).is_ok_and(|admin| &admin == user))
    }

    /// Whether `requester` may see and run a command.
    fn may_run(&self, access: Access, requester: &BareJid) -> bool {
        match access {
            Access::User => self.sessions.contains_key(requester),
            Access::Admin => self.is_admin(requester),
        }
    }

    /// The commands `requester` may run, as a disco#items answer.
    pub(super) fn command_list(&self, requester: &Jid) -> DiscoItemsResult {
        let user = requester.to_bare();
        let offered: Vec<(&str, &str)> = Command::ALL
            .into_iter()
            .filter(|command| self.may_run(command.access(), &user))
            .map(|command| (command.node(), command.name()))
            .collect();
        commands::list(&self.ctx.jid.clone().into(), &offered)
    }

    /// An iq set carrying a `<command/>`.
    pub(super) async fn on_command(&mut self, from: Jid, to: Jid, id: String, payload: Element) {
        let request = match CommandRequest::parse(&payload) {
            Ok(request) => request,
            Err(e) => {
                let error = commands::error(
                    DefinedCondition::BadRequest,
                    CommandError::MalformedAction,
                    &e.0,
                );
                self.ctx
                    .outbox
                    .send(iq_error(Some(from), Some(to), &id, error));
                return;
            }
        };
        let session_id = request
            .session_id
            .clone()
            .unwrap_or_else(|| self.ctx.new_id());
        let reply = Reply {
            from,
            to,
            id,
            node: request.node.clone(),
            session_id,
        };
        // None: a task answers later.
        if let Some((status, answer)) = self.start_command(&request, &reply).await {
            self.ctx.outbox.send(reply.iq(status, answer));
        }
    }

    /// Checks a request and runs it; None when a task will answer.
    async fn start_command(
        &mut self,
        request: &CommandRequest,
        reply: &Reply,
    ) -> Option<(Status, Answer)> {
        let refuse =
            |condition, text: &str| Some((Status::Completed, Err(refusal(condition, text))));
        let Some(command) = Command::parse(&request.node) else {
            return refuse(DefinedCondition::ItemNotFound, "no such command");
        };
        let requester = reply.from.to_bare();
        if !self.may_run(command.access(), &requester) {
            tracing::info!(gateway = %self.ctx.jid, user = %requester, node = command.node(), "ad-hoc command refused");
            return match command.access() {
                Access::Admin => refuse(
                    DefinedCondition::Forbidden,
                    "only the gateway's administrators may run this command",
                ),
                Access::User => refuse(
                    DefinedCondition::RegistrationRequired,
                    "register with the gateway first",
                ),
            };
        }
        // The table is locked in this block only: never across an await.
        {
            let pending_table = self.pending.clone();
            let mut pending = pending_table.lock().unwrap_or_else(|p| p.into_inner());
            pending.retain(|_, waiting| waiting.since.elapsed() < PENDING_FOR);
            let bad_session = || {
                Some((
                    Status::Completed,
                    Err(command_refusal(
                        DefinedCondition::BadRequest,
                        CommandError::BadSessionId,
                        "no such command session: it ended, or expired",
                    )),
                ))
            };
            match request.action {
                Action::Cancel => {
                    // A command session is its requester's: no one else ends it.
                    match pending.get(&reply.session_id) {
                        Some(waiting) if waiting.requester != reply.from => return bad_session(),
                        Some(_) => {
                            pending.remove(&reply.session_id);
                        }
                        None => {}
                    }
                    let canceled = Completed::note(NoteType::Info, "Canceled.");
                    return Some((Status::Canceled, Ok(canceled)));
                }
                Action::Prev | Action::Next => {
                    return Some((
                        Status::Completed,
                        Err(command_refusal(
                            DefinedCondition::BadRequest,
                            CommandError::BadAction,
                            "this command has a single stage: complete it, or cancel",
                        )),
                    ));
                }
                Action::Execute | Action::Complete => {}
            }
            let form = command.form();
            if form.is_some() || command.form_from_session() {
                if request.form.is_none() {
                    if request.session_id.is_some() {
                        return bad_session();
                    }
                    let mine = pending
                        .values()
                        .filter(|p| p.requester.to_bare() == requester)
                        .count();
                    if pending.len() >= MAX_PENDING || mine >= MAX_PENDING_PER_USER {
                        return refuse(
                            DefinedCondition::ResourceConstraint,
                            "too many commands waiting for their forms; try again later",
                        );
                    }
                    pending.insert(
                        reply.session_id.clone(),
                        Pending {
                            command,
                            requester: reply.from.clone(),
                            since: Instant::now(),
                        },
                    );
                    if command.form_from_session() {
                        drop(pending);
                        return self.ask_from_session(reply);
                    }
                    let ask = Completed {
                        note: (NoteType::Info, "Fill in the form and complete.".into()),
                        form,
                    };
                    return Some((Status::Executing, Ok(ask)));
                }
                // Only the requester who started it completes it: checked before
                // the command session is taken out of the table.
                let id = request.session_id.as_deref().unwrap_or_default();
                match pending.get(id) {
                    Some(waiting)
                        if waiting.command == command && waiting.requester == reply.from =>
                    {
                        pending.remove(id);
                    }
                    _ => return bad_session(),
                }
            }
        }
        tracing::info!(gateway = %self.ctx.jid, user = %requester, node = command.node(), "ad-hoc command");
        self.run(command, request, reply).await
    }

    /// Runs a command whose access and form are checked; None when a task
    /// will answer.
    async fn run(
        &mut self,
        command: Command,
        request: &CommandRequest,
        reply: &Reply,
    ) -> Option<(Status, Answer)> {
        let done = |answer: Answer| Some((Status::Completed, answer));
        match command {
            Command::LogIn => self.forward(reply, UserCommand::LogIn),
            Command::LogOut => self.forward(reply, UserCommand::LogOut),
            Command::SyncContacts => self.forward(reply, UserCommand::SyncContacts),
            Command::Contacts => self.forward(reply, UserCommand::Contacts),
            Command::Groups => self.forward(reply, UserCommand::Groups),
            Command::LeaveGroup => match request.value("group") {
                Some(jid) if !jid.is_empty() => {
                    self.forward(reply, UserCommand::LeaveGroup(jid.to_owned()))
                }
                _ => done(Err(refusal(DefinedCondition::BadRequest, "choose a group"))),
            },
            Command::Status => self.forward(reply, UserCommand::Report),
            Command::Unregister => self.unregister(request, reply).await,
            Command::Users => done(self.list_users()),
            Command::Session => self.about_session(request, reply, UserCommand::Report),
            Command::Kick => self.about_session(request, reply, UserCommand::Kick),
            Command::Reload => self.reload_plugin(reply),
            Command::Plugin => done(Ok(self.plugin_report())),
        }
    }
}

/// Commands waiting for their forms, by session id; shared with the
/// tasks that ask a session for a form's choices, which take their entry
/// out when there is no form to send.
pub(super) type PendingCommands = Arc<Mutex<HashMap<String, Pending>>>;
