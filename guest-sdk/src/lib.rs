//! Write a Gatehouse gateway plugin in Rust.
//!
//! A plugin holds one legacy network's logic; the Gatehouse host does all
//! the XMPP. This crate gives the WIT bindings ([`bindings`]) and a layer
//! over them that reads like a slidge plugin: implement [`Plugin`] (every
//! handler but `gateway_info` and `login` has a default), look contacts up
//! with [`Roster::by_legacy_id`], and call methods on [`Contact`].
//!
//! ```no_run
//! use gatehouse_guest::{Contact, FormValues, NetworkInfo, Plugin, Roster, Show, TextMessage};
//!
//! struct Parrot;
//!
//! impl Plugin for Parrot {
//!     fn gateway_info() -> NetworkInfo {
//!         NetworkInfo::new("Parrot network", "parrot").field_required("username", "User name")
//!     }
//!
//!     fn login() -> Result<String, String> {
//!         let name = gatehouse_guest::session::registration_value("username").unwrap_or_default();
//!         Ok(format!("logged in as {name}"))
//!     }
//!
//!     fn fill_roster() -> Result<(), String> {
//!         let polly = Roster::by_legacy_id("polly").map_err(|e| e.to_string())?;
//!         polly.set_name(Some("Polly"));
//!         polly.set_presence(Show::Online, Some("squawk"), None);
//!         polly.add_to_roster().map_err(|e| e.to_string())
//!     }
//!
//!     fn on_text(contact: &Contact, message: TextMessage) -> Result<Option<String>, String> {
//!         contact.send_text(&message.body).map_err(|e| e.to_string())?;
//!         Ok(None)
//!     }
//! }
//!
//! gatehouse_guest::export_plugin!(Parrot);
//! # fn main() {}
//! ```
//!
//! Build with `cargo build --target wasm32-wasip2 --release`: the `.wasm`
//! it makes is a component the host loads as it is.

use std::cell::Cell;

/// The raw bindings generated from the WIT contract.
#[allow(missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "gateway-plugin",
        pub_export_macro: true,
        export_macro_name: "export_bindings",
        default_bindings_module: "gatehouse_guest::bindings",
    });
}

use bindings::gatehouse::gateway::roster as wit_roster;
pub use bindings::gatehouse::gateway::types::{
    ChatState, Error, FieldKind, FormField, LogLevel, NetworkInfo, SendOptions, Show, TextMessage,
};

/// A filled registration form: `(var, value)` pairs.
pub type FormValues = Vec<(String, String)>;

impl NetworkInfo {
    /// A network with no registration fields yet.
    pub fn new(name: &str, network_type: &str) -> Self {
        NetworkInfo {
            name: name.to_owned(),
            network_type: network_type.to_owned(),
            instructions: format!("Register with the {name}"),
            registration_fields: Vec::new(),
        }
    }

    /// Sets the instructions shown above the form.
    pub fn instructions(mut self, text: &str) -> Self {
        self.instructions = text.to_owned();
        self
    }

    /// Adds a required one-line text field.
    pub fn field_required(self, var: &str, label: &str) -> Self {
        self.field(var, label, FieldKind::TextSingle, true, None)
    }

    /// Adds an optional one-line text field with a default value.
    pub fn field_optional(self, var: &str, label: &str, default: Option<&str>) -> Self {
        self.field(var, label, FieldKind::TextSingle, false, default)
    }

    /// Adds a field of any kind.
    pub fn field(
        mut self,
        var: &str,
        label: &str,
        kind: FieldKind,
        required: bool,
        default: Option<&str>,
    ) -> Self {
        self.registration_fields.push(FormField {
            var: var.to_owned(),
            label: label.to_owned(),
            kind,
            required,
            default_value: default.map(str::to_owned),
        });
        self
    }
}

/// A plugin: one legacy network's logic. The host calls these functions;
/// each runs alone (never two at once) on behalf of one user.
pub trait Plugin {
    /// The network's name, type and registration form.
    fn gateway_info() -> NetworkInfo;

    /// Checks a registration form; the error is shown to the user.
    fn validate_registration(form: &FormValues) -> Result<(), String> {
        let _ = form;
        Ok(())
    }

    /// Connects to the network; Ok is the status the gateway shows.
    fn login() -> Result<String, String>;

    /// Disconnects from the network.
    fn logout() {}

    /// Fills the roster: `Roster::by_legacy_id` then `add_to_roster`.
    fn fill_roster() -> Result<(), String> {
        Ok(())
    }

    /// The JID local part for a legacy id, for networks whose ids are
    /// case-sensitive or otherwise need their own mapping. `None` (the
    /// default) uses XEP-0106 escaping.
    fn legacy_id_to_jid_username(legacy_id: &str) -> Option<String> {
        let _ = legacy_id;
        None
    }

    /// The legacy id behind a JID local part no known contact has; an error
    /// means "no such contact". The default accepts the unescaped local part.
    fn jid_username_to_legacy_id(username: &str, unescaped: &str) -> Result<String, String> {
        let _ = username;
        Ok(unescaped.to_owned())
    }

    /// The user sent a text to a contact; Ok is its legacy id, if any.
    fn on_text(contact: &Contact, message: TextMessage) -> Result<Option<String>, String> {
        let _ = (contact, message);
        Err("this network does not take text messages".to_owned())
    }

    /// The user's chat state towards a contact (typing…).
    fn on_chat_state(contact: &Contact, state: ChatState) {
        let _ = (contact, state);
    }

    /// The user read these messages of the contact (every unread one up to
    /// the marker, oldest first).
    fn on_displayed(contact: &Contact, legacy_msg_ids: Vec<String>) {
        let _ = (contact, legacy_msg_ids);
    }

    /// The user corrected their message.
    fn on_correct(contact: &Contact, legacy_msg_id: &str, body: &str) -> Result<(), String> {
        let _ = (contact, legacy_msg_id, body);
        Err("this network does not take corrections".to_owned())
    }

    /// The user retracted their message.
    fn on_retract(contact: &Contact, legacy_msg_id: &str) -> Result<(), String> {
        let _ = (contact, legacy_msg_id);
        Err("this network does not take retractions".to_owned())
    }

    /// The user reacted to a message; an empty list removes the reactions.
    fn on_react(contact: &Contact, legacy_msg_id: &str, emojis: Vec<String>) -> Result<(), String> {
        let _ = (contact, legacy_msg_id, emojis);
        Err("this network does not take reactions".to_owned())
    }
}

thread_local! {
    /// The plugin's id mapping, set by `export_plugin!` before each call so
    /// that `Roster::by_legacy_id` can apply it.
    static MAPPING: Cell<fn(&str) -> Option<String>> = const { Cell::new(no_mapping) };
}

fn no_mapping(_: &str) -> Option<String> {
    None
}

#[doc(hidden)]
pub fn set_mapping(mapping: fn(&str) -> Option<String>) {
    MAPPING.with(|m| m.set(mapping));
}

/// A legacy contact of the user: slidge's `LegacyContact`.
pub struct Contact(wit_roster::Contact);

impl Contact {
    #[doc(hidden)]
    pub fn from_borrow(borrowed: &wit_roster::Contact) -> Result<Contact, Error> {
        let legacy_id = borrowed.legacy_id();
        Roster::by_legacy_id(&legacy_id)
    }

    /// Its id on the legacy network.
    pub fn legacy_id(&self) -> String {
        self.0.legacy_id()
    }

    /// Its puppet JID.
    pub fn jid(&self) -> String {
        self.0.jid()
    }

    /// Sets the name shown in the roster.
    pub fn set_name(&self, name: Option<&str>) {
        self.0.set_name(name)
    }

    /// Adds it to the user's XMPP roster.
    pub fn add_to_roster(&self) -> Result<(), Error> {
        self.0.add_to_roster()
    }

    /// Removes it from the user's XMPP roster.
    pub fn remove_from_roster(&self) -> Result<(), Error> {
        self.0.remove_from_roster()
    }

    /// Sets its presence; `last_seen` in seconds since the Unix epoch.
    pub fn set_presence(&self, show: Show, status: Option<&str>, last_seen: Option<u64>) {
        self.0.set_presence(show, status, last_seen)
    }

    /// Sends a text from it to the user; returns the XMPP id.
    pub fn send_text(&self, body: &str) -> Result<String, Error> {
        self.send_text_with(body, SendOptions::default())
    }

    /// Sends a text with options (legacy id, date…); returns the XMPP id.
    pub fn send_text_with(&self, body: &str, options: SendOptions) -> Result<String, Error> {
        self.0.send_text(body, &options)
    }

    /// The contact is typing.
    pub fn composing(&self) {
        self.0.composing()
    }

    /// The contact stopped typing.
    pub fn paused(&self) {
        self.0.paused()
    }

    /// The contact pays attention to the conversation.
    pub fn active(&self) {
        self.0.active()
    }

    /// The contact does not pay attention to the conversation.
    pub fn inactive(&self) {
        self.0.inactive()
    }

    /// The user's message reached the contact.
    pub fn received(&self, legacy_msg_id: &str) -> Result<(), Error> {
        self.0.received(legacy_msg_id)
    }

    /// The contact read the user's message (or, `carbon`, the user read
    /// the contact's from another client).
    pub fn displayed(&self, legacy_msg_id: &str, carbon: bool) -> Result<(), Error> {
        self.0.displayed(legacy_msg_id, carbon)
    }

    /// The contact corrected its message; returns the correction's XMPP id.
    pub fn correct(
        &self,
        legacy_msg_id: &str,
        body: &str,
        options: SendOptions,
    ) -> Result<String, Error> {
        self.0.correct(legacy_msg_id, body, &options)
    }

    /// The contact retracted its message.
    pub fn retract(&self, legacy_msg_id: &str, carbon: bool) -> Result<(), Error> {
        self.0.retract(legacy_msg_id, carbon)
    }

    /// The contact's reactions to a message; empty removes them.
    pub fn react(&self, legacy_msg_id: &str, emojis: &[String], carbon: bool) -> Result<(), Error> {
        self.0.react(legacy_msg_id, emojis, carbon)
    }
}

#[allow(
    clippy::derivable_impls,
    reason = "the type is generated by wit-bindgen, which cannot be told to derive Default for it alone"
)]
impl Default for SendOptions {
    fn default() -> Self {
        SendOptions {
            legacy_msg_id: None,
            when: None,
            reply_to: None,
            carbon: false,
        }
    }
}

/// The user's contacts: slidge's `LegacyRoster`.
pub struct Roster;

impl Roster {
    /// The contact with this legacy id, created on first use.
    pub fn by_legacy_id(legacy_id: &str) -> Result<Contact, Error> {
        let username = MAPPING.with(|m| m.get())(legacy_id);
        wit_roster::by_legacy_id(legacy_id, username.as_deref()).map(Contact)
    }

    /// The contact behind a puppet JID.
    pub fn by_jid(jid: &str) -> Result<Contact, Error> {
        wit_roster::by_jid(jid).map(Contact)
    }

    /// Every contact the host knows for this user.
    pub fn contacts() -> Vec<Contact> {
        wit_roster::contacts().into_iter().map(Contact).collect()
    }
}

/// The session: the user and the host's services.
pub mod session {
    use super::bindings::gatehouse::gateway::session as wit;
    pub use super::bindings::gatehouse::gateway::session::{
        kv_delete, kv_get, kv_set, registration, send_gateway_message, user_jid,
    };

    /// One value of the registration form.
    pub fn registration_value(var: &str) -> Option<String> {
        wit::registration()
            .into_iter()
            .find(|(k, _)| k == var)
            .map(|(_, v)| v)
    }

    /// Logs a line at `level`, tagged by the host with gateway and user.
    pub fn log(level: super::LogLevel, message: &str) {
        wit::log(level, message)
    }
}

/// Exports a [`Plugin`] implementation as the component's `plugin`
/// interface.
#[macro_export]
#[rustfmt::skip]
macro_rules! export_plugin {
    ($plugin:ty) => {
        const _: () = {
            use $crate::bindings::exports::gatehouse::gateway::plugin as __exports;
            use $crate::bindings::gatehouse::gateway::roster::Contact as __Contact;
            struct __GatehouseExport;
            fn __prepare() {
                $crate::set_mapping(<$plugin as $crate::Plugin>::legacy_id_to_jid_username);
            }
            impl __exports::Guest for __GatehouseExport {
                fn gateway_info() -> $crate::NetworkInfo {
                    <$plugin as $crate::Plugin>::gateway_info()
                }
                fn validate_registration(form: $crate::FormValues) -> Result<(), String> {
                    __prepare();
                    <$plugin as $crate::Plugin>::validate_registration(&form)
                }
                fn login() -> Result<String, String> {
                    __prepare();
                    <$plugin as $crate::Plugin>::login()
                }
                fn logout() {
                    __prepare();
                    <$plugin as $crate::Plugin>::logout()
                }
                fn fill_roster() -> Result<(), String> {
                    __prepare();
                    <$plugin as $crate::Plugin>::fill_roster()
                }
                fn jid_username_to_legacy_id(
                    username: String,
                    unescaped: String,
                ) -> Result<String, String> {
                    __prepare();
                    <$plugin as $crate::Plugin>::jid_username_to_legacy_id(&username, &unescaped)
                }
                fn on_text(
                    contact: &__Contact,
                    message: $crate::TextMessage,
                ) -> Result<Option<String>, String> {
                    __prepare();
                    let contact =
                        $crate::Contact::from_borrow(contact).map_err(|e| e.to_string())?;
                    <$plugin as $crate::Plugin>::on_text(&contact, message)
                }
                fn on_chat_state(contact: &__Contact, state: $crate::ChatState) {
                    __prepare();
                    if let Ok(contact) = $crate::Contact::from_borrow(contact) {
                        <$plugin as $crate::Plugin>::on_chat_state(&contact, state)
                    }
                }
                fn on_displayed(contact: &__Contact, legacy_msg_ids: Vec<String>) {
                    __prepare();
                    if let Ok(contact) = $crate::Contact::from_borrow(contact) {
                        <$plugin as $crate::Plugin>::on_displayed(&contact, legacy_msg_ids)
                    }
                }
                fn on_correct(
                    contact: &__Contact,
                    legacy_msg_id: String,
                    body: String,
                ) -> Result<(), String> {
                    __prepare();
                    let contact =
                        $crate::Contact::from_borrow(contact).map_err(|e| e.to_string())?;
                    <$plugin as $crate::Plugin>::on_correct(&contact, &legacy_msg_id, &body)
                }
                fn on_retract(contact: &__Contact, legacy_msg_id: String) -> Result<(), String> {
                    __prepare();
                    let contact =
                        $crate::Contact::from_borrow(contact).map_err(|e| e.to_string())?;
                    <$plugin as $crate::Plugin>::on_retract(&contact, &legacy_msg_id)
                }
                fn on_react(
                    contact: &__Contact,
                    legacy_msg_id: String,
                    emojis: Vec<String>,
                ) -> Result<(), String> {
                    __prepare();
                    let contact =
                        $crate::Contact::from_borrow(contact).map_err(|e| e.to_string())?;
                    <$plugin as $crate::Plugin>::on_react(&contact, &legacy_msg_id, emojis)
                }
            }
            $crate::bindings::export_bindings!(__GatehouseExport with_types_in $crate::bindings);
        };
    };
}
