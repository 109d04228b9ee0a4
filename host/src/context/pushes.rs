//! Roster-push tracking, in one place: the pushes awaiting the user's
//! server's answer, what an answer does (the push is confirmed in the
//! database; a refusal turns pushes off for the domain), and the roster
//! requests that settle, at the next login, the pushes a kill left
//! unanswered. What to push is the roster's; when to check, the session's.
//!
//! A server may grant the roster privilege (XEP-0356) and still fail every
//! push: ejabberd before 23.10 (Debian 12 ships 23.01) answers each with
//! `internal-server-error` (processone/ejabberd#3942). A refused push would
//! leave the contact out of the user's roster for good, since the host
//! counts it as added; so the first refusal from a domain turns roster
//! pushes off for that domain (every later contact gets a subscription
//! request instead, as without the privilege) and the refused contact gets
//! its subscription request at once.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use jid::BareJid;
use xmpp_parsers::iq::Iq;

use super::GatewayContext;
use crate::stanza::presence;

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

/// The user's roster as their server has it: the JIDs in it, or None when
/// the server would not say.
pub type ServerRoster = Option<HashSet<BareJid>>;

/// What an answer to one of the gateway's requests was about.
#[derive(Debug)]
pub enum Answered {
    /// Nothing this module asked (a keepalive, the settle ping…).
    Other,
    /// A roster push, now settled.
    Push,
    /// A user's roster, asked for to settle their unconfirmed pushes.
    Roster(BareJid, ServerRoster),
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

impl GatewayContext {
    /// Remembers a roster push, to act on its answer.
    pub fn track_push(&self, id: String, push: SentPush) {
        self.pushes.sent(id, push);
    }

    /// A request for the user's roster (XEP-0356 roster get), whose answer
    /// [`GatewayContext::answered`] hands back.
    pub fn roster_request(&self, user: &BareJid) -> Iq {
        let id = self.ids.next();
        self.pushes.asked_roster(id.clone(), user.clone());
        Iq::from_get(
            id,
            xmpp_parsers::roster::Roster {
                ver: None,
                items: vec![],
            },
        )
        .with_from(self.jid.clone().into())
        .with_to(user.clone().into())
    }

    /// An answer (an iq result or error) from a server. A push's answer
    /// confirms it; a refused push stops roster pushes to that domain (see
    /// above) and, if it added the contact, offers the contact as a
    /// subscription request instead.
    pub fn answered(&self, iq: &Iq) -> Answered {
        let (id, from, refused) = match iq {
            Iq::Result { id, from, .. } => (id, from, false),
            Iq::Error { id, from, .. } => (id, from, true),
            Iq::Get { .. } | Iq::Set { .. } => return Answered::Other,
        };
        // Only the user's own server answers for the user, from the user's
        // bare JID: an answer from anyone else (the user's own client
        // included), with a guessed id, is left unmatched.
        let from_user = |user: &BareJid| {
            from.as_ref()
                .is_some_and(|f| f.resource().is_none() && f.to_bare() == *user)
        };
        if let Some(user) = self.pushes.roster_answered(id) {
            if !from_user(&user) {
                self.pushes.asked_roster(id.clone(), user);
                return Answered::Other;
            }
            return Answered::Roster(user, server_roster(iq));
        }
        let Some(push) = self.pushes.answered(id) else {
            return Answered::Other;
        };
        if !from_user(&push.user) {
            tracing::warn!(gateway = %self.jid, ?from, user = %push.user, "a roster push answered by someone else: ignored");
            self.pushes.sent(id.clone(), push);
            return Answered::Other;
        }
        // Answered either way: a refused addition becomes a subscription
        // request below, which needs no checking at the next login.
        if let Err(e) = self.store.set_push_unconfirmed(push.row_id, false) {
            tracing::warn!(gateway = %self.jid, error = %e, "cannot record a push's answer");
        }
        if !refused {
            return Answered::Push;
        }
        let domain = push.user.domain().as_str();
        if self.grants.revoke_roster(domain) {
            tracing::warn!(gateway = %self.jid, domain, "the server refuses roster pushes it granted: sending subscription requests instead");
        }
        if push.adding {
            tracing::info!(gateway = %self.jid, user = %push.user, contact = %push.contact, "roster push refused: asking to subscribe instead");
            self.outbox.send(presence::subscribe(
                push.contact.into(),
                push.user.into(),
                push.name.as_deref(),
            ));
        }
        Answered::Push
    }
}

/// The JIDs in a roster the server sent (None: it refused, or sent none).
fn server_roster(iq: &Iq) -> ServerRoster {
    let Iq::Result {
        payload: Some(payload),
        ..
    } = iq
    else {
        return None;
    };
    let roster = xmpp_parsers::roster::Roster::try_from(payload.clone()).ok()?;
    Some(
        roster
            .items
            .into_iter()
            .filter(|item| item.subscription != xmpp_parsers::roster::Subscription::Remove)
            .map(|item| item.jid)
            .collect(),
    )
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
