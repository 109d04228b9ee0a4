//! The contacts' place in the user's XMPP roster: added with a privileged
//! roster push (XEP-0356) when the server grants it, else with a
//! subscription request; removed the same way; pushed again on request;
//! and the pushes a kill left unconfirmed settled against the server's
//! roster. Whether a push was answered is tracked in `context::pushes`.

use jid::{BareJid, Jid};
use xmpp_parsers::presence::Type as PresenceType;

use super::{ContactId, Roster, RosterError};
use crate::sender::{Pace, Supersedes};
use crate::stanza::{presence, roster as roster_push};

impl Roster {
    /// Adds a contact to the user's XMPP roster: a privileged roster push if
    /// the server granted it, else a subscription request. A contact already
    /// there is not pushed again, even across restarts.
    pub fn add_to_roster(&mut self, id: ContactId) -> Result<(), RosterError> {
        let contact = self.contact_mut(id)?;
        if contact.in_roster {
            return Ok(());
        }
        contact.in_roster = true;
        let row_id = contact.row_id;
        let pushing = self.gateway.grants.can_push_roster(&self.user);
        // A push stays unconfirmed until the server answers: a kill between
        // the commit and the write would lose it, and the next login checks.
        self.gateway
            .store
            .set_contact_in_roster(row_id, true, pushing)?;
        if pushing {
            self.push_item(id, true);
            self.send_presence(id);
        } else {
            let contact = &self.contacts[id];
            self.out.send(presence::subscribe(
                contact.jid.clone().into(),
                self.user.clone().into(),
                contact.name.as_deref(),
            ));
        }
        Ok(())
    }

    /// Sends every contact in the roster to the user again, as
    /// `add_to_roster` first did (a push, or a subscription request), with
    /// its presence: the user's server may have lost what was pushed, or
    /// the user deleted a contact by mistake. Returns how many.
    pub fn push_all_again(&mut self) -> usize {
        let mut count = 0;
        for id in self.ids() {
            let contact = &self.contacts[id];
            if !contact.in_roster {
                continue;
            }
            count += 1;
            if self.gateway.grants.can_push_roster(&self.user) {
                self.push_item(id, true);
            } else {
                self.out.send(presence::subscribe(
                    contact.jid.clone().into(),
                    self.user.clone().into(),
                    contact.name.as_deref(),
                ));
            }
            self.send_presence(id);
        }
        count
    }

    /// The contacts whose push was unconfirmed when the roster was loaded
    /// (once).
    pub fn take_unconfirmed(&mut self) -> Vec<ContactId> {
        std::mem::take(&mut self.unconfirmed)
    }

    /// Settles unconfirmed pushes against the user's roster as the server
    /// has it (`None`: the server would not tell): a contact there is
    /// confirmed, any other is pushed again. Returns how many were pushed.
    pub fn settle_unconfirmed(
        &mut self,
        unconfirmed: &[ContactId],
        server_roster: Option<&std::collections::HashSet<BareJid>>,
    ) -> usize {
        let mut pushed = 0;
        for &id in unconfirmed {
            let Some(contact) = self.contacts.get(id) else {
                continue;
            };
            if !contact.in_roster {
                continue;
            }
            if server_roster.is_some_and(|roster| roster.contains(&contact.jid)) {
                if let Err(e) = self
                    .gateway
                    .store
                    .set_push_unconfirmed(contact.row_id, false)
                {
                    tracing::warn!(user = %self.user, error = %e, "cannot record a confirmed push");
                }
            } else {
                self.push_item(id, true);
                pushed += 1;
            }
        }
        pushed
    }

    /// Removes a contact from the user's XMPP roster.
    pub fn remove_from_roster(&mut self, id: ContactId) -> Result<(), RosterError> {
        let contact = self.contact_mut(id)?;
        if !contact.in_roster {
            return Ok(());
        }
        contact.in_roster = false;
        let row_id = contact.row_id;
        self.gateway
            .store
            .set_contact_in_roster(row_id, false, false)?;
        self.send_removal(id);
        Ok(())
    }

    /// Takes every contact out of the user's roster, for unregistration.
    pub fn remove_all(&mut self) {
        for id in self.ids() {
            if self.contacts[id].in_roster {
                self.contacts[id].in_roster = false;
                self.send_removal(id);
            }
        }
    }

    pub(super) fn send_removal(&mut self, id: ContactId) {
        let contact = &self.contacts[id];
        let to: Jid = self.user.clone().into();
        if self.gateway.grants.can_push_roster(&self.user) {
            self.out.send(roster_push::remove_item(
                self.gateway.jid.clone().into(),
                self.user.clone(),
                self.gateway.new_id(),
                contact.jid.clone(),
            ));
        } else {
            let from: Jid = contact.jid.clone().into();
            for type_ in [PresenceType::Unsubscribe, PresenceType::Unsubscribed] {
                self.out
                    .send(presence::bare(type_, from.clone(), to.clone()));
            }
        }
        self.out.paced(
            presence::bare(PresenceType::Unavailable, contact.full_jid(), to),
            Pace::Free,
            Some(Supersedes::Presence(contact.row_id)),
        );
    }

    /// Pushes a contact's roster item; `adding` when it is not (or may not
    /// be) in the user's roster yet, so that a refused push turns into a
    /// subscription request (a refused rename is just dropped).
    pub(super) fn push_item(&mut self, id: ContactId, adding: bool) {
        let contact = &self.contacts[id];
        let iq_id = self.gateway.new_id();
        self.gateway.track_push(
            iq_id.clone(),
            crate::context::SentPush {
                user: self.user.clone(),
                row_id: contact.row_id,
                contact: contact.jid.clone(),
                name: contact.name.clone(),
                adding,
            },
        );
        // Adding is bounded by max_contacts; a rename is a change the
        // plugin could repeat without end, paced like presences.
        let pace = if adding { Pace::Free } else { Pace::Update };
        self.out.paced(
            roster_push::push_item(
                self.gateway.jid.clone().into(),
                self.user.clone(),
                iq_id,
                contact.jid.clone(),
                contact.name.as_deref(),
                &self.gateway.info.name,
            ),
            pace,
            None,
        );
    }
}
