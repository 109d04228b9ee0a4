//! XEP-0030: Service Discovery, and XEP-0115: Entity Capabilities.
//!
//! The gateway JID answers as a XEP-0100 gateway; each puppet answers as a
//! client. Puppets put a XEP-0115 `<c/>` in their presences so that clients
//! learn their features once per version string instead of asking each
//! puppet.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use xmpp_parsers::{
    caps::{self, Caps},
    data_forms::{DataForm, DataFormType, Field, FieldType},
    disco::{DiscoInfoResult, Identity},
    hashes::Algo,
};

use super::ns;

/// The XEP-0115 node of puppets: names the software behind them.
pub const CAPS_NODE: &str = "https://gatehouse.invalid/caps";

/// What the gateway JID itself supports.
const GATEWAY_FEATURES: &[&str] = &[
    ns::DISCO_INFO,
    ns::DISCO_ITEMS,
    ns::REGISTER,
    ns::PING,
    ns::COMMANDS,
];

/// What every puppet supports.
const PUPPET_FEATURES: &[&str] = &[
    ns::DISCO_INFO,
    ns::PING,
    ns::CHATSTATES,
    ns::RECEIPTS,
    ns::CHAT_MARKERS,
    ns::MESSAGE_CORRECT,
    ns::RETRACT,
    ns::REACTIONS,
    ns::REPLY,
];

/// The disco#info of the gateway: identity `gateway/<network type>` named
/// after the plugin's network.
pub fn gateway_info(name: &str, network_type: &str) -> DiscoInfoResult {
    DiscoInfoResult {
        node: None,
        identities: vec![Identity {
            category: "gateway".into(),
            type_: network_type.into(),
            lang: None,
            name: Some(name.into()),
        }],
        features: features(GATEWAY_FEATURES),
        extensions: vec![],
    }
}

/// What a room is, for its disco#info.
#[derive(Debug, Clone)]
pub struct RoomInfo<'a> {
    /// Its name.
    pub name: Option<&'a str>,
    /// A group (members-only, non-anonymous) rather than a channel.
    pub private: bool,
    /// Its description.
    pub description: Option<&'a str>,
    /// How many participants it has.
    pub occupants: usize,
    /// The SHA-1 of its avatar, served as vcard-temp on the room's JID.
    pub avatar_hash: Option<&'a str>,
}

/// The disco#info of a room: identity `conference/text`, the MUC features
/// of its kind, MAM and the ids it stamps, and a `muc#roominfo` form.
pub fn room_info(room: &RoomInfo<'_>) -> DiscoInfoResult {
    let mut features = features(&[
        ns::DISCO_INFO,
        ns::MUC,
        "muc_persistent",
        ns::MAM,
        "urn:xmpp:sid:0",
        "urn:xmpp:occupant-id:0",
        ns::PING,
        "vcard-temp",
        // Its archive replaces a retracted message with a tombstone.
        ns::RETRACT,
    ]);
    let kind: &[&str] = if room.private {
        &["muc_membersonly", "muc_nonanonymous", "muc_hidden"]
    } else {
        &["muc_open", "muc_semianonymous", "muc_public"]
    };
    features.extend(kind.iter().map(|f| f.to_string()));
    let mut fields = vec![Field::text_single(
        "muc#roominfo_occupants",
        &room.occupants.to_string(),
    )];
    if let Some(description) = room.description {
        fields.push(Field::text_single("muc#roominfo_description", description));
    }
    if let Some(hash) = room.avatar_hash {
        // XEP-0486: clients compare the hash with the one they cached.
        fields.push(Field::new("muc#roominfo_avatarhash", FieldType::TextMulti).with_value(hash));
    }
    DiscoInfoResult {
        node: None,
        identities: vec![Identity {
            category: "conference".into(),
            type_: "text".into(),
            lang: None,
            name: room.name.map(str::to_owned),
        }],
        features,
        extensions: vec![DataForm::new(
            DataFormType::Result_,
            "http://jabber.org/protocol/muc#roominfo",
            fields,
        )],
    }
}

/// The disco#info of a puppet, answered for `node` when a client asks by
/// caps node.
pub fn puppet_info(node: Option<String>) -> DiscoInfoResult {
    DiscoInfoResult {
        node,
        ..PUPPET_INFO.clone()
    }
}

/// The `<c/>` every puppet presence carries.
pub fn puppet_caps() -> Caps {
    PUPPET_CAPS.clone()
}

static PUPPET_INFO: LazyLock<DiscoInfoResult> = LazyLock::new(|| DiscoInfoResult {
    node: None,
    identities: vec![Identity::new_anonymous::<_, _, String, String>(
        "client", "pc",
    )],
    features: features(PUPPET_FEATURES),
    extensions: vec![],
});

static PUPPET_CAPS: LazyLock<Caps> = LazyLock::new(|| {
    let data = caps::compute_disco(&PUPPET_INFO);
    match caps::hash_caps(&data, Algo::Sha_1) {
        Ok(hash) => Caps::new(CAPS_NODE, hash),
        Err(e) => unreachable!("sha-1 is a known algorithm: {e}"),
    }
});

fn features(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|f| f.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use minidom::Element;

    #[test]
    fn the_gateway_is_a_gateway_with_registration() {
        let el: Element = gateway_info("Echo network", "echo").into();
        let identity = el.get_child("identity", ns::DISCO_INFO).unwrap();
        assert_eq!(identity.attr("category"), Some("gateway"));
        assert_eq!(identity.attr("type"), Some("echo"));
        assert_eq!(identity.attr("name"), Some("Echo network"));
        let vars: Vec<_> = el.children().filter_map(|c| c.attr("var")).collect();
        assert!(vars.contains(&ns::REGISTER));
        assert!(vars.contains(&ns::PING));
        assert!(vars.contains(&ns::COMMANDS));
    }

    #[test]
    fn puppets_announce_what_messages_can_carry() {
        let el: Element = puppet_info(None).into();
        let vars: Vec<_> = el.children().filter_map(|c| c.attr("var")).collect();
        for feature in [
            ns::CHATSTATES,
            ns::RECEIPTS,
            ns::CHAT_MARKERS,
            ns::MESSAGE_CORRECT,
            ns::RETRACT,
            ns::REACTIONS,
            ns::REPLY,
        ] {
            assert!(vars.contains(&feature), "{feature} missing");
        }
    }

    #[test]
    fn puppet_caps_hash_their_disco() {
        let caps = puppet_caps();
        assert_eq!(caps.node, CAPS_NODE);
        let again = caps::hash_caps(&caps::compute_disco(&puppet_info(None)), Algo::Sha_1).unwrap();
        assert_eq!(caps.ver, again.hash);
        assert_eq!(caps.ver.len(), 20);
    }
}
