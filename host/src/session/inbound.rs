//! The user's messages to puppets: texts, corrections, retractions,
//! reactions, read markers and chat states, each translated through the id
//! map and handed to the plugin's matching export.

use xmpp_parsers::{
    message::{Message, MessageType},
    stanza_error::DefinedCondition,
};

use super::calls::Crashed;
use super::{LoginState, Session};
use crate::plugin::TextMessage;
use crate::roster::ContactId;
use crate::stanza::{
    correction,
    error::{message_error, stanza_error},
    markers::{self, Signal},
    message, reactions, reply, retraction,
};

/// What a user's message asks of the plugin.
enum Action {
    Text {
        body: String,
        reply_to: Option<String>,
    },
    Correct {
        legacy_id: String,
        body: String,
    },
    Retract {
        legacy_id: String,
    },
    React {
        legacy_id: String,
        emojis: Vec<String>,
    },
    Displayed {
        legacy_ids: Vec<String>,
    },
    ChatState(xmpp_parsers::chatstates::ChatState),
}

impl Session {
    pub(super) async fn on_message(&mut self, m: Message) {
        let Some(to) = m.to.clone() else { return };
        if m.type_ == MessageType::Error {
            tracing::debug!(gateway = %self.ctx.jid, user = %self.user, ?m.from, "error message from the user's side");
            return;
        }
        // A message the gateway sent as the user (XEP-0356), routed back
        // by the server to the puppet: never answer it.
        let from_bare = m.from.as_ref().is_some_and(|f| f.resource().is_none());
        let id = m.id.as_ref().map(|id| id.0.clone());
        if from_bare
            && let Some(id) = &id
            && self.data().is_some_and(|d| d.roster.is_sent_as_user(id))
        {
            return;
        }
        let reply_error = |condition, text: String| {
            message_error(
                m.from.clone(),
                m.to.clone(),
                id.clone(),
                stanza_error(condition, text),
            )
        };
        // Only a join makes a room: a message to one the user never
        // joined is refused, as "join first".
        match self.room_for(&to, false).await {
            Ok(Some(room)) => return self.on_room_message(m, room).await,
            Ok(None) if m.type_ == MessageType::Groupchat => {
                self.send(reply_error(
                    DefinedCondition::NotAcceptable,
                    "join the room before writing to it".into(),
                ));
                return;
            }
            Ok(None) => {}
            Err(text) => {
                self.send(reply_error(DefinedCondition::ItemNotFound, text));
                return;
            }
        }
        let not_logged_in = match &self.login {
            LoginState::LoggedIn { .. } => None,
            LoginState::Failed { reason } => {
                Some(format!("not logged in to the legacy network: {reason}"))
            }
            LoginState::LoggedOut | LoginState::LoggingIn => {
                Some("not logged in to the legacy network".to_owned())
            }
            LoginState::Parked { .. } => {
                Some("the session is parked after repeated plugin crashes".to_owned())
            }
        };
        if let Some(text) = not_logged_in {
            if message::body(&m).is_some() {
                self.send(reply_error(DefinedCondition::RecipientUnavailable, text));
            }
            return;
        }
        let contact = match self.resolve(&to).await {
            Ok(contact) => contact,
            Err(text) => {
                self.send(reply_error(DefinedCondition::ItemNotFound, text));
                return;
            }
        };
        let Some(action) = self.action(contact, &m) else {
            return;
        };
        let outcome = self.perform(contact, action, id.clone()).await;
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(reason)) => self.send(reply_error(DefinedCondition::UndefinedCondition, reason)),
            Err(Crashed) => self.send(reply_error(
                DefinedCondition::InternalServerError,
                "the gateway's plugin crashed".into(),
            )),
        }
    }

    /// Reads what a message asks, translating XMPP ids to legacy ids. An
    /// id the map does not know is passed as it is.
    fn action(&mut self, contact: ContactId, m: &Message) -> Option<Action> {
        let roster = &self.data()?.roster;
        let legacy = |xmpp_id: String| match roster.legacy_id_of(contact, &xmpp_id) {
            Ok(Some(legacy)) => legacy,
            Ok(None) => xmpp_id,
            Err(e) => {
                tracing::error!(error = %e, "id map lookup failed");
                xmpp_id
            }
        };
        // Reactions and retractions may carry a fallback body: they are
        // what the message is, not a text.
        if let Some((target, emojis)) = reactions::parse(m) {
            return Some(Action::React {
                legacy_id: legacy(target),
                emojis,
            });
        }
        if let Some(target) = retraction::retracted_id(m) {
            return Some(Action::Retract {
                legacy_id: legacy(target),
            });
        }
        if let Some(body) = message::body(m) {
            if let Some(original) = correction::replaced_id(m) {
                return Some(Action::Correct {
                    legacy_id: legacy(original),
                    body: body.to_owned(),
                });
            }
            let reply_to = reply::replied_id(m).map(&legacy);
            let body = if reply_to.is_some() {
                reply::strip_fallback(m, body)
            } else {
                body.to_owned()
            };
            return Some(Action::Text { body, reply_to });
        }
        match markers::signal(m)? {
            Signal::ChatState(state) => Some(Action::ChatState(state)),
            Signal::Displayed(xmpp_id) => match roster.pop_unread_up_to(contact, &xmpp_id) {
                Ok(ids) if !ids.is_empty() => Some(Action::Displayed { legacy_ids: ids }),
                Ok(_) => None,
                Err(e) => {
                    tracing::error!(error = %e, "read horizon failed");
                    None
                }
            },
        }
    }

    /// Calls the export for an action.
    async fn perform(
        &mut self,
        contact: ContactId,
        action: Action,
        xmpp_id: Option<String>,
    ) -> Result<Result<(), String>, Crashed> {
        let during = "a message";
        match action {
            Action::Text { body, reply_to } => self.text(contact, body, reply_to, xmpp_id).await,
            Action::Correct { legacy_id, body } => {
                self.call(during, async |i| {
                    i.on_correct(contact, &legacy_id, &body).await
                })
                .await
            }
            Action::Retract { legacy_id } => {
                self.call(during, async |i| i.on_retract(contact, &legacy_id).await)
                    .await
            }
            Action::React { legacy_id, emojis } => {
                self.call(during, async |i| {
                    i.on_react(contact, &legacy_id, emojis).await
                })
                .await
            }
            Action::Displayed { legacy_ids } => self
                .call(during, async |i| i.on_displayed(contact, legacy_ids).await)
                .await
                .map(Ok),
            Action::ChatState(state) => self
                .call(during, async |i| i.on_chat_state(contact, state).await)
                .await
                .map(Ok),
        }
    }

    /// `on-text`, then the id map: the legacy id it returns names the
    /// user's message from now on.
    async fn text(
        &mut self,
        contact: ContactId,
        body: String,
        reply_to: Option<String>,
        xmpp_id: Option<String>,
    ) -> Result<Result<(), String>, Crashed> {
        if let (Some(data), Some(xmpp_id)) = (self.data(), &xmpp_id) {
            data.roster.set_handling(Some((contact, xmpp_id.clone())));
        }
        let message = TextMessage {
            body,
            xmpp_id: xmpp_id.clone(),
            reply_to,
        };
        let result = self
            .call("a message", async |i| i.on_text(contact, message).await)
            .await;
        if let Some(data) = self.data() {
            data.roster.set_handling(None);
            if let (Ok(Ok(Some(legacy_id))), Some(xmpp_id)) = (&result, &xmpp_id)
                && let Err(e) = data.roster.map_user_message(contact, legacy_id, xmpp_id)
            {
                tracing::error!(error = %e, "storing the id map failed");
            }
        }
        result.map(|r| r.map(|_| ()))
    }
}
