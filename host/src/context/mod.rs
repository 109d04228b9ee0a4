//! What every part of one gateway shares: its JID and settings, the way
//! out ([`Outbox`]), the database, the plugin's self-description, and the
//! services the gateway, its sessions and their rosters all use: stanza ids
//! (`ids`), the server's XEP-0356 grants (`privileges`) and roster-push
//! tracking (`pushes`).
//!
//! It sits below the gateway and the sessions, so that neither reaches up
//! into the other for them.

use std::sync::Arc;

use jid::{BareJid, Jid};
use tokio::sync::watch;
use xmpp_parsers::{
    message::Message,
    presence::{Presence, Show, Type as PresenceType},
};

mod ids;
mod privileges;
mod pushes;

pub use ids::StanzaIds;
pub use privileges::Grants;
pub use pushes::{Answered, SentPush, ServerRoster};

use crate::config::GatewayConfig;
use crate::plugin::GatewayInfo;
use crate::sender::Outbox;
use crate::stanza::{message, presence, privilege::Privileges};
use crate::store::Store;

/// What every part of a gateway shares.
pub struct GatewayContext {
    /// The component's JID.
    pub jid: BareJid,
    /// The way out: stanzas handed here leave once the database has
    /// committed what they acknowledge.
    pub outbox: Outbox,
    /// The database.
    pub store: Store,
    /// What the plugin said about its network.
    pub info: GatewayInfo,
    /// The operator's settings for this gateway.
    pub config: GatewayConfig,
    /// The TLS settings of plugins' streams.
    pub tls: Arc<tokio_rustls::rustls::ClientConfig>,
    /// XEP-0356 grants, per user domain.
    pub grants: Grants,
    /// Where the files plugins send are kept and served (`[files]`).
    pub files: Option<Arc<crate::files::Shelf>>,
    /// The gateway's stanza ids.
    ids: StanzaIds,
    /// Becomes true once the server had its chance to send its privileges
    /// after the first handshake, so that sessions do not log in (and fill
    /// rosters) before the gateway knows whether it may push roster items.
    settled: watch::Sender<bool>,
    /// Roster pushes awaiting the server's answer.
    pushes: pushes::Pushes,
}

impl GatewayContext {
    /// A new context; not settled until [`GatewayContext::settle`].
    pub fn new(
        config: GatewayConfig,
        jid: BareJid,
        outbox: Outbox,
        store: Store,
        info: GatewayInfo,
        tls: Arc<tokio_rustls::rustls::ClientConfig>,
    ) -> Self {
        GatewayContext {
            jid,
            outbox,
            store,
            info,
            config,
            tls,
            grants: Grants::default(),
            files: None,
            ids: StanzaIds::default(),
            settled: watch::channel(false).0,
            pushes: pushes::Pushes::default(),
        }
    }

    /// The same, keeping files on `shelf`.
    pub fn with_files(mut self, shelf: Option<Arc<crate::files::Shelf>>) -> Self {
        self.files = shelf;
        self
    }

    /// Whether `user` may register and have a session (`allow_users`).
    pub fn admits(&self, user: &BareJid) -> bool {
        crate::config::admitted(&self.config.allow_users, user)
    }

    /// The gateway's JID with this local part (a puppet's, a room's).
    pub fn jid_of(&self, username: &str) -> Option<jid::BareJid> {
        let node = jid::NodePart::new(username).ok()?;
        Some(jid::BareJid::from_parts(Some(&node), self.jid.domain()))
    }

    /// A fresh stanza id, unique across restarts.
    pub fn new_id(&self) -> String {
        self.ids.next()
    }

    /// Records what a server domain granted.
    pub fn set_privileges(&self, domain: &str, granted: Privileges) {
        tracing::info!(gateway = %self.jid, domain, ?granted, "privileges granted");
        self.grants.set(domain, granted);
    }

    /// Marks the privileges as known.
    pub fn settle(&self) {
        self.settled.send_replace(true);
    }

    /// Waits until the privileges are known.
    pub async fn wait_settled(&self) {
        let mut settled = self.settled.subscribe();
        // Err means the sender is gone: nothing will ever settle, go on.
        let _ = settled.wait_for(|s| *s).await;
    }

    /// A chat message from the gateway to a user.
    pub fn message_to(&self, user: &BareJid, text: &str) -> Message {
        message::gateway_text(
            self.jid.clone().into(),
            user.clone().into(),
            self.new_id(),
            text,
        )
    }

    /// The gateway's status presence to a user (or one of their clients).
    pub fn status_to(&self, to: Jid, show: Option<Show>, status: &str) -> Presence {
        presence::gateway_status(self.jid.clone().into(), to, show, status)
    }

    /// A presence of one of the subscription types (or `unavailable`)
    /// from the gateway.
    pub fn presence_to(&self, to: Jid, type_: PresenceType) -> Presence {
        presence::bare(type_, self.jid.clone().into(), to)
    }
}
