//! The gateway's ad-hoc commands (XEP-0050): what users and the operator's
//! administrators can do from their XMPP client.
//!
//! Users (with a session) can log in and out, re-sync and list their
//! contacts, see their session's state and unregister; administrators (the
//! `admins` of the gateway's config) can list the users, see and end any
//! session, reload the plugin and see its version and limits. Each command
//! answers with a data form: a form to fill for the ones that need input
//! (one stage, then `complete`), a result form or table otherwise.
//!
//! Commands a session runs are answered from a task, so that a slow plugin
//! call never holds up the gateway's other stanzas.
//!
//! This module checks who may run what and walks the stages; `run` does
//! what each command does.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jid::{BareJid, Jid};
use minidom::Element;
use xmpp_parsers::{
    data_forms::{Field, FieldType},
    disco::DiscoItemsResult,
    iq::Iq,
    stanza_error::{DefinedCondition, StanzaError},
};

mod run;

use super::Gateway;
use crate::stanza::commands::{
    self, Action, CommandError, CommandRequest, CommandResponse, NoteType, Status,
};
use crate::stanza::error::{iq_error, stanza_error};

/// Who may run a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// A registered user with a session.
    User,
    /// One of the gateway's `admins`.
    Admin,
}

/// One command of the catalogue.
struct Spec {
    node: &'static str,
    name: &'static str,
    access: Access,
    /// The form asked for before running, if any.
    form: Option<fn() -> Element>,
}

/// Every command, in the order clients list them.
const CATALOGUE: &[Spec] = &[
    Spec {
        node: "login",
        name: "Log in",
        access: Access::User,
        form: None,
    },
    Spec {
        node: "logout",
        name: "Log out",
        access: Access::User,
        form: None,
    },
    Spec {
        node: "sync-contacts",
        name: "Re-sync contacts",
        access: Access::User,
        form: None,
    },
    Spec {
        node: "contacts",
        name: "List contacts",
        access: Access::User,
        form: None,
    },
    Spec {
        node: "status",
        name: "Show status",
        access: Access::User,
        form: None,
    },
    Spec {
        node: "unregister",
        name: "Unregister",
        access: Access::User,
        form: Some(unregister_form),
    },
    Spec {
        node: "admin/users",
        name: "List users (admin)",
        access: Access::Admin,
        form: None,
    },
    Spec {
        node: "admin/session",
        name: "Show a user's session (admin)",
        access: Access::Admin,
        form: Some(|| user_form("Show a user's session", "Whose session?")),
    },
    Spec {
        node: "admin/kick",
        name: "Kick a session (admin)",
        access: Access::Admin,
        form: Some(|| user_form("Kick a session", "Whose session to log out?")),
    },
    Spec {
        node: "admin/reload",
        name: "Reload the plugin (admin)",
        access: Access::Admin,
        form: None,
    },
    Spec {
        node: "admin/plugin",
        name: "Plugin version and limits (admin)",
        access: Access::Admin,
        form: None,
    },
];

/// A command waiting for its form.
#[derive(Debug)]
pub(super) struct Pending {
    node: &'static str,
    requester: Jid,
    since: Instant,
}

/// A form not submitted within this is forgotten.
const PENDING_FOR: Duration = Duration::from_secs(600);
/// At most this many commands wait for their forms at once.
const MAX_PENDING: usize = 1000;
/// How long the reload command waits for the new plugin to compile.
const RELOAD_WAIT: Duration = Duration::from_secs(300);

fn unregister_form() -> Element {
    let mut confirm = Field::new("confirm", FieldType::Boolean);
    confirm.label = Some("Yes, unregister and remove my contacts".into());
    confirm.required = true;
    commands::form(
        "Unregister",
        "This logs you out of the legacy network, removes its contacts from your roster \
         and forgets your registration.",
        vec![confirm],
    )
}

fn user_form(title: &str, instructions: &str) -> Element {
    let mut user = Field::new("user", FieldType::JidSingle);
    user.label = Some("User".into());
    user.required = true;
    commands::form(title, instructions, vec![user])
}

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
        let offered: Vec<(&str, &str)> = CATALOGUE
            .iter()
            .filter(|spec| self.may_run(spec.access, &user))
            .map(|spec| (spec.node, spec.name))
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
        let Some(spec) = CATALOGUE.iter().find(|spec| spec.node == request.node) else {
            return refuse(DefinedCondition::ItemNotFound, "no such command");
        };
        let requester = reply.from.to_bare();
        if !self.may_run(spec.access, &requester) {
            tracing::info!(gateway = %self.ctx.jid, user = %requester, node = spec.node, "ad-hoc command refused");
            return match spec.access {
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
        self.pending
            .retain(|_, pending| pending.since.elapsed() < PENDING_FOR);
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
                self.pending.remove(&reply.session_id);
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
        if let Some(form) = spec.form {
            if request.form.is_none() {
                if request.session_id.is_some() {
                    return bad_session();
                }
                if self.pending.len() >= MAX_PENDING {
                    return refuse(
                        DefinedCondition::ResourceConstraint,
                        "too many commands waiting for their forms; try again later",
                    );
                }
                self.pending.insert(
                    reply.session_id.clone(),
                    Pending {
                        node: spec.node,
                        requester: reply.from.clone(),
                        since: Instant::now(),
                    },
                );
                let ask = Completed {
                    note: (NoteType::Info, "Fill in the form and complete.".into()),
                    form: Some(form()),
                };
                return Some((Status::Executing, Ok(ask)));
            }
            match request
                .session_id
                .as_ref()
                .and_then(|id| self.pending.remove(id))
            {
                Some(pending) if pending.node == spec.node && pending.requester == reply.from => {}
                _ => return bad_session(),
            }
        }
        tracing::info!(gateway = %self.ctx.jid, user = %requester, node = spec.node, "ad-hoc command");
        self.run(spec.node, request, reply).await
    }
}

/// Commands waiting for their forms, by session id.
pub(super) type PendingCommands = HashMap<String, Pending>;
