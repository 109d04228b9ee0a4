//! What each ad-hoc command does, once its access and form are checked:
//! the user commands go to the user's session (answered from a task), the
//! admin commands read the gateway's own state.

use jid::{BareJid, Jid};
use xmpp_parsers::stanza_error::{DefinedCondition, StanzaError};

use super::{Answer, Completed, RELOAD_WAIT, Reply, refusal};
use crate::gateway::Gateway;
use crate::session::{CommandReply, SessionHandle, UserCommand};
use crate::stanza::commands::{self, CommandRequest, NoteType, Status};
use crate::stanza::register::Submission;

impl Gateway {
    /// Runs a command whose access and form are checked.
    pub(super) async fn run(
        &mut self,
        node: &str,
        request: &CommandRequest,
        reply: &Reply,
    ) -> Option<(Status, Answer)> {
        let done = |answer: Answer| Some((Status::Completed, answer));
        let requester = reply.from.to_bare();
        let user_command = match node {
            "login" => Some(UserCommand::LogIn),
            "logout" => Some(UserCommand::LogOut),
            "sync-contacts" => Some(UserCommand::SyncContacts),
            "contacts" => Some(UserCommand::Contacts),
            "status" => Some(UserCommand::Report),
            _ => None,
        };
        if let Some(command) = user_command {
            let session = self.sessions.get(&requester)?.clone();
            self.answer_later(reply, session, command, None);
            return None;
        }
        match node {
            "unregister" => {
                if request
                    .value("confirm")
                    .is_none_or(|v| !matches!(v, "1" | "true"))
                {
                    return done(Ok(Completed::note(
                        NoteType::Warn,
                        "Not confirmed: you are still registered.",
                    )));
                }
                let result = reply.iq(
                    Status::Completed,
                    Ok(Completed::note(
                        NoteType::Info,
                        "Unregistered: your contacts are removed and your registration forgotten.",
                    )),
                );
                match self
                    .on_registration(requester, Submission::Remove, result)
                    .await
                {
                    Ok(()) => None, // the result went out
                    Err((condition, text)) => done(Err(refusal(condition, &text))),
                }
            }
            "admin/users" => done(self.list_users()),
            "admin/session" | "admin/kick" => {
                let user = match self.session_of(request) {
                    Ok(user) => user,
                    Err(error) => return done(Err(error)),
                };
                let session = self.sessions.get(&user)?.clone();
                let command = if node == "admin/kick" {
                    tracing::info!(gateway = %self.ctx.jid, admin = %requester, %user, "session kicked");
                    UserCommand::Kick
                } else {
                    UserCommand::Report
                };
                self.answer_later(reply, session, command, Some(user));
                None
            }
            "admin/reload" => {
                let Some(trigger) = self.reload.clone() else {
                    return done(Ok(Completed::note(
                        NoteType::Error,
                        "Hot reload is off: the plugin file could not be watched.",
                    )));
                };
                let outbox = self.ctx.outbox.clone();
                let reply = reply.clone();
                tokio::spawn(async move {
                    let outcome = tokio::time::timeout(RELOAD_WAIT, trigger.reload_and_report())
                        .await
                        .unwrap_or_else(|_| {
                            Err("the reload is taking too long; see the log".into())
                        });
                    let completed = match outcome {
                        Ok(what) => Completed::note(
                            NoteType::Info,
                            format!("Reloaded: {what}. Every session moves to it."),
                        ),
                        Err(why) => {
                            Completed::note(NoteType::Error, format!("Reload failed: {why}"))
                        }
                    };
                    outbox.send(reply.iq(Status::Completed, Ok(completed)));
                });
                None
            }
            "admin/plugin" => done(Ok(self.plugin_report())),
            _ => done(Err(refusal(
                DefinedCondition::ItemNotFound,
                "no such command",
            ))),
        }
    }

    /// The user named by a submitted `user` field, who must have a session.
    fn session_of(&self, request: &CommandRequest) -> Result<BareJid, Box<StanzaError>> {
        let text = request
            .value("user")
            .ok_or_else(|| refusal(DefinedCondition::BadRequest, "the field 'user' is required"))?;
        let user = BareJid::new(text).map_err(|_| {
            refusal(
                DefinedCondition::JidMalformed,
                format!("'{text}' is not a JID"),
            )
        })?;
        if self.sessions.contains_key(&user) {
            Ok(user)
        } else {
            Err(refusal(
                DefinedCondition::ItemNotFound,
                format!("{user} has no session on this gateway"),
            ))
        }
    }

    /// Sends a command to a session; a task answers when it is done.
    fn answer_later(
        &self,
        reply: &Reply,
        session: SessionHandle,
        command: UserCommand,
        about: Option<BareJid>,
    ) {
        let outbox = self.ctx.outbox.clone();
        let reply = reply.clone();
        tokio::spawn(async move {
            let answer = match session.command(command).await {
                Some(answer) => Ok(session_answer(answer, about.as_ref())),
                None => Err(refusal(
                    DefinedCondition::ItemNotFound,
                    "the session ended before it could answer",
                )),
            };
            outbox.send(reply.iq(Status::Completed, answer));
        });
    }

    fn list_users(&self) -> Answer {
        let users = self
            .ctx
            .store
            .users(&self.ctx.jid.to_string())
            .map_err(|e| refusal(DefinedCondition::InternalServerError, e.to_string()))?;
        let rows: Vec<Vec<String>> = users
            .iter()
            .map(|row| {
                let state = BareJid::new(&row.jid)
                    .ok()
                    .and_then(|jid| self.sessions.get(&jid))
                    .map(|s| s.state().to_string())
                    .unwrap_or_else(|| "no session (not admitted by allow_users)".into());
                vec![row.jid.clone(), state]
            })
            .collect();
        Ok(Completed {
            note: (NoteType::Info, format!("{} registered users.", rows.len())),
            form: Some(commands::table(
                "Users",
                &[("jid", "User"), ("state", "Session")],
                &rows,
            )),
        })
    }

    fn plugin_report(&self) -> Completed {
        let config = &self.ctx.config;
        let info = &self.runtime.info;
        let values = [
            ("network", "Network", info.name.clone()),
            ("type", "Gateway type", info.network_type.clone()),
            ("file", "Plugin file", config.plugin.display().to_string()),
            ("sha256", "SHA-256", hex::encode(self.runtime.digest)),
            ("sessions", "Sessions", self.sessions.len().to_string()),
            (
                "memory_mb",
                "Memory per user (MiB)",
                config.memory_mb.to_string(),
            ),
            (
                "call_timeout_ms",
                "Time per call (ms)",
                config.call_timeout_ms.to_string(),
            ),
            (
                "storage_kb",
                "Key-value store per user (KiB)",
                config.storage_kb.to_string(),
            ),
            (
                "messages_per_second",
                "Messages per second per user",
                config.messages_per_second.to_string(),
            ),
            (
                "max_contacts",
                "Contacts per user",
                config.max_contacts.to_string(),
            ),
            ("max_text_kb", "Text (KiB)", config.max_text_kb.to_string()),
            (
                "max_avatar_kb",
                "Avatar (KiB)",
                config.max_avatar_kb.to_string(),
            ),
            (
                "max_vcard_kb",
                "Profile (KiB)",
                config.max_vcard_kb.to_string(),
            ),
            ("allow", "Network addresses", config.allow.join(", ")),
        ];
        Completed {
            note: (NoteType::Info, format!("{} plugin.", info.name)),
            form: Some(commands::result("Plugin", &values)),
        }
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
        CommandReply::Report(report) => {
            let resources: Vec<String> = report.resources.iter().map(Jid::to_string).collect();
            let mut values = vec![
                ("state", "State", report.login.name().to_owned()),
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
