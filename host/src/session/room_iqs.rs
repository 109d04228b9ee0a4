//! The user's iqs to a room: disco#info (with `muc#roominfo` and the
//! avatar's hash), disco#items, vcard-temp (the room's avatar), MAM
//! queries and metadata (the archive, paged), and self-ping (XEP-0410) to
//! the user's occupant.

use jid::Jid;
use minidom::Element;
use xmpp_parsers::{iq::Iq, stanza_error::DefinedCondition};

use super::Session;
use crate::groups::{QueryRefused, RoomId};
use crate::sender::Pace;
use crate::stanza::{
    disco,
    error::{iq_error, stanza_error},
    mam, ns,
    vcard::{self, VCard},
};

impl Session {
    /// An iq to a room (disco) or an occupant (self-ping).
    pub(super) async fn on_room_iq(&mut self, iq: Iq, room: RoomId) {
        let (from, to, id, payload) = match iq {
            Iq::Get {
                from,
                to,
                id,
                payload,
            } => (from, to, id, payload),
            Iq::Set {
                from,
                to,
                id,
                payload,
            } => {
                if payload.is("query", ns::MAM)
                    && to.as_ref().is_some_and(|t| t.resource().is_none())
                {
                    return self.query_archive(room, from, to, id, &payload);
                }
                let error = stanza_error(DefinedCondition::FeatureNotImplemented, "");
                self.send(iq_error(from, to, &id, error));
                return;
            }
            Iq::Result { .. } | Iq::Error { .. } => return,
        };
        let occupant = to.as_ref().is_some_and(|t| t.resource().is_some());
        let answer: Result<Option<Element>, (DefinedCondition, String)> =
            match (payload.name(), payload.ns().as_str(), occupant) {
                ("ping", ns::PING, true) => {
                    let full = from.as_ref().and_then(|f| f.try_as_full().ok()).cloned();
                    let joined = match (full, self.data()) {
                        (Some(f), Some(d)) => d.rooms.is_joined(room, &f),
                        _ => false,
                    };
                    if joined {
                        Ok(None)
                    } else {
                        Err((DefinedCondition::NotAcceptable, "not in the room".into()))
                    }
                }
                ("ping", ns::PING, false) => Ok(None),
                ("query", ns::DISCO_INFO, false) => {
                    match self.data().and_then(|d| d.rooms.get(room)) {
                        Some(r) => Ok(Some(
                            disco::room_info(&disco::RoomInfo {
                                name: r.info.name.as_deref(),
                                private: r.non_anonymous(),
                                description: r.info.description.as_deref(),
                                occupants: r
                                    .info
                                    .participant_count
                                    .map(|n| n as usize)
                                    .unwrap_or_else(|| r.present().count()),
                                avatar_hash: r.info.avatar_hash.as_deref(),
                            })
                            .into(),
                        )),
                        None => Err((DefinedCondition::ItemNotFound, String::new())),
                    }
                }
                ("vCard", vcard::VCARD_TEMP, false) => match self.data() {
                    Some(d) => d
                        .rooms
                        .avatar(room)
                        .map(|photo| {
                            let photo = photo.as_ref().map(|p| (p.mime.as_str(), &p.data[..]));
                            Some(VCard::default().to_vcard_temp(photo))
                        })
                        .map_err(|e| (DefinedCondition::InternalServerError, e.to_string())),
                    None => Err((DefinedCondition::InternalServerError, String::new())),
                },
                ("query", ns::DISCO_ITEMS, false) => {
                    Ok(Some(Element::builder("query", ns::DISCO_ITEMS).build()))
                }
                ("metadata", ns::MAM, false) => match self.data() {
                    Some(d) => d
                        .rooms
                        .archive_metadata(room)
                        .map(Some)
                        .map_err(|e| (DefinedCondition::InternalServerError, e.to_string())),
                    None => Err((DefinedCondition::InternalServerError, String::new())),
                },
                _ => Err((DefinedCondition::FeatureNotImplemented, String::new())),
            };
        match answer {
            Ok(payload) => self.send(Iq::Result {
                from: to,
                to: from,
                id,
                payload,
            }),
            Err((condition, text)) => {
                self.send(iq_error(from, to, &id, stanza_error(condition, text)))
            }
        }
    }

    /// A MAM query to a room: its results, then the iq result with the
    /// `<fin/>`, in that order.
    fn query_archive(
        &mut self,
        room: RoomId,
        from: Option<Jid>,
        to: Option<Jid>,
        id: String,
        payload: &Element,
    ) {
        let refuse = |this: &mut Self, condition, text: String| {
            this.send(iq_error(
                from.clone(),
                to.clone(),
                &id,
                stanza_error(condition, text),
            ));
        };
        let request = match mam::parse(payload) {
            Ok(request) => request,
            Err(text) => return refuse(self, DefinedCondition::BadRequest, text),
        };
        let Some(requester) = from.clone() else {
            return;
        };
        let Some(data) = self.data() else { return };
        if data.roster.behind() {
            return refuse(
                self,
                DefinedCondition::ResourceConstraint,
                "the gateway is still sending you earlier stanzas; ask again in a moment".into(),
            );
        }
        match data.rooms.query_archive(room, &requester, &request) {
            Ok((results, fin)) => {
                for result in results {
                    data.roster.paced(result, Pace::Free);
                }
                self.send(Iq::Result {
                    from: to,
                    to: from,
                    id,
                    payload: Some(fin),
                });
            }
            Err(QueryRefused::NotFound(text)) => refuse(self, DefinedCondition::ItemNotFound, text),
            Err(QueryRefused::Unsupported(text)) => {
                refuse(self, DefinedCondition::FeatureNotImplemented, text)
            }
            Err(QueryRefused::Roster(e)) => {
                refuse(self, DefinedCondition::InternalServerError, e.to_string())
            }
        }
    }
}
