//! `admin/session` and `admin/kick`: a user's session shown, or logged
//! out, at an administrator's request.

use jid::BareJid;
use xmpp_parsers::stanza_error::{DefinedCondition, StanzaError};

use super::{Answer, Reply, refusal};
use crate::gateway::Gateway;
use crate::session::UserCommand;
use crate::stanza::commands::{CommandRequest, Status};

impl Gateway {
    /// Runs `command` on the session of the user the form names; None: a
    /// task answers.
    pub(super) fn about_session(
        &self,
        request: &CommandRequest,
        reply: &Reply,
        command: UserCommand,
    ) -> Option<(Status, Answer)> {
        let user = match self.session_of(request) {
            Ok(user) => user,
            Err(error) => return Some((Status::Completed, Err(error))),
        };
        let session = self.sessions.get(&user)?.clone();
        if command == UserCommand::Kick {
            tracing::info!(gateway = %self.ctx.jid, admin = %reply.from.to_bare(), %user, "session kicked");
        }
        self.answer_later(reply, session, command, Some(user));
        None
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
}
