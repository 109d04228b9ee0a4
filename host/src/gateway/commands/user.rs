//! The user's own commands (log in, log out, re-sync, contacts, groups,
//! status):
//! each is run by the user's session, and answered from a task once the
//! session is done, so that a slow plugin call never holds up the gateway.

use jid::{BareJid, Jid};
use xmpp_parsers::stanza_error::DefinedCondition;

use super::catalogue::leave_group_form;
use super::{Answer, Completed, Reply, refusal};
use crate::gateway::Gateway;
use crate::session::{CommandReply, SessionHandle, UserCommand};
use crate::stanza::commands::{self, NoteType, Status};

impl Gateway {
    /// Hands a command to the requester's session; None: a task answers.
    pub(super) fn forward(&self, reply: &Reply, command: UserCommand) -> Option<(Status, Answer)> {
        let session = self.sessions.get(&reply.from.to_bare())?.clone();
        self.answer_later(reply, session, command, None);
        None
    }

    /// Asks a form's choices of the requester's session (their groups):
    /// a task sends the form, or says there is nothing to choose.
    pub(super) fn ask_from_session(&self, reply: &Reply) -> Option<(Status, Answer)> {
        let Some(session) = self.sessions.get(&reply.from.to_bare()).cloned() else {
            let gone = refusal(DefinedCondition::ItemNotFound, "you have no session");
            return Some((Status::Completed, Err(gone)));
        };
        self.in_task(reply, session, UserCommand::Groups, |answer| match answer {
            CommandReply::Groups(groups) if groups.is_empty() => (
                Status::Completed,
                Ok(Completed::note(NoteType::Info, "You have no groups.")),
            ),
            CommandReply::Groups(groups) => {
                let choices: Vec<(String, String)> =
                    groups.into_iter().map(|g| (g.jid, g.name)).collect();
                let ask = Completed {
                    note: (NoteType::Info, "Fill in the form and complete.".into()),
                    form: Some(leave_group_form(&choices)),
                };
                (Status::Executing, Ok(ask))
            }
            other => (Status::Completed, Ok(session_answer(other, None))),
        });
        None
    }

    /// Sends a command to a session; a task answers when it is done.
    pub(super) fn answer_later(
        &self,
        reply: &Reply,
        session: SessionHandle,
        command: UserCommand,
        about: Option<BareJid>,
    ) {
        self.in_task(reply, session, command, move |answer| {
            (
                Status::Completed,
                Ok(session_answer(answer, about.as_ref())),
            )
        });
    }

    /// Runs a command on a session from a task, and sends what `answer`
    /// makes of its reply. A command that ends without a form waiting
    /// leaves the pending table (a form asked of the session was put
    /// there before the task ran).
    fn in_task(
        &self,
        reply: &Reply,
        session: SessionHandle,
        command: UserCommand,
        answer: impl FnOnce(CommandReply) -> (Status, Answer) + Send + 'static,
    ) {
        let outbox = self.ctx.outbox.clone();
        let pending = self.pending.clone();
        let reply = reply.clone();
        tokio::spawn(async move {
            let (status, answer) = match session.command(command).await {
                Some(reply) => answer(reply),
                None => (
                    Status::Completed,
                    Err(refusal(
                        DefinedCondition::ItemNotFound,
                        "the session ended before it could answer",
                    )),
                ),
            };
            if status != Status::Executing {
                let mut pending = pending.lock().unwrap_or_else(|p| p.into_inner());
                pending.remove(&reply.session_id);
            }
            outbox.send(reply.iq(status, answer));
        });
    }
}

/// A session's answer as a completed command.
fn session_answer(answer: CommandReply, about: Option<&BareJid>) -> Completed {
    match answer {
        CommandReply::Done(text) => Completed::note(NoteType::Info, text),
        CommandReply::Refused(text) => Completed::note(NoteType::Error, text),
        CommandReply::Contacts(contacts) => {
            let rows: Vec<Vec<String>> = contacts
                .into_iter()
                .map(|c| {
                    let in_roster = if c.in_roster { "yes" } else { "no" };
                    vec![c.jid, c.name, c.legacy_id, in_roster.to_owned()]
                })
                .collect();
            Completed {
                note: (NoteType::Info, format!("{} contacts.", rows.len())),
                form: Some(commands::table(
                    "Contacts",
                    &[
                        ("jid", "JID"),
                        ("name", "Name"),
                        ("legacy_id", "Legacy id"),
                        ("in_roster", "In roster"),
                    ],
                    &rows,
                )),
            }
        }
        CommandReply::Groups(groups) => {
            let rows: Vec<Vec<String>> = groups
                .into_iter()
                .map(|g| {
                    vec![
                        g.jid,
                        g.name,
                        g.legacy_id,
                        g.participants.to_string(),
                        g.joined.to_string(),
                    ]
                })
                .collect();
            Completed {
                note: (NoteType::Info, format!("{} groups.", rows.len())),
                form: Some(commands::table(
                    "Groups",
                    &[
                        ("jid", "JID"),
                        ("name", "Name"),
                        ("legacy_id", "Legacy id"),
                        ("participants", "Participants"),
                        ("joined", "Your clients in it"),
                    ],
                    &rows,
                )),
            }
        }
        CommandReply::Report(report) => {
            let resources: Vec<String> = report.resources.iter().map(Jid::to_string).collect();
            let mut values = vec![
                ("state", "State", report.login.kind().name().to_owned()),
                ("status", "Status", report.login.to_string()),
                ("contacts", "Contacts", report.contacts.to_string()),
                ("in_roster", "In roster", report.in_roster.to_string()),
                ("clients", "Clients online", resources.join(", ")),
                (
                    "instance",
                    "Plugin instance",
                    if report.instance {
                        "running"
                    } else {
                        "not running"
                    }
                    .to_owned(),
                ),
            ];
            if let Some(user) = about {
                values.insert(0, ("user", "User", user.to_string()));
            }
            Completed {
                note: (NoteType::Info, format!("Session {}.", report.login)),
                form: Some(commands::result("Session", &values)),
            }
        }
    }
}
