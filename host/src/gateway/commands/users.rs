//! `admin/users`: every registered user with their session's state.

use jid::BareJid;
use xmpp_parsers::stanza_error::DefinedCondition;

use super::{Answer, Completed, refusal};
use crate::gateway::Gateway;
use crate::stanza::commands::{self, NoteType};

impl Gateway {
    pub(super) fn list_users(&self) -> Answer {
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
}
