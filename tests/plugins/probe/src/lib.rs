//! A plugin for the host's tests: its contacts get their names from
//! `update-contact-info`, numbered by how many times it ran for them, so
//! that a test sees when (and how often) the host calls it.

use gatehouse_guest::{Contact, NetworkInfo, Plugin, Roster, session};

struct Probe;

impl Plugin for Probe {
    fn gateway_info() -> NetworkInfo {
        NetworkInfo::new("Probe network", "probe").field_required("username", "User name")
    }

    fn login() -> Result<String, String> {
        Ok("probing".to_owned())
    }

    /// Two contacts, added without names.
    fn fill_roster() -> Result<(), String> {
        for id in ["a", "b"] {
            let contact = Roster::by_legacy_id(id).map_err(|e| e.to_string())?;
            contact.add_to_roster().map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn update_contact_info(contact: &Contact) -> Result<(), String> {
        let id = contact.legacy_id();
        let key = format!("updates:{id}");
        let count = session::kv_get(&key)
            .and_then(|v| String::from_utf8(v).ok())
            .and_then(|s| s.parse::<u32>().ok())
            .unwrap_or(0)
            + 1;
        session::kv_set(&key, count.to_string().as_bytes()).map_err(|e| e.to_string())?;
        contact.set_name(Some(&format!("{id} updated {count}")));
        Ok(())
    }
}

gatehouse_guest::export_plugin!(Probe);
