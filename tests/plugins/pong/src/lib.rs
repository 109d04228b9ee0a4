//! The smallest useful plugin, for the micro-benchmarks: `on-text` answers
//! with one `send-text` of the same body, and nothing else happens, so a
//! call measures the export, one host import and the SDK between them.

use gatehouse_guest::{Contact, Error, NetworkInfo, Plugin, TextMessage};

struct Pong;

impl Plugin for Pong {
    fn new() -> Self {
        Pong
    }

    fn gateway_info(&mut self) -> NetworkInfo {
        NetworkInfo::new("Pong network", "pong")
    }

    fn login(&mut self) -> Result<String, Error> {
        Ok("pong".to_owned())
    }

    fn on_text(&mut self, contact: Contact, message: TextMessage) -> Result<Option<String>, Error> {
        // The host's reason alone, without its kind.
        contact
            .send_text(&message.body)
            .map_err(|e| Error::new(e.reason()))?;
        Ok(None)
    }
}

gatehouse_guest::export_plugin!(Pong);
