//! XEP-0402 PEP Native Bookmarks: the pubsub payloads that put a room
//! into the user's bookmarks and take it out, sent as the user through
//! the XEP-0356 `iq` privilege ([`super::privilege::iq_as_user`]).

use jid::BareJid;
use minidom::Element;

use super::{ns, text, with_attr};

/// The user's bookmarks node (and the `<conference/>` namespace).
pub const BOOKMARKS: &str = "urn:xmpp:bookmarks:1";
const PUBLISH_OPTIONS: &str = "http://jabber.org/protocol/pubsub#publish-options";

/// A room as a bookmark.
#[derive(Debug, Clone)]
pub struct Bookmark<'a> {
    /// The room's JID: the item id.
    pub room: &'a BareJid,
    /// Its name.
    pub name: Option<&'a str>,
    /// The user's nick in it.
    pub nick: Option<&'a str>,
    /// Whether clients join it at once.
    pub autojoin: bool,
}

/// The publish of a bookmark, with the options XEP-0402 asks for: kept,
/// as many as the user has, readable only by the user.
pub fn publish(bookmark: &Bookmark<'_>) -> Element {
    let mut conference = with_attr(
        Element::builder("conference", BOOKMARKS).build(),
        "autojoin",
        if bookmark.autojoin { "true" } else { "false" },
    );
    if let Some(name) = bookmark.name {
        conference = with_attr(conference, "name", name);
    }
    if let Some(nick) = bookmark.nick {
        conference.append_child(text("nick", BOOKMARKS, nick));
    }
    let item = with_attr(
        Element::builder("item", ns::PUBSUB)
            .append(conference)
            .build(),
        "id",
        &bookmark.room.to_string(),
    );
    let publish = with_attr(
        Element::builder("publish", ns::PUBSUB).append(item).build(),
        "node",
        BOOKMARKS,
    );
    let field = |var: &str, value: &str| {
        let field = Element::builder("field", ns::DATA_FORMS)
            .append(text("value", ns::DATA_FORMS, value))
            .build();
        with_attr(field, "var", var)
    };
    let form_type = with_attr(field("FORM_TYPE", PUBLISH_OPTIONS), "type", "hidden");
    let form = with_attr(
        Element::builder("x", ns::DATA_FORMS)
            .append(form_type)
            .append(field("pubsub#persist_items", "true"))
            .append(field("pubsub#max_items", "max"))
            .append(field("pubsub#send_last_published_item", "never"))
            .append(field("pubsub#access_model", "whitelist"))
            .build(),
        "type",
        "submit",
    );
    Element::builder("pubsub", ns::PUBSUB)
        .append(publish)
        .append(
            Element::builder("publish-options", ns::PUBSUB)
                .append(form)
                .build(),
        )
        .build()
}

/// The retraction of a room's bookmark, notified to the user's clients.
pub fn retract(room: &BareJid) -> Element {
    let item = with_attr(
        Element::builder("item", ns::PUBSUB).build(),
        "id",
        &room.to_string(),
    );
    let retract = with_attr(
        with_attr(
            Element::builder("retract", ns::PUBSUB).append(item).build(),
            "node",
            BOOKMARKS,
        ),
        "notify",
        "true",
    );
    Element::builder("pubsub", ns::PUBSUB)
        .append(retract)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bookmark_is_published_with_its_options() {
        let room = BareJid::new("g0@gw").unwrap();
        let pubsub = publish(&Bookmark {
            room: &room,
            name: Some("Group 0"),
            nick: Some("romeo"),
            autojoin: true,
        });
        let publish = pubsub.get_child("publish", ns::PUBSUB).unwrap();
        assert_eq!(publish.attr("node"), Some(BOOKMARKS));
        let item = publish.get_child("item", ns::PUBSUB).unwrap();
        assert_eq!(item.attr("id"), Some("g0@gw"));
        let conference = item.get_child("conference", BOOKMARKS).unwrap();
        assert_eq!(conference.attr("autojoin"), Some("true"));
        assert_eq!(conference.attr("name"), Some("Group 0"));
        assert_eq!(
            conference.get_child("nick", BOOKMARKS).unwrap().text(),
            "romeo"
        );
        let form = pubsub
            .get_child("publish-options", ns::PUBSUB)
            .and_then(|o| o.get_child("x", ns::DATA_FORMS))
            .unwrap();
        let value = |var: &str| {
            form.children()
                .find(|f| f.attr("var") == Some(var))
                .and_then(|f| f.get_child("value", ns::DATA_FORMS))
                .map(|v| v.text())
        };
        assert_eq!(value("FORM_TYPE").as_deref(), Some(PUBLISH_OPTIONS));
        assert_eq!(value("pubsub#persist_items").as_deref(), Some("true"));
        assert_eq!(value("pubsub#access_model").as_deref(), Some("whitelist"));
    }

    #[test]
    fn a_retraction_names_the_room_and_notifies() {
        let retract = retract(&BareJid::new("g0@gw").unwrap());
        let r = retract.get_child("retract", ns::PUBSUB).unwrap();
        assert_eq!(r.attr("node"), Some(BOOKMARKS));
        assert_eq!(r.attr("notify"), Some("true"));
        assert_eq!(
            r.get_child("item", ns::PUBSUB).unwrap().attr("id"),
            Some("g0@gw")
        );
    }
}
