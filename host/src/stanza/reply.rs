//! XEP-0461: Message Replies, and the XEP-0428 fallback that quotes the
//! replied-to text for clients that do not know them.

use jid::Jid;
use minidom::Element;
use xmpp_parsers::message::Message;

use super::{ns, with_attr};

const NS: &str = ns::REPLY;

/// Makes `message` a reply to message `id`, written by `author`.
pub fn mark_reply(message: &mut Message, id: &str, author: &Jid) {
    let reply = with_attr(Element::builder("reply", NS).build(), "id", id);
    let reply = with_attr(reply, "to", &author.to_string());
    message.payloads.push(reply);
}

/// The XMPP id a user's message replies to, if any.
pub fn replied_id(message: &Message) -> Option<String> {
    message
        .payloads
        .iter()
        .find(|p| p.is("reply", NS))
        .and_then(|p| p.attr("id"))
        .map(str::to_owned)
}

/// The body without the reply's quoted fallback (XEP-0428 `start`/`end`
/// count characters, not bytes). A fallback that does not fit leaves the
/// body as it is.
pub fn strip_fallback(message: &Message, body: &str) -> String {
    let range = message
        .payloads
        .iter()
        .filter(|p| p.is("fallback", ns::FALLBACK) && p.attr("for") == Some(NS))
        .find_map(|f| f.children().find(|c| c.name() == "body"))
        .and_then(|b| {
            Some((
                b.attr("start")?.parse::<usize>().ok()?,
                b.attr("end")?.parse::<usize>().ok()?,
            ))
        });
    let Some((start, end)) = range else {
        return body.to_owned();
    };
    let chars: Vec<char> = body.chars().collect();
    if start > end || end > chars.len() {
        return body.to_owned();
    }
    chars[..start].iter().chain(&chars[end..]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(xml: &str) -> Message {
        xml.parse::<Element>().unwrap().try_into().unwrap()
    }

    #[test]
    fn a_reply_names_the_message_and_its_author() {
        let mut m = Message::new(None);
        mark_reply(&mut m, "u2", &Jid::new("u@x").unwrap());
        assert_eq!(replied_id(&m).as_deref(), Some("u2"));
        let el: Element = m.into();
        assert_eq!(el.get_child("reply", NS).unwrap().attr("to"), Some("u@x"));
    }

    #[test]
    fn the_quote_is_stripped_by_characters() {
        let m = parse(
            "<message xmlns='jabber:component:accept' to='c0@gw'><body>&gt; é🦀\nanswer</body>\
             <reply xmlns='urn:xmpp:reply:0' id='e1'/>\
             <fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:reply:0'><body start='0' end='5'/></fallback></message>",
        );
        assert_eq!(strip_fallback(&m, "> é🦀\nanswer"), "answer");
        let bad = parse(
            "<message xmlns='jabber:component:accept' to='c0@gw'><body>x</body>\
             <fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:reply:0'><body start='0' end='99'/></fallback></message>",
        );
        assert_eq!(strip_fallback(&bad, "x"), "x");
    }
}
