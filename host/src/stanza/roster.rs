//! RFC 6121 roster items, pushed into users' rosters through XEP-0356.
//!
//! With the roster privilege the gateway writes the item itself, so that
//! contacts appear without any subscription prompt; the server then pushes
//! it to every online client of the user.

use jid::{BareJid, Jid};
use xmpp_parsers::{
    iq::Iq,
    roster::{Group, Item, Roster, Subscription},
};

/// The privileged roster set adding (or renaming) a puppet in the user's
/// roster, with subscription `both`.
pub fn push_item(
    from: Jid,
    user: BareJid,
    id: String,
    puppet: BareJid,
    name: Option<&str>,
    group: &str,
) -> Iq {
    push(
        from,
        user,
        id,
        Item {
            jid: puppet,
            name: name.map(str::to_owned),
            subscription: Subscription::Both,
            ask: Default::default(),
            groups: vec![Group(group.to_owned())],
            approved: None,
        },
    )
}

/// The privileged roster set removing a puppet from the user's roster.
pub fn remove_item(from: Jid, user: BareJid, id: String, puppet: BareJid) -> Iq {
    push(
        from,
        user,
        id,
        Item {
            jid: puppet,
            name: None,
            subscription: Subscription::Remove,
            ask: Default::default(),
            groups: vec![],
            approved: None,
        },
    )
}

fn push(from: Jid, user: BareJid, id: String, item: Item) -> Iq {
    Iq::from_set(
        id,
        Roster {
            ver: None,
            items: vec![item],
        },
    )
    .with_from(from)
    .with_to(user.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stanza::ns;
    use minidom::Element;

    #[test]
    fn a_push_names_the_puppet_with_subscription_both_and_a_group() {
        let iq: Element = push_item(
            Jid::new("gw").unwrap(),
            BareJid::new("u@x").unwrap(),
            "r1".into(),
            BareJid::new("c0@gw").unwrap(),
            Some("Contact 0"),
            "Echo",
        )
        .into();
        assert_eq!(iq.attr("type"), Some("set"));
        assert_eq!(iq.attr("to"), Some("u@x"));
        assert_eq!(iq.attr("from"), Some("gw"));
        let item = iq
            .get_child("query", ns::ROSTER)
            .and_then(|q| q.get_child("item", ns::ROSTER))
            .unwrap();
        assert_eq!(item.attr("jid"), Some("c0@gw"));
        assert_eq!(item.attr("name"), Some("Contact 0"));
        assert_eq!(item.attr("subscription"), Some("both"));
        assert_eq!(item.get_child("group", ns::ROSTER).unwrap().text(), "Echo");
    }

    #[test]
    fn a_removal_has_subscription_remove() {
        let iq: Element = remove_item(
            Jid::new("gw").unwrap(),
            BareJid::new("u@x").unwrap(),
            "r2".into(),
            BareJid::new("c0@gw").unwrap(),
        )
        .into();
        let item = iq
            .get_child("query", ns::ROSTER)
            .and_then(|q| q.get_child("item", ns::ROSTER))
            .unwrap();
        assert_eq!(item.attr("subscription"), Some("remove"));
    }
}
