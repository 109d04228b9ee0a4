//! RFC 6120 §8: stanza errors.
//!
//! Every stanza the gateway cannot serve gets an error reply, addressed back
//! to its sender, so that a client shows a reason rather than waiting
//! forever. Errors themselves are never answered (RFC 6120 §8.3.1), which
//! also keeps two entities from bouncing errors at each other.

use jid::Jid;
use xmpp_parsers::{
    iq::Iq,
    message::{Id, Message, MessageType},
    presence::{Presence, Type as PresenceType},
    stanza::Stanza,
    stanza_error::{DefinedCondition, ErrorType, StanzaError},
};

/// A stanza error with the RFC's type for its condition and a text.
pub fn stanza_error(condition: DefinedCondition, text: impl Into<String>) -> StanzaError {
    let type_ = match condition {
        DefinedCondition::BadRequest
        | DefinedCondition::NotAcceptable
        | DefinedCondition::JidMalformed => ErrorType::Modify,
        DefinedCondition::RegistrationRequired
        | DefinedCondition::NotAuthorized
        | DefinedCondition::Forbidden
        | DefinedCondition::SubscriptionRequired => ErrorType::Auth,
        DefinedCondition::RecipientUnavailable
        | DefinedCondition::ResourceConstraint
        | DefinedCondition::RemoteServerTimeout => ErrorType::Wait,
        _ => ErrorType::Cancel,
    };
    let text = text.into();
    let mut error = StanzaError::new(type_, condition, "en", text.clone());
    if text.is_empty() {
        error.texts.clear();
    }
    error
}

/// The error reply to an iq get or set.
pub fn iq_error(
    request_from: Option<Jid>,
    request_to: Option<Jid>,
    id: &str,
    error: StanzaError,
) -> Iq {
    Iq::Error {
        from: request_to,
        to: request_from,
        id: id.to_owned(),
        error,
        payload: None,
    }
}

/// The error reply to a message.
pub fn message_error(
    request_from: Option<Jid>,
    request_to: Option<Jid>,
    id: Option<String>,
    error: StanzaError,
) -> Message {
    let mut reply = Message::new_with_type(MessageType::Error, request_from);
    reply.from = request_to;
    reply.id = id.map(Id);
    reply.payloads.push(error.into());
    reply
}

/// The error reply to a presence.
pub fn presence_error(
    request_from: Option<Jid>,
    request_to: Option<Jid>,
    id: Option<String>,
    error: StanzaError,
) -> Presence {
    let mut reply = Presence::new(PresenceType::Error);
    reply.to = request_from;
    reply.from = request_to;
    reply.id = id;
    reply.payloads.push(error.into());
    reply
}

/// The error reply to a message or a request (`get`, `set`); None for
/// what gets none this way (an error, a result, a presence).
pub fn error_reply(stanza: Stanza, error: StanzaError) -> Option<Stanza> {
    match stanza {
        Stanza::Message(m) if m.type_ != MessageType::Error => {
            Some(message_error(m.from, m.to, m.id.map(|id| id.0), error).into())
        }
        Stanza::Iq(Iq::Get { from, to, id, .. } | Iq::Set { from, to, id, .. }) => {
            Some(iq_error(from, to, &id, error).into())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use minidom::Element;

    #[test]
    fn errors_carry_the_rfc_type_and_the_text() {
        let err: Element =
            stanza_error(DefinedCondition::RegistrationRequired, "register first").into();
        assert_eq!(err.attr("type"), Some("auth"));
        assert!(err.has_child("registration-required", super::super::ns::XMPP_STANZAS));
        assert_eq!(
            err.get_child("text", super::super::ns::XMPP_STANZAS)
                .map(|t| t.text()),
            Some("register first".to_owned())
        );
        let err: Element = stanza_error(DefinedCondition::BadRequest, "").into();
        assert_eq!(err.attr("type"), Some("modify"));
        assert!(
            err.get_child("text", super::super::ns::XMPP_STANZAS)
                .is_none()
        );
    }
}
