//! `admin/plugin`: the plugin's version and the gateway's limits.

use super::Completed;
use crate::gateway::Gateway;
use crate::stanza::commands::{self, NoteType};

impl Gateway {
    pub(super) fn plugin_report(&self) -> Completed {
        let config = &self.ctx.config;
        let info = &self.runtime.info;
        let values = [
            ("network", "Network", info.name.clone()),
            ("type", "Gateway type", info.network_type.clone()),
            ("file", "Plugin file", config.plugin.display().to_string()),
            ("sha256", "SHA-256", hex::encode(self.runtime.digest)),
            ("sessions", "Sessions", self.sessions.len().to_string()),
            (
                "memory_mb",
                "Memory per user (MiB)",
                config.memory_mb.to_string(),
            ),
            (
                "call_timeout_ms",
                "Time per call (ms)",
                config.call_timeout_ms.to_string(),
            ),
            (
                "storage_kb",
                "Key-value store per user (KiB)",
                config.storage_kb.to_string(),
            ),
            (
                "messages_per_second",
                "Texts per second per user",
                config.messages_per_second.to_string(),
            ),
            (
                "updates_per_second",
                "Presence, name and avatar changes per second per user",
                config.updates_per_second.to_string(),
            ),
            (
                "backlog_kb",
                "Waiting stanzas per user (KiB)",
                config.backlog_kb.to_string(),
            ),
            (
                "max_stanza_kb",
                "Largest stanza sent (KiB)",
                config.max_stanza_kb.to_string(),
            ),
            (
                "max_contacts",
                "Contacts per user",
                config.max_contacts.to_string(),
            ),
            ("max_text_kb", "Text (KiB)", config.max_text_kb.to_string()),
            (
                "max_avatar_kb",
                "Avatar (KiB)",
                config.max_avatar_kb.to_string(),
            ),
            (
                "max_vcard_kb",
                "Profile (KiB)",
                config.max_vcard_kb.to_string(),
            ),
            ("allow", "Network addresses", config.allow.join(", ")),
        ];
        Completed {
            note: (NoteType::Info, format!("{} plugin.", info.name)),
            form: Some(commands::result("Plugin", &values)),
        }
    }
}
