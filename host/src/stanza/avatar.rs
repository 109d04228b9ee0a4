//! XEP-0084 (User Avatar) served for puppets as if each had PEP, with
//! XEP-0153 (vCard-based avatars) hashes in their presences.

use base64::Engine;
use jid::{BareJid, Jid};
use minidom::Element;
use sha1::{Digest, Sha1};
use xmpp_parsers::message::{Message, MessageType};

use super::with_attr;

/// XEP-0084's metadata node.
pub const METADATA: &str = "urn:xmpp:avatar:metadata";
/// XEP-0084's data node.
pub const DATA: &str = "urn:xmpp:avatar:data";
/// XEP-0172's PEP node (and payload namespace).
pub const NICK: &str = "http://jabber.org/protocol/nick";
/// XEP-0153's presence payload namespace.
pub const VCARD_UPDATE: &str = "vcard-temp:x:update";
/// XEP-0060's namespaces.
pub const PUBSUB: &str = "http://jabber.org/protocol/pubsub";
/// XEP-0060's event namespace.
pub const PUBSUB_EVENT: &str = "http://jabber.org/protocol/pubsub#event";

/// What clients learn of an avatar before fetching it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvatarInfo {
    /// SHA-1 of the bytes, lowercase hex: the avatar's id everywhere.
    pub hash: String,
    /// Its MIME type.
    pub mime: String,
    /// Its size in bytes.
    pub bytes: usize,
    /// Width and height in pixels, if the format tells.
    pub width: Option<u32>,
    /// Height in pixels.
    pub height: Option<u32>,
}

impl AvatarInfo {
    /// Describes an image file; Err if it is not an image format clients
    /// show (PNG, JPEG, GIF, WebP).
    pub fn of(data: &[u8]) -> Result<AvatarInfo, String> {
        let mime = match imagesize::image_type(data) {
            Ok(imagesize::ImageType::Png) => "image/png",
            Ok(imagesize::ImageType::Jpeg) => "image/jpeg",
            Ok(imagesize::ImageType::Gif) => "image/gif",
            Ok(imagesize::ImageType::Webp) => "image/webp",
            _ => return Err("the avatar is not a PNG, JPEG, GIF or WebP image".to_owned()),
        };
        let size = imagesize::blob_size(data).ok();
        Ok(AvatarInfo {
            hash: hex::encode(Sha1::digest(data)),
            mime: mime.to_owned(),
            bytes: data.len(),
            width: size.and_then(|s| u32::try_from(s.width).ok()),
            height: size.and_then(|s| u32::try_from(s.height).ok()),
        })
    }

    fn to_info(&self) -> Element {
        let mut info = Element::builder("info", METADATA).build();
        info = with_attr(info, "id", &self.hash);
        info = with_attr(info, "type", &self.mime);
        info = with_attr(info, "bytes", &self.bytes.to_string());
        if let Some(width) = self.width {
            info = with_attr(info, "width", &width.to_string());
        }
        if let Some(height) = self.height {
            info = with_attr(info, "height", &height.to_string());
        }
        info
    }
}

/// The metadata item: the avatar's description, or empty for "no avatar".
pub fn metadata_item(avatar: Option<&AvatarInfo>) -> Element {
    let mut metadata = Element::builder("metadata", METADATA).build();
    let mut item = Element::builder("item", PUBSUB).build();
    if let Some(avatar) = avatar {
        metadata.append_child(avatar.to_info());
        item = with_attr(item, "id", &avatar.hash);
    }
    item.append_child(metadata);
    item
}

/// The data item: the image itself, base64.
pub fn data_item(hash: &str, data: &[u8]) -> Element {
    let encoded = base64::engine::general_purpose::STANDARD.encode(data);
    let payload = Element::builder("data", DATA).append(encoded).build();
    let item = Element::builder("item", PUBSUB).append(payload).build();
    with_attr(item, "id", hash)
}

/// The answer to a pubsub `items` request: `<pubsub><items node>items…`.
pub fn items_result(node: &str, items: Vec<Element>) -> Element {
    let mut list = with_attr(Element::builder("items", PUBSUB).build(), "node", node);
    for item in items {
        list.append_child(item);
    }
    Element::builder("pubsub", PUBSUB).append(list).build()
}

/// The PEP event telling the user's clients that a puppet's avatar
/// changed (or went away).
pub fn metadata_event(from: BareJid, to: Jid, avatar: Option<&AvatarInfo>) -> Message {
    pep_event(
        from,
        to,
        METADATA,
        rename_ns(metadata_item(avatar), PUBSUB_EVENT),
    )
}

/// The PEP event telling the user's clients a puppet's nickname
/// (XEP-0172), after it changed.
pub fn nick_event(from: BareJid, to: Jid, nick: &str) -> Message {
    let payload: Element = xmpp_parsers::nick::Nick(nick.to_owned()).into();
    let item = Element::builder("item", PUBSUB_EVENT)
        .append(payload)
        .build();
    pep_event(from, to, NICK, item)
}

/// A pubsub event of one item on `node`, as a puppet's PEP service would
/// send it.
fn pep_event(from: BareJid, to: Jid, node: &str, item: Element) -> Message {
    let mut items = with_attr(
        Element::builder("items", PUBSUB_EVENT).build(),
        "node",
        node,
    );
    items.append_child(item);
    let event = Element::builder("event", PUBSUB_EVENT)
        .append(items)
        .build();
    let mut message = Message::new_with_type(MessageType::Headline, to);
    message.from = Some(from.into());
    message.payloads.push(event);
    message
}

/// The XEP-0153 presence payload: the avatar's hash, or empty for none.
pub fn photo_update(hash: Option<&str>) -> Element {
    let mut photo = Element::builder("photo", VCARD_UPDATE).build();
    if let Some(hash) = hash {
        photo.append_text(hash.to_owned());
    }
    Element::builder("x", VCARD_UPDATE).append(photo).build()
}

/// A pubsub `items` request: the node and the item ids asked for.
pub fn items_request(payload: &Element) -> Option<(String, Vec<String>)> {
    if !payload.is("pubsub", PUBSUB) {
        return None;
    }
    let items = payload.get_child("items", PUBSUB)?;
    let node = items.attr("node")?.to_owned();
    let ids = items
        .children()
        .filter(|c| c.name() == "item")
        .filter_map(|c| c.attr("id").map(str::to_owned))
        .collect();
    Some((node, ids))
}

/// A copy of an `<item/>` in another namespace (pubsub and pubsub#event
/// items are the same shape).
fn rename_ns(item: Element, namespace: &str) -> Element {
    let mut copy = Element::builder("item", namespace).build();
    if let Some(id) = item.attr("id") {
        copy = with_attr(copy, "id", id);
    }
    for child in item.children() {
        copy.append_child(child.clone());
    }
    copy
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 1×1 PNG.
    const PNG: &[u8] = &[
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52, 0,
        0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0, 0x1f, 0x15, 0xc4, 0x89, 0, 0, 0, 0x0d, 0x49, 0x44,
        0x41, 0x54, 0x78, 0x9c, 0x63, 0x60, 0, 0, 0, 2, 0, 1, 0xe5, 0x27, 0xde, 0xfc, 0, 0, 0, 0,
        0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
    ];

    #[test]
    fn an_image_is_described_by_hash_type_and_size() {
        let info = AvatarInfo::of(PNG).unwrap();
        assert_eq!(info.mime, "image/png");
        assert_eq!((info.width, info.height), (Some(1), Some(1)));
        assert_eq!(info.bytes, PNG.len());
        assert_eq!(info.hash, hex::encode(Sha1::digest(PNG)));
        assert!(AvatarInfo::of(b"not an image").is_err());
    }

    #[test]
    fn the_event_carries_the_metadata() {
        let info = AvatarInfo::of(PNG).unwrap();
        let el: Element = metadata_event(
            BareJid::new("c0@gw").unwrap(),
            Jid::new("u@x").unwrap(),
            Some(&info),
        )
        .into();
        assert_eq!(el.attr("type"), Some("headline"));
        let item = el
            .get_child("event", PUBSUB_EVENT)
            .and_then(|e| e.get_child("items", PUBSUB_EVENT))
            .and_then(|i| i.get_child("item", PUBSUB_EVENT))
            .unwrap();
        assert_eq!(item.attr("id"), Some(info.hash.as_str()));
        let meta = item
            .get_child("metadata", METADATA)
            .unwrap()
            .get_child("info", METADATA)
            .unwrap();
        assert_eq!(meta.attr("type"), Some("image/png"));
        assert_eq!(meta.attr("width"), Some("1"));
    }

    #[test]
    fn a_nick_event_names_the_puppet() {
        let el: Element = nick_event(
            BareJid::new("c0@gw").unwrap(),
            Jid::new("u@x").unwrap(),
            "Bob",
        )
        .into();
        let items = el
            .get_child("event", PUBSUB_EVENT)
            .and_then(|e| e.get_child("items", PUBSUB_EVENT))
            .unwrap();
        assert_eq!(items.attr("node"), Some(NICK));
        let nick = items
            .get_child("item", PUBSUB_EVENT)
            .and_then(|i| i.get_child("nick", NICK))
            .unwrap();
        assert_eq!(nick.text(), "Bob");
    }

    #[test]
    fn data_round_trips_through_base64() {
        let item = data_item("h", PNG);
        let text = item.get_child("data", DATA).unwrap().text();
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .unwrap(),
            PNG
        );
    }
}
