//! The user's presences and iqs to puppets: subscriptions and probes,
//! disco and ping, and the profile a puppet serves as if it had PEP:
//! avatar (XEP-0084), vCard4 (XEP-0292) and vcard-temp (XEP-0054).

use jid::Jid;
use minidom::Element;
use xmpp_parsers::{
    iq::Iq,
    presence::{Presence, Type as PresenceType},
    stanza_error::DefinedCondition,
};

use super::Session;
use crate::roster::{ContactId, avatar_info};
use crate::stanza::{
    avatar, disco,
    error::{iq_error, stanza_error},
    escape, ns, presence,
    vcard::{self, VCard},
};

impl Session {
    /// The contact a puppet JID's local part names: a known one, else the
    /// plugin's `jid-username-to-legacy-id` decides. Err is the text of an
    /// `item-not-found`.
    pub(super) async fn resolve(&mut self, to: &Jid) -> Result<ContactId, String> {
        let username = to.node().map(|n| n.as_str().to_owned()).unwrap_or_default();
        if let Some(id) = self.data().and_then(|d| d.roster.by_username(&username)) {
            return Ok(id);
        }
        let unescaped = escape::unescape(&username);
        let answer = self
            .call("jid-username-to-legacy-id", async |i| {
                i.jid_username_to_legacy_id(&username, &unescaped).await
            })
            .await;
        let legacy_id = match answer {
            Ok(Ok(legacy_id)) => legacy_id,
            Ok(Err(reason)) => return Err(reason),
            Err(_) => return Err("the gateway's plugin crashed".into()),
        };
        let data = self.data().ok_or("session state lost")?;
        data.roster
            .by_legacy_id(&legacy_id, Some(&username))
            .map_err(|e| e.to_string())
    }

    pub(super) async fn on_presence(&mut self, p: Presence) {
        let Some(to) = p.to.as_ref() else { return };
        let room = self.data().and_then(|d| d.rooms.by_jid(to));
        if room.is_some() || crate::stanza::muc::join_request(&p).is_some() {
            return self.on_room_presence(p, room).await;
        }
        let username = to.node().map(|n| n.as_str().to_owned()).unwrap_or_default();
        let user: Jid = self.user.clone().into();
        let Some(data) = self.data() else { return };
        let known = data.roster.by_username(&username);
        match (p.type_, known) {
            (PresenceType::Probe | PresenceType::Subscribed, Some(id)) => {
                data.roster.send_presence(id)
            }
            (PresenceType::Subscribe, Some(id)) => {
                if let Some(contact) = data.roster.get(id) {
                    let from: Jid = contact.jid.clone().into();
                    data.roster
                        .send(presence::bare(PresenceType::Subscribed, from, user));
                }
                data.roster.send_presence(id);
            }
            (PresenceType::Probe | PresenceType::Subscribe, None) => {
                let from = to.to_bare().into();
                self.send(presence::bare(PresenceType::Unsubscribed, from, user));
            }
            _ => {}
        }
    }

    pub(super) async fn on_iq(&mut self, iq: Iq) {
        let to = match &iq {
            Iq::Get { to, .. }
            | Iq::Set { to, .. }
            | Iq::Result { to, .. }
            | Iq::Error { to, .. } => to.clone(),
        };
        if let Some(room) = to
            .as_ref()
            .and_then(|to| self.data().and_then(|d| d.rooms.by_jid(to)))
        {
            return self.on_room_iq(iq, room).await;
        }
        let (from, to, id, payload) = match iq {
            Iq::Get {
                from,
                to,
                id,
                payload,
            } => (from, to, id, payload),
            Iq::Set { from, to, id, .. } => {
                let error = stanza_error(DefinedCondition::FeatureNotImplemented, "");
                self.send(iq_error(from, to, &id, error));
                return;
            }
            Iq::Result { .. } | Iq::Error { .. } => return,
        };
        let Some(target) = to.clone() else { return };
        let contact = match self.resolve(&target).await {
            Ok(contact) => contact,
            Err(text) => {
                let error = stanza_error(DefinedCondition::ItemNotFound, text);
                self.send(iq_error(from, to, &id, error));
                return;
            }
        };
        match self.answer(contact, &payload).await {
            Ok(answer) => self.send(Iq::Result {
                from: to,
                to: from,
                id,
                payload: answer,
            }),
            Err((condition, text)) => {
                let error = stanza_error(condition, text);
                self.send(iq_error(from, to, &id, error));
            }
        }
    }

    /// The answer to an iq get addressed to a puppet.
    async fn answer(
        &mut self,
        contact: ContactId,
        payload: &Element,
    ) -> Result<Option<Element>, (DefinedCondition, String)> {
        let not_found = |what: &str| (DefinedCondition::ItemNotFound, what.to_owned());
        match (payload.name(), payload.ns().as_str()) {
            ("query", ns::DISCO_INFO) => Ok(Some(
                disco::puppet_info(payload.attr("node").map(str::to_owned)).into(),
            )),
            ("ping", ns::PING) => Ok(None),
            ("vcard", vcard::VCARD4) => {
                let (jid, card) = self.profile(contact).await?;
                Ok(Some(card.to_vcard4(&jid)))
            }
            ("vCard", vcard::VCARD_TEMP) => {
                let (_, card) = self.profile(contact).await?;
                let photo = self.avatar_row(contact)?;
                Ok(Some(card.to_vcard_temp(
                    photo.as_ref().map(|a| (a.mime.as_str(), a.data.as_slice())),
                )))
            }
            ("pubsub", avatar::PUBSUB) => {
                let (node, ids) =
                    avatar::items_request(payload).ok_or_else(|| not_found("no such request"))?;
                let item = match node.as_str() {
                    avatar::METADATA => {
                        let row = self
                            .avatar_row(contact)?
                            .ok_or_else(|| not_found("no avatar"))?;
                        avatar::metadata_item(Some(&avatar_info(&row)))
                    }
                    avatar::DATA => {
                        let row = self
                            .avatar_row(contact)?
                            .ok_or_else(|| not_found("no avatar"))?;
                        if !ids.is_empty() && !ids.contains(&row.hash) {
                            return Err(not_found("no such avatar"));
                        }
                        avatar::data_item(&row.hash, &row.data)
                    }
                    vcard::VCARD4_NODE => {
                        let (jid, card) = self.profile(contact).await?;
                        let item = Element::builder("item", avatar::PUBSUB)
                            .append(card.to_vcard4(&jid))
                            .build();
                        crate::stanza::with_attr(item, "id", "current")
                    }
                    _ => return Err(not_found("no such node")),
                };
                Ok(Some(avatar::items_result(&node, vec![item])))
            }
            _ => Err((DefinedCondition::FeatureNotImplemented, String::new())),
        }
    }

    /// A contact's profile, fetched from the plugin first if it never was.
    async fn profile(
        &mut self,
        contact: ContactId,
    ) -> Result<(jid::BareJid, VCard), (DefinedCondition, String)> {
        let internal =
            |e: &dyn std::fmt::Display| (DefinedCondition::InternalServerError, e.to_string());
        let data = self.data().ok_or_else(|| internal(&"session state lost"))?;
        if data
            .roster
            .needs_vcard_fetch(contact)
            .map_err(|e| internal(&e))?
        {
            let result = self
                .call("fetch-vcard", async |i| i.fetch_vcard(contact).await)
                .await;
            if let Ok(Err(reason)) = result {
                tracing::warn!(gateway = %self.ctx.jid, user = %self.user, ?reason, "fetch-vcard failed")
            }
        }
        let data = self.data().ok_or_else(|| internal(&"session state lost"))?;
        let found = data
            .roster
            .get(contact)
            .ok_or_else(|| internal(&"no such contact"))?;
        Ok((found.jid.clone(), found.vcard.clone().unwrap_or_default()))
    }

    fn avatar_row(
        &mut self,
        contact: ContactId,
    ) -> Result<Option<crate::store::AvatarRow>, (DefinedCondition, String)> {
        let internal =
            |e: &dyn std::fmt::Display| (DefinedCondition::InternalServerError, e.to_string());
        let data = self.data().ok_or_else(|| internal(&"session state lost"))?;
        data.roster.avatar(contact).map_err(|e| internal(&e))
    }
}
