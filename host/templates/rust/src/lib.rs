//! {{name}}: a Gatehouse gateway plugin.
//!
//! The host calls the `Plugin` methods below on behalf of one user; every
//! other handler has a default that does nothing. See the plugin guide
//! (docs/plugin-guide.md in Gatehouse) for what each call means on XMPP.

use gatehouse_guest::{Contact, NetworkInfo, Plugin, Roster, Show, TextMessage, session};

struct Gateway;

impl Plugin for Gateway {
    /// The network's name and the registration form users fill.
    fn gateway_info() -> NetworkInfo {
        NetworkInfo::new("{{name}}", "{{name}}")
            .instructions("Enter your {{name}} user name.")
            .field_required("username", "User name")
    }

    /// Connect to the network here; the text is the gateway's status.
    fn login() -> Result<String, String> {
        let username = session::registration_value("username").unwrap_or_default();
        Ok(format!("logged in as {username}"))
    }

    /// Put the user's contacts in their XMPP roster.
    fn fill_roster() -> Result<(), String> {
        let contact = Roster::by_legacy_id("example").map_err(|e| e.to_string())?;
        contact.set_name(Some("Example contact"));
        contact.set_presence(Show::Online, None, None);
        contact.add_to_roster().map_err(|e| e.to_string())
    }

    /// The user wrote to a contact: send it to the network here. This
    /// skeleton answers with the same text.
    fn on_text(contact: &Contact, message: TextMessage) -> Result<Option<String>, String> {
        contact
            .send_text(&format!("you said: {}", message.body))
            .map_err(|e| e.to_string())?;
        Ok(None)
    }
}

gatehouse_guest::export_plugin!(Gateway);
