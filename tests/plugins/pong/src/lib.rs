//! The smallest useful plugin, for the micro-benchmarks: `on-text` answers
//! with one `send-text` of the same body, and nothing else happens, so a
//! call measures the export, one host import and the SDK between them.

use gatehouse_guest::{Contact, NetworkInfo, Plugin, TextMessage};

struct Pong;

impl Plugin for Pong {
    fn gateway_info() -> NetworkInfo {
        NetworkInfo::new("Pong network", "pong")
    }

    fn login() -> Result<String, String> {
        Ok("pong".to_owned())
    }

    fn on_text(contact: &Contact, message: TextMessage) -> Result<Option<String>, String> {
        contact
            .send_text(&message.body)
            .map_err(|e| e.reason().to_owned())?;
        Ok(None)
    }
}

gatehouse_guest::export_plugin!(Pong);
