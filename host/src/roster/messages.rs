//! What contacts say: messages, chat states, receipts, read markers,
//! corrections, retractions and reactions, and the same done by the user
//! from another client of the network (`carbon`), sent as the user through
//! XEP-0356.
//!
//! Every reference to an earlier message goes through the id map: a legacy
//! id becomes the XMPP id the user's client knows. An id the map does not
//! hold is used as it is (a contact's message sent with its legacy id as
//! XMPP id needs no entry), except while `on-text` runs, when it names the
//! message being handled, so that a plugin can acknowledge a message before
//! returning its legacy id.

use jid::Jid;
use xmpp_parsers::{
    chatstates::ChatState,
    message::{Id, Lang, Message, MessageType},
};

use super::{ContactId, Roster, RosterError};
use crate::sender::Pace;
use crate::stanza::files::{self, SharedFile};
use crate::stanza::{correction, markers, message, privilege, reactions, reply, retraction};

/// How many ids of messages sent as the user are remembered, to recognise
/// them when the server routes them back.
const SENT_AS_USER_MEMORY: usize = 1024;

/// The options of a text from a contact (or, with `carbon`, from the user).
#[derive(Debug, Clone, Default)]
pub struct SendText {
    /// The legacy message id; it becomes the XMPP id.
    pub legacy_msg_id: Option<String>,
    /// When it was sent, if not now.
    pub when: Option<u64>,
    /// The legacy id of the message it replies to.
    pub reply_to: Option<String>,
    /// Sent by the user from another client.
    pub carbon: bool,
}

impl Roster {
    /// Sends a text from a contact (or from the user, with `carbon`);
    /// returns its XMPP id.
    pub fn send_text(
        &mut self,
        id: ContactId,
        body: &str,
        options: SendText,
    ) -> Result<String, RosterError> {
        self.send_chat(id, body, None, options)
    }

    /// Sends a file from a contact (or from the user, with `carbon`): one
    /// message with its URL, then its caption, if any, as a message of its
    /// own; both XMPP ids map to the one legacy id. Returns the file
    /// message's XMPP id.
    pub fn send_file(
        &mut self,
        id: ContactId,
        file: &SharedFile,
        caption: Option<&str>,
        options: SendText,
    ) -> Result<String, RosterError> {
        if let Some(caption) = caption {
            self.within_limit("a caption", caption.len(), self.gateway.config.max_text_kb)?;
        }
        let xmpp_id = self.send_chat(id, &file.url, Some(file), options.clone())?;
        if let Some(caption) = caption {
            let caption_id = self.send_chat(
                id,
                caption,
                None,
                SendText {
                    legacy_msg_id: None,
                    reply_to: None,
                    ..options.clone()
                },
            )?;
            if let Some(legacy) = &options.legacy_msg_id {
                let row_id = self.contact(id)?.row_id;
                self.gateway
                    .store
                    .map_message(row_id, legacy, &caption_id, options.carbon)?;
            }
        }
        Ok(xmpp_id)
    }

    /// A chat message from a contact (or the user): a text, or a file's URL
    /// with the file's description.
    fn send_chat(
        &mut self,
        id: ContactId,
        body: &str,
        file: Option<&SharedFile>,
        options: SendText,
    ) -> Result<String, RosterError> {
        self.within_limit("a message", body.len(), self.gateway.config.max_text_kb)?;
        if let Some(legacy) = &options.legacy_msg_id {
            self.id_within_limit("a message's legacy id", legacy)?;
        }
        self.room_for("a message")?;
        let contact = self.contact(id)?;
        let row_id = contact.row_id;
        let xmpp_id = options
            .legacy_msg_id
            .clone()
            .unwrap_or_else(|| self.gateway.new_id());
        let (from, to) = self.endpoints(id, options.carbon)?;
        let mut text = message::chat_text(from, to, xmpp_id.clone(), body, options.when);
        if let Some(file) = file {
            files::attach(&mut text, file);
        }
        // A contact not in the roster has no name there: say who writes.
        if !options.carbon
            && !self.contacts[id].in_roster
            && let Some(name) = &self.contacts[id].name
        {
            text.payloads
                .push(xmpp_parsers::nick::Nick(name.clone()).into());
        }
        if let Some(replied) = &options.reply_to {
            let (replied_id, by_user) = self.resolve_with_author(id, replied)?;
            let author: Jid = if by_user {
                self.user.clone().into()
            } else {
                self.contacts[id].jid.clone().into()
            };
            reply::mark_reply(&mut text, &replied_id, &author);
        }
        if let Some(legacy) = &options.legacy_msg_id {
            self.gateway
                .store
                .map_message(row_id, legacy, &xmpp_id, options.carbon)?;
        }
        self.emit(text, options.carbon, Pace::Text);
        Ok(xmpp_id)
    }

    /// A chat state from a contact.
    pub fn chat_state(&mut self, id: ContactId, state: ChatState) -> Result<(), RosterError> {
        self.room_for("a message")?;
        let (from, to) = self.endpoints(id, false)?;
        self.out.send(markers::chat_state(from, to, state));
        Ok(())
    }

    /// A delivery receipt from a contact for the user's message.
    pub fn received(&mut self, id: ContactId, legacy_msg_id: &str) -> Result<(), RosterError> {
        self.room_for("a message")?;
        let xmpp_id = self.resolve(id, legacy_msg_id)?;
        let (from, to) = self.endpoints(id, false)?;
        self.out.send(markers::received(from, to, &xmpp_id));
        Ok(())
    }

    /// A read marker: the contact read the user's message, or (`carbon`)
    /// the user read the contact's.
    pub fn displayed(
        &mut self,
        id: ContactId,
        legacy_msg_id: &str,
        carbon: bool,
    ) -> Result<(), RosterError> {
        self.room_for("a message")?;
        let xmpp_id = self.resolve(id, legacy_msg_id)?;
        let (from, to) = self.endpoints(id, carbon)?;
        self.emit(markers::displayed(from, to, &xmpp_id), carbon, Pace::Free);
        Ok(())
    }

    /// A correction of an earlier message; returns the correction's id.
    pub fn correct(
        &mut self,
        id: ContactId,
        legacy_msg_id: &str,
        body: &str,
        options: SendText,
    ) -> Result<String, RosterError> {
        self.within_limit("a correction", body.len(), self.gateway.config.max_text_kb)?;
        self.room_for("a message")?;
        let original = self.resolve(id, legacy_msg_id)?;
        let xmpp_id = self.gateway.new_id();
        let (from, to) = self.endpoints(id, options.carbon)?;
        let mut text = message::chat_text(from, to, xmpp_id.clone(), body, options.when);
        correction::mark_correction(&mut text, &original);
        self.emit(text, options.carbon, Pace::Text);
        Ok(xmpp_id)
    }

    /// A retraction of an earlier message.
    pub fn retract(
        &mut self,
        id: ContactId,
        legacy_msg_id: &str,
        carbon: bool,
    ) -> Result<(), RosterError> {
        self.room_for("a message")?;
        let original = self.resolve(id, legacy_msg_id)?;
        let (from, to) = self.endpoints(id, carbon)?;
        let retraction = retraction::retraction(from, to, self.gateway.new_id(), &original);
        self.emit(retraction, carbon, Pace::Text);
        Ok(())
    }

    /// Reactions to a message; an empty list removes them.
    pub fn react(
        &mut self,
        id: ContactId,
        legacy_msg_id: &str,
        emojis: &[String],
        carbon: bool,
    ) -> Result<(), RosterError> {
        self.reactions_within_limit(emojis)?;
        self.room_for("a message")?;
        let target = self.resolve(id, legacy_msg_id)?;
        let (from, to) = self.endpoints(id, carbon)?;
        let mut reaction = reactions::reactions(from, to, &target, emojis);
        reaction.id = Some(Id(self.gateway.new_id()));
        self.emit(reaction, carbon, Pace::Text);
        Ok(())
    }

    /// Marks the user's message being handled by `on-text` (or none).
    pub fn set_handling(&mut self, handling: Option<(ContactId, String)>) {
        self.handling = handling;
    }

    /// Maps the user's message to the legacy id the plugin gave it, unless
    /// the plugin already bound it while handling it.
    pub fn map_user_message(
        &mut self,
        id: ContactId,
        legacy_msg_id: &str,
        xmpp_id: &str,
    ) -> Result<(), RosterError> {
        self.id_within_limit("a message's legacy id", legacy_msg_id)?;
        self.id_within_limit("a message's XMPP id", xmpp_id)?;
        let row_id = self.contact(id)?.row_id;
        let known = self.gateway.store.xmpp_ids(row_id, legacy_msg_id)?;
        if !known.iter().any(|(x, _)| x == xmpp_id) {
            self.gateway
                .store
                .map_message(row_id, legacy_msg_id, xmpp_id, true)?;
        }
        Ok(())
    }

    /// The legacy id of a message the user's client names by XMPP id.
    pub fn legacy_id_of(
        &self,
        id: ContactId,
        xmpp_id: &str,
    ) -> Result<Option<String>, RosterError> {
        let row_id = self.contact(id)?.row_id;
        Ok(self.gateway.store.legacy_id(row_id, xmpp_id)?)
    }

    /// The legacy ids of the contact's messages the user has now read.
    pub fn pop_unread_up_to(
        &self,
        id: ContactId,
        xmpp_id: &str,
    ) -> Result<Vec<String>, RosterError> {
        let row_id = self.contact(id)?.row_id;
        Ok(self.gateway.store.pop_unread_up_to(row_id, xmpp_id)?)
    }

    /// Whether a message from the user's bare JID is one the gateway sent
    /// as the user, routed back by the server.
    pub fn is_sent_as_user(&self, xmpp_id: &str) -> bool {
        self.sent_as_user.iter().any(|id| id == xmpp_id)
    }

    /// Who a message is from and to: contact → user, or with `carbon` user
    /// → contact.
    fn endpoints(&self, id: ContactId, carbon: bool) -> Result<(Jid, Jid), RosterError> {
        let contact = self.contact(id)?;
        Ok(if carbon {
            (self.user.clone().into(), contact.jid.clone().into())
        } else {
            (contact.full_jid(), self.user.clone().into())
        })
    }

    /// Sends a message as it is, or (`as_user`) through the message
    /// privilege. Without the privilege, a message the user sent elsewhere
    /// is shown from the contact, marked as the user's, so that nothing the
    /// user wrote is lost from view.
    fn emit(&mut self, mut stanza: Message, as_user: bool, pace: Pace) {
        if !as_user {
            self.out.paced(stanza, pace, None);
            return;
        }
        let id = match &stanza.id {
            Some(id) => id.0.clone(),
            None => {
                let id = self.gateway.new_id();
                stanza.id = Some(Id(id.clone()));
                id
            }
        };
        if let Some(namespace) = self.gateway.grants.send_as_user_namespace(&self.user) {
            if self.sent_as_user.len() == SENT_AS_USER_MEMORY {
                self.sent_as_user.pop_front();
            }
            self.sent_as_user.push_back(id);
            let server: Jid = jid::BareJid::from_parts(None, self.user.domain()).into();
            self.out.paced(
                privilege::as_user(self.gateway.jid.clone().into(), server, namespace, stanza),
                pace,
                None,
            );
            return;
        }
        let Some(body) = stanza.bodies.values().next().cloned() else {
            tracing::warn!(gateway = %self.gateway.jid, user = %self.user, "no message privilege: dropped a marker the user sent elsewhere");
            return;
        };
        tracing::warn!(
            gateway = %self.gateway.jid,
            user = %self.user,
            "no message privilege: showing a message the user sent elsewhere as the contact's"
        );
        let (Some(user), Some(contact)) = (stanza.from.take(), stanza.to.take()) else {
            return;
        };
        let username = contact
            .node()
            .map(|n| n.as_str().to_owned())
            .unwrap_or_default();
        let Some(puppet) = self.by_username(&username) else {
            return;
        };
        stanza.from = Some(self.contacts[puppet].full_jid());
        stanza.to = Some(user.to_bare().into());
        stanza.bodies.clear();
        stanza.bodies.insert(
            Lang::default(),
            format!("[you, from another client] {body}"),
        );
        stanza.type_ = MessageType::Chat;
        self.out.paced(stanza, pace, None);
    }

    /// The XMPP id of a message by legacy id (see the module docs).
    fn resolve(&mut self, id: ContactId, legacy_msg_id: &str) -> Result<String, RosterError> {
        self.resolve_with_author(id, legacy_msg_id)
            .map(|(xmpp_id, _)| xmpp_id)
    }

    /// The same, with whether the user wrote the message.
    fn resolve_with_author(
        &mut self,
        id: ContactId,
        legacy_msg_id: &str,
    ) -> Result<(String, bool), RosterError> {
        self.id_within_limit("a message's legacy id", legacy_msg_id)?;
        let row_id = self.contact(id)?.row_id;
        if let Some(found) = self
            .gateway
            .store
            .xmpp_ids(row_id, legacy_msg_id)?
            .into_iter()
            .next()
        {
            return Ok(found);
        }
        match &self.handling {
            Some((handled, xmpp_id)) if *handled == id => {
                let xmpp_id = xmpp_id.clone();
                self.gateway
                    .store
                    .map_message(row_id, legacy_msg_id, &xmpp_id, true)?;
                Ok((xmpp_id, true))
            }
            _ => Ok((legacy_msg_id.to_owned(), false)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use minidom::Element;
    use xmpp_parsers::stanza::Stanza;

    use super::*;
    use crate::config::GatewayConfig;
    use crate::context::GatewayContext;
    use crate::plugin::GatewayInfo;
    use crate::sender::outbox;
    use crate::stanza::{ns, privilege::Privileges, register::RegistrationForm};
    use crate::store::Store;

    /// A roster of one contact, `c0`, whose server grants the message
    /// privilege if `privileged`.
    fn roster(privileged: bool) -> (Roster, ContactId) {
        let store = Store::open_in_memory().unwrap();
        let user = store.upsert_user("gw.x", "u@x", &[]).unwrap();
        let (sender, _receiver) = outbox("gw.example.org");
        let ctx = GatewayContext::new(
            GatewayConfig::new("gw.x", "s", "p.wasm"),
            jid::BareJid::new("gw.x").unwrap(),
            sender,
            store,
            GatewayInfo {
                name: "Test".into(),
                network_type: "test".into(),
                form: RegistrationForm {
                    title: String::new(),
                    instructions: String::new(),
                    fields: vec![],
                },
            },
            crate::plugin::tls_config(&[]).unwrap(),
        );
        if privileged {
            ctx.set_privileges(
                "x",
                Privileges {
                    message_outgoing: true,
                    ..Privileges::default()
                },
            );
        }
        let mut roster = Roster::load(Arc::new(ctx), &user).unwrap();
        let id = roster.by_legacy_id("c0", None).unwrap();
        (roster, id)
    }

    /// The message the user's server is asked to send as the user.
    fn as_user(stanza: Stanza) -> Element {
        let Stanza::Message(outer) = stanza else {
            panic!("a message")
        };
        assert_eq!(
            outer.to.as_ref().map(|j| j.to_string()).as_deref(),
            Some("x")
        );
        let outer: Element = outer.into();
        outer
            .get_child("privilege", ns::PRIVILEGE)
            .and_then(|p| p.get_child("forwarded", ns::FORWARD))
            .and_then(|f| f.get_child("message", ns::CLIENT))
            .cloned()
            .expect("privilege/forwarded/message")
    }

    #[test]
    fn every_action_can_be_the_users_own() {
        let (mut roster, c0) = roster(true);
        roster
            .send_text(
                c0,
                "hi",
                SendText {
                    legacy_msg_id: Some("e1".into()),
                    ..SendText::default()
                },
            )
            .unwrap();
        roster.take_first_outgoing().unwrap();
        roster.displayed(c0, "e1", true).unwrap();
        let marker = as_user(roster.take_first_outgoing().unwrap());
        assert_eq!(marker.attr("from"), Some("u@x"));
        assert_eq!(marker.attr("to"), Some("c0@gw.x"));
        assert_eq!(
            marker
                .get_child("displayed", ns::CHAT_MARKERS)
                .and_then(|d| d.attr("id")),
            Some("e1")
        );
        roster.react(c0, "e1", &["👍".into()], true).unwrap();
        let reaction = as_user(roster.take_first_outgoing().unwrap());
        assert_eq!(
            reaction
                .get_child("reactions", ns::REACTIONS)
                .and_then(|r| r.attr("id")),
            Some("e1")
        );
        roster
            .send_text(
                c0,
                "mine",
                SendText {
                    legacy_msg_id: Some("u9".into()),
                    carbon: true,
                    ..SendText::default()
                },
            )
            .unwrap();
        let text = as_user(roster.take_first_outgoing().unwrap());
        assert_eq!(text.attr("id"), Some("u9"));
        roster
            .correct(
                c0,
                "u9",
                "mine!",
                SendText {
                    carbon: true,
                    ..SendText::default()
                },
            )
            .unwrap();
        let correction = as_user(roster.take_first_outgoing().unwrap());
        assert_eq!(
            correction
                .get_child("replace", ns::MESSAGE_CORRECT)
                .and_then(|r| r.attr("id")),
            Some("u9")
        );
        roster.retract(c0, "u9", true).unwrap();
        let retraction = as_user(roster.take_first_outgoing().unwrap());
        assert_eq!(
            retraction
                .get_child("retract", ns::RETRACT)
                .and_then(|r| r.attr("id")),
            Some("u9")
        );
        assert!(roster.is_sent_as_user("u9"));
        assert!(roster.take_first_outgoing().is_none());
    }

    #[test]
    fn without_the_privilege_markers_are_dropped_and_texts_shown_from_the_contact() {
        let (mut roster, c0) = roster(false);
        roster.displayed(c0, "e1", true).unwrap();
        assert!(roster.take_first_outgoing().is_none());
        roster
            .send_text(
                c0,
                "mine",
                SendText {
                    carbon: true,
                    ..SendText::default()
                },
            )
            .unwrap();
        let Some(Stanza::Message(shown)) = roster.take_first_outgoing() else {
            panic!("a message")
        };
        assert_eq!(
            shown.from.map(|j| j.to_string()).as_deref(),
            Some("c0@gw.x/gatehouse")
        );
        assert_eq!(
            shown.bodies.values().next().map(String::as_str),
            Some("[you, from another client] mine")
        );
    }

    #[test]
    fn an_unknown_id_names_the_message_being_handled() {
        let (mut roster, c0) = roster(true);
        roster.set_handling(Some((c0, "client-7".into())));
        roster.received(c0, "u1").unwrap();
        roster.set_handling(None);
        let Some(Stanza::Message(receipt)) = roster.take_first_outgoing() else {
            panic!("a message")
        };
        let receipt: Element = receipt.into();
        assert_eq!(
            receipt
                .get_child("received", ns::RECEIPTS)
                .and_then(|r| r.attr("id")),
            Some("client-7")
        );
        // Bound for good; outside on-text an unknown id is used as it is.
        assert_eq!(
            roster.legacy_id_of(c0, "client-7").unwrap().as_deref(),
            Some("u1")
        );
        roster.received(c0, "u2").unwrap();
        let Some(Stanza::Message(receipt)) = roster.take_first_outgoing() else {
            panic!("a message")
        };
        let receipt: Element = receipt.into();
        assert_eq!(
            receipt
                .get_child("received", ns::RECEIPTS)
                .and_then(|r| r.attr("id")),
            Some("u2")
        );
    }
}
