//! {{name}}: a Gatehouse gateway plugin.
//!
//! The host calls the `Plugin` methods below on behalf of one user, on the
//! one `Gateway` value `new` made (keep the session's state in its fields);
//! every other handler has a default that does nothing. A handler's error
//! is shown to the user: `?` makes a `gatehouse_guest::Error` of any SDK
//! call's error and of a `String` or `&str`. See the plugin guide
//! (docs/plugin-guide.md in Gatehouse) for what each call means on XMPP.

use gatehouse_guest::{Contact, Error, NetworkInfo, Plugin, Roster, Show, TextMessage, session};

struct Gateway;

impl Plugin for Gateway {
    /// The plugin's state, made on the host's first call.
    fn new() -> Self {
        Gateway
    }

    /// The network's name and the registration form users fill.
    fn gateway_info(&mut self) -> NetworkInfo {
        NetworkInfo::new("{{name}}", "{{name}}")
            .instructions("Enter your {{name}} user name.")
            .field_required("username", "User name")
    }

    /// Connect to the network here; the text is the gateway's status.
    fn login(&mut self) -> Result<String, Error> {
        let username = session::registration_value("username").unwrap_or_default();
        Ok(format!("logged in as {username}"))
    }

    /// Put the user's contacts in their XMPP roster.
    fn fill_roster(&mut self) -> Result<(), Error> {
        let contact = Roster::by_legacy_id("example")?;
        contact.set_name(Some("Example contact"));
        contact.set_presence(Show::Online, None, None);
        contact.add_to_roster()
    }

    /// The user wrote to a contact: send it to the network here. This
    /// skeleton answers with the same text.
    fn on_text(&mut self, contact: Contact, message: TextMessage) -> Result<Option<String>, Error> {
        contact.send_text(&format!("you said: {}", message.body))?;
        Ok(None)
    }
}

gatehouse_guest::export_plugin!(Gateway);
