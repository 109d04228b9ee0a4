//! Each export of the contract as a typed method: the host's types in, the
//! WIT's types out, and one call path ([`Instance::call`]) underneath.

use xmpp_parsers::chatstates::ChatState;

use super::bindings::gatehouse::gateway::types as wit;
use super::{GatewayInfo, Instance, PluginError};
use crate::stanza::register::{FieldKind, FormField, RegistrationForm};

/// A text message the user sent, as the plugin receives it.
#[derive(Debug, Clone)]
pub struct TextMessage {
    /// The body.
    pub body: String,
    /// The client's id for it.
    pub xmpp_id: Option<String>,
    /// The legacy id of the message it replies to.
    pub reply_to: Option<String>,
}

/// The head of an HTTP response the host received for the plugin.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Header fields, as received.
    pub headers: Vec<(String, Vec<u8>)>,
}

/// A plugin's answer that the host hands on: Ok, or the plugin's reason.
pub(super) type Answer<T> = Result<Result<T, String>, PluginError>;

/// The longest text of the plugin's the host passes on as a reason (an
/// error, a login status): reasons become stanza texts, and one oversized
/// stanza would make the server drop the link for every user.
pub const MAX_REASON_BYTES: usize = 1024;

/// `text` cut to [`MAX_REASON_BYTES`].
pub fn bounded_text(text: String) -> String {
    cut(text, MAX_REASON_BYTES)
}

/// The longest name, network type, field name or label of `gateway-info`.
const MAX_NAME_BYTES: usize = 256;
/// The longest registration instructions.
const MAX_INSTRUCTIONS_BYTES: usize = 4096;
/// The longest default value of a registration field.
const MAX_DEFAULT_BYTES: usize = 1024;
/// The most registration fields.
const MAX_FORM_FIELDS: usize = 64;

/// `text` cut to at most `bytes` on a character boundary, marked `…`.
pub fn cut(mut text: String, bytes: usize) -> String {
    if text.len() > bytes {
        let mut end = bytes;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

/// A chat state as the WIT has it.
pub(super) fn chat_state(state: ChatState) -> wit::ChatState {
    match state {
        ChatState::Active => wit::ChatState::Active,
        ChatState::Composing => wit::ChatState::Composing,
        ChatState::Paused => wit::ChatState::Paused,
        ChatState::Inactive => wit::ChatState::Inactive,
        ChatState::Gone => wit::ChatState::Gone,
    }
}

/// An answer whose reason is bounded.
pub(super) fn bounded<T>(answer: Answer<T>) -> Answer<T> {
    answer.map(|result| result.map_err(bounded_text))
}

impl<S: Send + 'static> Instance<S> {
    /// `gateway-info`.
    pub async fn gateway_info(&mut self) -> Result<GatewayInfo, PluginError> {
        let info = self
            .call("gateway_info", async |p, s| p.call_gateway_info(s).await)
            .await?;
        // What the plugin describes itself with goes into disco and the
        // registration form: bounded, so no stanza of them is oversized.
        let short = |text: String| cut(text, MAX_NAME_BYTES);
        // A field's name is the key of its value: one too long is left out
        // rather than renamed.
        let fields = info
            .registration_fields
            .into_iter()
            .filter(|f| f.var.len() <= MAX_NAME_BYTES)
            .take(MAX_FORM_FIELDS)
            .map(|f| FormField {
                var: f.var,
                label: short(f.label),
                kind: match f.kind {
                    wit::FieldKind::TextSingle => FieldKind::TextSingle,
                    wit::FieldKind::TextPrivate => FieldKind::TextPrivate,
                    wit::FieldKind::Boolean => FieldKind::Boolean,
                },
                required: f.required,
                default_value: f.default_value.map(|v| cut(v, MAX_DEFAULT_BYTES)),
            });
        let name = short(info.name);
        Ok(GatewayInfo {
            form: RegistrationForm {
                title: format!("Registration to {name}"),
                instructions: cut(info.instructions, MAX_INSTRUCTIONS_BYTES),
                fields: fields.collect(),
            },
            name,
            network_type: short(info.network_type),
        })
    }

    /// `validate-registration`.
    pub async fn validate_registration(&mut self, form: &[(String, String)]) -> Answer<()> {
        let form = form.to_vec();
        bounded(
            self.call("validate_registration", async |p, s| {
                p.call_validate_registration(s, &form).await
            })
            .await,
        )
    }

    /// `legacy-id-to-jid-username`.
    pub async fn legacy_id_to_jid_username(
        &mut self,
        legacy_id: &str,
    ) -> Result<Option<String>, PluginError> {
        self.call("legacy_id_to_jid_username", async |p, s| {
            p.call_legacy_id_to_jid_username(s, legacy_id).await
        })
        .await
    }

    /// `login`.
    pub async fn login(&mut self) -> Answer<String> {
        // The status (Ok) becomes a presence status: bounded like a reason.
        bounded(self.call("login", async |p, s| p.call_login(s).await).await)
            .map(|result| result.map(bounded_text))
    }

    /// `logout`.
    pub async fn logout(&mut self) -> Result<(), PluginError> {
        self.call("logout", async |p, s| p.call_logout(s).await)
            .await
    }

    /// `fill-roster`.
    pub async fn fill_roster(&mut self) -> Answer<()> {
        bounded(
            self.call("fill_roster", async |p, s| p.call_fill_roster(s).await)
                .await,
        )
    }

    /// `jid-username-to-legacy-id`.
    pub async fn jid_username_to_legacy_id(
        &mut self,
        username: &str,
        unescaped: &str,
    ) -> Answer<String> {
        bounded(
            self.call("jid_username_to_legacy_id", async |p, s| {
                p.call_jid_username_to_legacy_id(s, username, unescaped)
                    .await
            })
            .await,
        )
    }

    /// `on-text`.
    pub async fn on_text(
        &mut self,
        contact: usize,
        message: TextMessage,
    ) -> Answer<Option<String>> {
        let message = wit::TextMessage {
            body: message.body,
            xmpp_id: message.xmpp_id,
            reply_to: message.reply_to,
        };
        bounded(
            self.call_with_contact("on_text", contact, async |p, s, c| {
                p.call_on_text(s, c, &message).await
            })
            .await,
        )
    }

    /// `update-contact-info`.
    pub async fn update_contact_info(&mut self, contact: usize) -> Answer<()> {
        bounded(
            self.call_with_contact("update_contact_info", contact, async |p, s, c| {
                p.call_update_contact_info(s, c).await
            })
            .await,
        )
    }

    /// `fetch-vcard`.
    pub async fn fetch_vcard(&mut self, contact: usize) -> Answer<()> {
        bounded(
            self.call_with_contact("fetch_vcard", contact, async |p, s, c| {
                p.call_fetch_vcard(s, c).await
            })
            .await,
        )
    }

    /// `on-timer`.
    pub async fn on_timer(&mut self, token: &str) -> Result<(), PluginError> {
        self.call("on_timer", async |p, s| p.call_on_timer(s, token).await)
            .await
    }

    /// `on-stream-data`.
    pub async fn on_stream_data(&mut self, stream: u32, data: &[u8]) -> Result<(), PluginError> {
        self.call("on_stream_data", async |p, s| {
            p.call_on_stream_data(s, stream, data).await
        })
        .await
    }

    /// `on-stream-closed`.
    pub async fn on_stream_closed(
        &mut self,
        stream: u32,
        reason: Option<&str>,
    ) -> Result<(), PluginError> {
        self.call("on_stream_closed", async |p, s| {
            p.call_on_stream_closed(s, stream, reason).await
        })
        .await
    }

    /// `on-http-response`.
    pub async fn on_http_response(
        &mut self,
        request: u32,
        response: Result<HttpResponse, String>,
    ) -> Result<(), PluginError> {
        let response = response.map(|head| wit::HttpResponse {
            status: head.status,
            headers: head.headers,
        });
        self.call("on_http_response", async |p, s| {
            let response = response.as_ref().map_err(String::as_str);
            p.call_on_http_response(s, request, response).await
        })
        .await
    }

    /// `on-chat-state`.
    pub async fn on_chat_state(
        &mut self,
        contact: usize,
        state: ChatState,
    ) -> Result<(), PluginError> {
        let state = chat_state(state);
        self.call_with_contact("on_chat_state", contact, async |p, s, c| {
            p.call_on_chat_state(s, c, state).await
        })
        .await
    }

    /// `on-displayed`.
    pub async fn on_displayed(
        &mut self,
        contact: usize,
        legacy_ids: Vec<String>,
    ) -> Result<(), PluginError> {
        self.call_with_contact("on_displayed", contact, async |p, s, c| {
            p.call_on_displayed(s, c, &legacy_ids).await
        })
        .await
    }

    /// `on-correct`.
    pub async fn on_correct(&mut self, contact: usize, legacy_id: &str, body: &str) -> Answer<()> {
        bounded(
            self.call_with_contact("on_correct", contact, async |p, s, c| {
                p.call_on_correct(s, c, legacy_id, body).await
            })
            .await,
        )
    }

    /// `on-retract`.
    pub async fn on_retract(&mut self, contact: usize, legacy_id: &str) -> Answer<()> {
        bounded(
            self.call_with_contact("on_retract", contact, async |p, s, c| {
                p.call_on_retract(s, c, legacy_id).await
            })
            .await,
        )
    }

    /// `on-react`.
    pub async fn on_react(
        &mut self,
        contact: usize,
        legacy_id: &str,
        emojis: Vec<String>,
    ) -> Answer<()> {
        bounded(
            self.call_with_contact("on_react", contact, async |p, s, c| {
                p.call_on_react(s, c, legacy_id, &emojis).await
            })
            .await,
        )
    }
}
