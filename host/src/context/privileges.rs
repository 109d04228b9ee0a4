//! What each user's server granted the gateway (XEP-0356), per domain.

use std::collections::HashMap;
use std::sync::RwLock;

use jid::BareJid;

use crate::stanza::privilege::{Privileges, RosterAccess};

/// The grants of every server domain that sent some.
#[derive(Debug, Default)]
pub struct Grants {
    by_domain: RwLock<HashMap<String, Privileges>>,
}

impl Grants {
    /// Records what a server domain granted.
    pub fn set(&self, domain: &str, granted: Privileges) {
        let mut grants = self.by_domain.write().unwrap_or_else(|p| p.into_inner());
        grants.insert(domain.to_owned(), granted);
    }

    /// Whether the user's server lets the gateway write their roster.
    pub fn can_push_roster(&self, user: &BareJid) -> bool {
        let grants = self.by_domain.read().unwrap_or_else(|p| p.into_inner());
        grants
            .get(user.domain().as_str())
            .is_some_and(|p| p.roster.can_set())
    }

    /// If the user's server lets the gateway send messages as them, the
    /// namespace to wrap them in.
    pub fn send_as_user_namespace(&self, user: &BareJid) -> Option<&'static str> {
        let grants = self.by_domain.read().unwrap_or_else(|p| p.into_inner());
        grants
            .get(user.domain().as_str())
            .filter(|p| p.message_outgoing)
            .map(|p| p.namespace)
    }

    /// Whether the user's server lets the gateway publish to their PEP as
    /// them (their bookmarks).
    pub fn can_publish_pep(&self, user: &BareJid) -> bool {
        let grants = self.by_domain.read().unwrap_or_else(|p| p.into_inner());
        grants
            .get(user.domain().as_str())
            .is_some_and(|p| p.pubsub_set)
    }

    /// Takes roster writing away from a domain that refuses it; true if it
    /// had it until now.
    pub fn revoke_roster(&self, domain: &str) -> bool {
        let mut grants = self.by_domain.write().unwrap_or_else(|p| p.into_inner());
        match grants.get_mut(domain) {
            Some(granted) if granted.roster.can_set() => {
                granted.roster = RosterAccess::None;
                true
            }
            _ => false,
        }
    }
}
