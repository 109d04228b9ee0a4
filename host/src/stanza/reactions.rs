//! XEP-0444: Message Reactions, from puppets and from the user.

use jid::Jid;
use xmpp_parsers::{
    message::{Message, MessageType},
    reactions::{Reaction, Reactions},
};

use super::{empty, ns};

/// Reactions to message `id` (an empty list removes them), stored so that
/// archives keep them.
pub fn reactions(from: Jid, to: Jid, id: &str, emojis: &[String]) -> Message {
    let mut message = Message::new_with_type(MessageType::Chat, to);
    message.from = Some(from);
    let mut unique: Vec<&String> = Vec::with_capacity(emojis.len());
    for emoji in emojis {
        if !unique.contains(&emoji) {
            unique.push(emoji);
        }
    }
    message.payloads.push(
        Reactions {
            id: id.to_owned(),
            reactions: unique
                .into_iter()
                .map(|emoji| Reaction {
                    emoji: emoji.clone(),
                })
                .collect(),
        }
        .into(),
    );
    message.payloads.push(empty("store", ns::HINTS));
    message
}

/// A user's reactions: the XMPP id they are for and the emojis.
pub fn parse(message: &Message) -> Option<(String, Vec<String>)> {
    let element = message
        .payloads
        .iter()
        .find(|p| p.is("reactions", ns::REACTIONS))?;
    let parsed = Reactions::try_from(element.clone()).ok()?;
    Some((
        parsed.id,
        parsed.reactions.into_iter().map(|r| r.emoji).collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use minidom::Element;

    #[test]
    fn reactions_are_deduplicated_and_parsed_back() {
        let m = reactions(
            Jid::new("c0@gw/r").unwrap(),
            Jid::new("u@x").unwrap(),
            "u3",
            &["👍".into(), "👍".into(), "🦀".into()],
        );
        assert_eq!(
            parse(&m),
            Some(("u3".into(), vec!["👍".into(), "🦀".into()]))
        );
        let el: Element = m.into();
        assert!(el.has_child("store", ns::HINTS));
        let removal = reactions(
            Jid::new("c0@gw/r").unwrap(),
            Jid::new("u@x").unwrap(),
            "u3",
            &[],
        );
        assert_eq!(parse(&removal), Some(("u3".into(), vec![])));
    }
}
