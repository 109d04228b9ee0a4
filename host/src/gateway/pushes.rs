//! Roster pushes awaiting the user's server's answer, and what to do when
//! one is refused; and the roster requests that settle, at the next login,
//! the pushes a kill left unanswered.
//!
//! A server may grant the roster privilege (XEP-0356) and still fail every
//! push: ejabberd before 23.10 (Debian 12 ships 23.01) answers each with
//! `internal-server-error` (processone/ejabberd#3942). A refused push would
//! leave the contact out of the user's roster for good, since the host
//! counts it as added; so the first refusal from a domain turns roster
//! pushes off for that domain (every later contact gets a subscription
//! request instead, as without the privilege) and the refused contact gets
//! its subscription request at once.

use std::collections::HashMap;
use std::sync::Mutex;

use jid::BareJid;

/// At most this many pushes are tracked at once; past it (a server that
/// never answers) new pushes go untracked rather than grow the table.
const MAX_TRACKED: usize = 100_000;

/// A push the server has not answered yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentPush {
    /// Whose roster.
    pub user: BareJid,
    /// The contact's database row.
    pub row_id: i64,
    /// The contact pushed.
    pub contact: BareJid,
    /// The name it was pushed with.
    pub name: Option<String>,
    /// Whether the push adds the contact (rather than renames it): only
    /// an addition becomes a subscription request when refused.
    pub adding: bool,
}

/// The pushes and roster requests awaiting answers, by iq id.
#[derive(Debug, Default)]
pub struct Pushes {
    pushes: Mutex<HashMap<String, SentPush>>,
    /// Roster requests (XEP-0356 roster get), by iq id: whose roster.
    gets: Mutex<HashMap<String, BareJid>>,
}

impl Pushes {
    /// Remembers a push sent with iq id `id`.
    pub fn sent(&self, id: String, push: SentPush) {
        let mut pushes = self.pushes.lock().unwrap_or_else(|p| p.into_inner());
        if pushes.len() < MAX_TRACKED {
            pushes.insert(id, push);
        }
    }

    /// The push an answer with iq id `id` is about, if it is one.
    pub fn answered(&self, id: &str) -> Option<SentPush> {
        let mut pushes = self.pushes.lock().unwrap_or_else(|p| p.into_inner());
        pushes.remove(id)
    }

    /// Remembers a request for `user`'s roster sent with iq id `id`.
    pub fn asked_roster(&self, id: String, user: BareJid) {
        let mut gets = self.gets.lock().unwrap_or_else(|p| p.into_inner());
        if gets.len() < MAX_TRACKED {
            gets.insert(id, user);
        }
    }

    /// Whose roster an answer with iq id `id` carries, if it is one.
    pub fn roster_answered(&self, id: &str) -> Option<BareJid> {
        let mut gets = self.gets.lock().unwrap_or_else(|p| p.into_inner());
        gets.remove(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_matched_once() {
        let pushes = Pushes::default();
        let push = SentPush {
            user: BareJid::new("romeo@localhost").unwrap(),
            row_id: 1,
            contact: BareJid::new("c0@gw.localhost").unwrap(),
            name: Some("Contact 0".into()),
            adding: true,
        };
        pushes.sent("p1".into(), push.clone());
        assert_eq!(pushes.answered("other"), None);
        assert_eq!(pushes.answered("p1"), Some(push));
        assert_eq!(pushes.answered("p1"), None);
    }
}
