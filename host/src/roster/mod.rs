//! slidge's `LegacyRoster` and `LegacyContact`: a user's contacts on the
//! legacy network, each shown in XMPP as a puppet JID of the gateway.
//!
//! A contact is a singleton per session: looked up by legacy id, by JID or
//! by the stanza addressed to it, always the same entry. The roster is
//! host-held state: it outlives plugin instances (a crash or a reload does
//! not lose it) and is written through to the database, so that a restart
//! neither forgets a contact nor pushes it into the user's roster again.
//!
//! Operations produce the stanzas they mean (roster pushes, presences,
//! messages from puppets) into the roster's [`Batch`], each with the rate
//! it spends from; after each call the session moves them into the user's
//! queue at the gateway's sender ([`crate::sender`]), which paces them.
//! The plugin's calls are refused only once that queue is full.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use jid::{BareJid, Jid};
use xmpp_parsers::presence::Type as PresenceType;

use crate::context::GatewayContext;
use crate::sender::{Batch, Pace, Rates, SessionQueue, Supersedes};
use crate::stanza::{
    avatar, escape,
    presence::{self, ContactPresence},
    vcard::VCard,
};
use crate::store::{StoreError, UserRow};

mod items;
mod messages;
mod profile;

pub use messages::SendText;
pub(crate) use profile::{avatar_info, avatar_row};

/// The resource of every puppet's full JID: chat states and other
/// per-device features need a full JID to come from.
pub const PUPPET_RESOURCE: &str = "gatehouse";

/// Why a roster operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum RosterError {
    /// No such contact.
    #[error("{0}")]
    NotFound(String),
    /// An argument that cannot be used.
    #[error("{0}")]
    Invalid(String),
    /// A limit the operator set was reached.
    #[error("{0}")]
    LimitExceeded(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The longest legacy id (of a contact or a message) the gateway takes.
pub const MAX_ID_BYTES: usize = 1024;

/// The most reactions one `react` may set, and their bytes in all.
pub const MAX_REACTIONS: usize = 32;
/// The most bytes the reactions of one `react` may have in all.
pub const MAX_REACTION_BYTES: usize = 1024;

/// The JID local part of a new contact or room: `given`, if the plugin
/// maps ids itself, else the XEP-0106 escape of the legacy id.
pub(crate) fn local_part(legacy_id: &str, given: Option<&str>) -> Result<String, RosterError> {
    match given {
        Some(given) => escape::prepare_username(given).ok_or_else(|| {
            RosterError::Invalid(format!("{given:?} is not a valid JID local part"))
        }),
        None => escape::jid_username(legacy_id).map_err(|e| RosterError::Invalid(e.to_string())),
    }
}

/// A contact's index in its session's roster; stable for the session's life.
pub type ContactId = usize;

/// One legacy contact.
#[derive(Debug, Clone)]
pub struct Contact {
    /// Its database row id.
    pub row_id: i64,
    /// The contact's id on the legacy network.
    pub legacy_id: String,
    /// Its puppet's bare JID.
    pub jid: BareJid,
    /// The name shown in the roster.
    pub name: Option<String>,
    /// Whether it is in the user's XMPP roster.
    pub in_roster: bool,
    /// Its last presence, if the plugin set one.
    pub presence: Option<ContactPresence>,
    /// The SHA-1 of its avatar, if it has one.
    pub avatar_hash: Option<String>,
    /// The network's id for that avatar.
    pub avatar_unique_id: Option<String>,
    /// Its profile, if set.
    pub vcard: Option<VCard>,
    /// Whether the plugin was asked for (or gave) the profile.
    pub vcard_fetched: bool,
}

impl Contact {
    /// The puppet's full JID, the sender of its messages and presences.
    pub fn full_jid(&self) -> Jid {
        match self.jid.with_resource_str(PUPPET_RESOURCE) {
            Ok(full) => full.into(),
            Err(_) => self.jid.clone().into(),
        }
    }
}

/// Bytes of stanzas one call may pile up before they move to the user's
/// queue (see [`Roster::room_for`]).
const OUT_FLUSH_BYTES: usize = 64 * 1024;

/// The contacts of one user of one gateway.
pub struct Roster {
    gateway: Arc<GatewayContext>,
    user_id: i64,
    user: BareJid,
    contacts: Vec<Contact>,
    by_legacy_id: HashMap<String, ContactId>,
    by_username: HashMap<String, ContactId>,
    /// The JID local parts the user's rooms have: a contact never takes
    /// one (rooms and contacts share the gateway's JIDs).
    rooms: std::collections::HashSet<String>,
    /// Ids of the messages recently sent as the user (XEP-0356): the server
    /// routes them back to the puppet, and they must not reach the plugin.
    sent_as_user: VecDeque<String>,
    /// The user's message `on-text` is handling, as (contact, XMPP id).
    handling: Option<(ContactId, String)>,
    /// Contacts created since the session last asked: each gets one
    /// `update-contact-info` call once the running export returns.
    created: Vec<ContactId>,
    /// The user's queue at the gateway's sender.
    queue: Arc<SessionQueue>,
    /// When a full queue was last logged (refusals come in floods).
    full_logged: Option<std::time::Instant>,
    /// Contacts whose roster push the server had not confirmed when the
    /// roster was loaded: checked against the user's roster at login.
    unconfirmed: Vec<ContactId>,
    /// The stanzas operations produced, not taken yet.
    out: Batch,
}

impl Roster {
    /// The roster of a user, as the database remembers it.
    pub fn load(gateway: Arc<GatewayContext>, user: &UserRow) -> Result<Self, RosterError> {
        let user_jid = BareJid::new(&user.jid)
            .map_err(|e| RosterError::Invalid(format!("stored user JID {}: {e}", user.jid)))?;
        let queue = gateway.outbox.session_queue(
            user_jid.clone(),
            Rates {
                messages_per_second: gateway.config.messages_per_second,
                updates_per_second: gateway.config.updates_per_second,
            },
        );
        let mut roster = Roster {
            gateway,
            user_id: user.id,
            user: user_jid,
            contacts: Vec::new(),
            by_legacy_id: HashMap::new(),
            by_username: HashMap::new(),
            rooms: std::collections::HashSet::new(),
            sent_as_user: VecDeque::new(),
            handling: None,
            created: Vec::new(),
            queue,
            full_logged: None,
            unconfirmed: Vec::new(),
            out: Batch::default(),
        };
        for row in roster.gateway.store.contacts(user.id)? {
            let Some(jid) = roster.gateway.jid_of(&row.jid_username) else {
                tracing::warn!(user = %roster.user, username = row.jid_username, "skipping a stored contact with a bad JID");
                continue;
            };
            let vcard = row
                .vcard
                .as_deref()
                .and_then(|json| serde_json::from_str(json).ok());
            let unconfirmed = row.in_roster && row.push_unconfirmed;
            let id = roster.insert(Contact {
                row_id: row.id,
                legacy_id: row.legacy_id,
                jid,
                name: row.name,
                in_roster: row.in_roster,
                presence: None,
                avatar_hash: row.avatar_hash,
                avatar_unique_id: row.avatar_unique_id,
                vcard,
                vcard_fetched: row.vcard_fetched,
            });
            if unconfirmed {
                roster.unconfirmed.push(id);
            }
        }
        Ok(roster)
    }

    /// The user this roster belongs to.
    pub fn user(&self) -> &BareJid {
        &self.user
    }

    /// The user's database row id.
    pub fn user_id(&self) -> i64 {
        self.user_id
    }

    /// Moves the stanzas the operations so far produced into the user's
    /// queue at the sender, in order.
    pub fn flush_out(&mut self) {
        self.queue.push(self.out.take());
    }

    /// Whether the user's waiting stanzas fill half the backlog: the
    /// session then stops handing the plugin network data, so that its
    /// streams stop reading and the legacy peer is held back by TCP, long
    /// before the plugin's own messages would be refused.
    pub fn behind(&self) -> bool {
        let held = self.out.bytes() + self.queue.bytes();
        held >= self.gateway.config.backlog_kb as usize * 512
    }

    /// Refuses `what` when the user's queue already holds `backlog_kb`:
    /// the plugin sends faster than its rates let out, for long.
    pub(crate) fn room_for(&mut self, what: &str) -> Result<(), RosterError> {
        // A long call's stanzas move to the queue as they pile up, where
        // a contact's newer presence replaces its older one: a call that
        // sets a presence 100 000 times holds one, not 100 000.
        if self.out.bytes() >= OUT_FLUSH_BYTES {
            self.flush_out();
        }
        let held = self.out.bytes() + self.queue.bytes();
        let cap_kb = self.gateway.config.backlog_kb;
        if held < cap_kb as usize * 1024 {
            return Ok(());
        }
        crate::metrics::METRICS
            .outgoing_refused
            .get_or_create(&vec![("gateway", self.gateway.jid.to_string())])
            .inc();
        let now = std::time::Instant::now();
        if self
            .full_logged
            .is_none_or(|at| now.duration_since(at).as_secs() >= 1)
        {
            self.full_logged = Some(now);
            tracing::warn!(gateway = %self.gateway.jid, user = %self.user, held, cap_kb, "the user's outgoing queue is full: refusing the plugin's stanzas");
        }
        Err(RosterError::LimitExceeded(format!(
            "{what} cannot be queued: this user's {cap_kb} KiB of waiting stanzas are full (the plugin sends faster than messages_per_second/updates_per_second let out)"
        )))
    }

    /// The first stanza produced and not taken yet (for tests).
    pub fn take_first_outgoing(&mut self) -> Option<xmpp_parsers::stanza::Stanza> {
        self.out.take_first()
    }

    /// Queues a stanza behind those the roster produced (for the session's
    /// own, so that the order is kept).
    pub fn send(&mut self, stanza: impl Into<xmpp_parsers::stanza::Stanza>) {
        self.out.send(stanza);
    }

    /// Queues a stanza that spends from a rate, behind those the roster
    /// produced (for the groups' stanzas, which share the user's queue).
    pub(crate) fn paced(&mut self, stanza: impl Into<xmpp_parsers::stanza::Stanza>, pace: Pace) {
        self.out.paced(stanza, pace, None);
    }

    /// A contact by index.
    pub fn get(&self, id: ContactId) -> Option<&Contact> {
        self.contacts.get(id)
    }

    /// Every contact's index.
    pub fn ids(&self) -> std::ops::Range<ContactId> {
        0..self.contacts.len()
    }

    /// The known contact with this legacy id.
    pub fn known(&self, legacy_id: &str) -> Option<ContactId> {
        self.by_legacy_id.get(legacy_id).copied()
    }

    /// The contact with this legacy id, created (and stored) on first use.
    /// Its JID local part is `username` if the plugin maps ids itself, else
    /// the XEP-0106 escape of the id.
    pub fn by_legacy_id(
        &mut self,
        legacy_id: &str,
        username: Option<&str>,
    ) -> Result<ContactId, RosterError> {
        if let Some(&id) = self.by_legacy_id.get(legacy_id) {
            return Ok(id);
        }
        self.id_within_limit("a contact's legacy id", legacy_id)?;
        let username = local_part(legacy_id, username)?;
        let cap = self.gateway.config.max_contacts;
        if self.contacts.len() >= cap as usize {
            tracing::warn!(gateway = %self.gateway.jid, user = %self.user, legacy_id, "contact refused: max_contacts reached");
            return Err(RosterError::LimitExceeded(format!(
                "this user has the most contacts the gateway allows ({cap})"
            )));
        }
        if self.rooms.contains(&username) {
            return Err(RosterError::Invalid(format!(
                "the JID local part {username:?} of contact {legacy_id:?} is a group's; \
                 map them apart with the plugin's legacy-id-to-jid-username"
            )));
        }
        if let Some(&other) = self.by_username.get(&username) {
            let other = &self.contacts[other].legacy_id;
            return Err(RosterError::Invalid(format!(
                "legacy ids {other:?} and {legacy_id:?} both map to the JID local part {username:?}; \
                 map them apart with the plugin's legacy-id-to-jid-username"
            )));
        }
        let jid = self
            .gateway
            .jid_of(&username)
            .ok_or_else(|| RosterError::Invalid(format!("{username:?} makes no valid JID")))?;
        let row_id = self
            .gateway
            .store
            .insert_contact(self.user_id, legacy_id, &username)?;
        let id = self.insert(Contact {
            row_id,
            legacy_id: legacy_id.to_owned(),
            jid,
            name: None,
            in_roster: false,
            presence: None,
            avatar_hash: None,
            avatar_unique_id: None,
            vcard: None,
            vcard_fetched: false,
        });
        self.created.push(id);
        Ok(id)
    }

    /// Notes a room's JID local part, which no contact may take.
    pub(crate) fn reserve_for_room(&mut self, username: &str) {
        self.rooms.insert(username.to_owned());
    }

    /// The known contact whose puppet has this local part.
    pub fn by_username(&self, username: &str) -> Option<ContactId> {
        let prepared = escape::prepare_username(username)?;
        self.by_username.get(&prepared).copied()
    }

    /// The contact behind a puppet JID: a known one, or one created with the
    /// default (XEP-0106) mapping.
    pub fn by_jid(&mut self, jid: &str) -> Result<ContactId, RosterError> {
        let parsed = Jid::new(jid).map_err(|e| RosterError::Invalid(format!("{jid:?}: {e}")))?;
        if parsed.domain() != self.gateway.jid.domain() {
            return Err(RosterError::NotFound(format!(
                "{jid} is not a JID of this gateway"
            )));
        }
        let Some(node) = parsed.node() else {
            return Err(RosterError::NotFound(format!(
                "{jid} is the gateway, not a contact"
            )));
        };
        match self.by_username(node.as_str()) {
            Some(id) => Ok(id),
            None => {
                let legacy_id = escape::unescape(node.as_str());
                self.by_legacy_id(&legacy_id, Some(node.as_str()))
            }
        }
    }

    /// Sets a contact's name; re-pushes the roster item if it changed and
    /// the contact is in the roster.
    pub fn set_name(&mut self, id: ContactId, name: Option<String>) -> Result<(), RosterError> {
        if let Some(name) = &name {
            self.within_limit(
                "a contact name",
                name.len(),
                self.gateway.config.max_text_kb,
            )?;
        }
        self.room_for("a contact name")?;
        let contact = self.contact_mut(id)?;
        if contact.name == name {
            return Ok(());
        }
        contact.name = name;
        let (row_id, in_roster) = (contact.row_id, contact.in_roster);
        self.gateway
            .store
            .set_contact_name(row_id, self.contacts[id].name.as_deref())?;
        if in_roster {
            if self.gateway.grants.can_push_roster(&self.user) {
                self.push_item(id, false);
            }
            if let Some(name) = &self.contacts[id].name {
                self.out.paced(
                    avatar::nick_event(
                        self.contacts[id].jid.clone(),
                        self.user.clone().into(),
                        name,
                    ),
                    Pace::Update,
                    Some(Supersedes::Nick(row_id)),
                );
            }
        }
        Ok(())
    }

    /// Sets a contact's presence: remembered, and sent if it is in the roster.
    pub fn set_presence(
        &mut self,
        id: ContactId,
        presence: ContactPresence,
    ) -> Result<(), RosterError> {
        if let Some(status) = &presence.status {
            self.within_limit("a status", status.len(), self.gateway.config.max_text_kb)?;
        }
        self.room_for("a presence")?;
        let contact = self.contact_mut(id)?;
        if contact.presence.as_ref() == Some(&presence) {
            return Ok(());
        }
        contact.presence = Some(presence);
        if contact.in_roster {
            self.send_presence(id);
        }
        Ok(())
    }

    /// Answers a presence probe (or a new subscription) from the user with
    /// the contact's last presence.
    pub fn send_presence(&mut self, id: ContactId) {
        let Some(contact) = self.contacts.get(id) else {
            return;
        };
        let to: Jid = self.user.clone().into();
        let stanza = match &contact.presence {
            Some(p) => {
                let mut stanza = p.to_stanza(contact.full_jid(), to);
                if stanza.type_ == PresenceType::None {
                    stanza
                        .payloads
                        .push(avatar::photo_update(contact.avatar_hash.as_deref()));
                }
                stanza
            }
            None => presence::bare(PresenceType::Unavailable, contact.full_jid(), to),
        };
        let row_id = contact.row_id;
        self.out
            .paced(stanza, Pace::Update, Some(Supersedes::Presence(row_id)));
    }

    /// Shows every contact in the roster offline, for a session that ends
    /// (the gateway stops, or the user registers again): the user's client
    /// would show them online forever otherwise.
    pub fn all_offline(&mut self) {
        let to: Jid = self.user.clone().into();
        for contact in self.contacts.iter().filter(|c| c.in_roster) {
            self.out.paced(
                presence::bare(PresenceType::Unavailable, contact.full_jid(), to.clone()),
                Pace::Free,
                Some(Supersedes::Presence(contact.row_id)),
            );
        }
    }

    /// Refuses (and logs) `what` of `bytes` past a `*_kb` cap of the
    /// operator's.
    pub(crate) fn within_limit(
        &self,
        what: &str,
        bytes: usize,
        cap_kb: u32,
    ) -> Result<(), RosterError> {
        if bytes <= cap_kb as usize * 1024 {
            return Ok(());
        }
        tracing::warn!(gateway = %self.gateway.jid, user = %self.user, what, bytes, cap_kb, "refused: over the size limit");
        Err(RosterError::LimitExceeded(format!(
            "{what} of {bytes} bytes is over the gateway's {cap_kb} KiB limit"
        )))
    }

    /// Refuses (and logs) an id (a contact's, a message's) longer than
    /// [`MAX_ID_BYTES`]: ids travel in stanza attributes and the database,
    /// and one oversized stanza would make the server drop the link.
    pub(crate) fn id_within_limit(&self, what: &str, id: &str) -> Result<(), RosterError> {
        if id.len() <= MAX_ID_BYTES {
            return Ok(());
        }
        let bytes = id.len();
        tracing::warn!(gateway = %self.gateway.jid, user = %self.user, what, bytes, "refused: an id over the size limit");
        Err(RosterError::LimitExceeded(format!(
            "{what} of {bytes} bytes is over the gateway's {MAX_ID_BYTES}-byte limit for ids"
        )))
    }

    /// Refuses a reaction list past [`MAX_REACTIONS`] or
    /// [`MAX_REACTION_BYTES`] (to a contact's message or a room's).
    pub(crate) fn reactions_within_limit(&self, emojis: &[String]) -> Result<(), RosterError> {
        let bytes: usize = emojis.iter().map(String::len).sum();
        if emojis.len() > MAX_REACTIONS || bytes > MAX_REACTION_BYTES {
            return Err(RosterError::LimitExceeded(format!(
                "{} reactions of {bytes} bytes are over the gateway's limit ({MAX_REACTIONS} reactions, {MAX_REACTION_BYTES} bytes)",
                emojis.len()
            )));
        }
        Ok(())
    }

    /// The contacts created since the last call, for `update-contact-info`.
    pub fn take_created(&mut self) -> Vec<ContactId> {
        std::mem::take(&mut self.created)
    }

    fn contact(&self, id: ContactId) -> Result<&Contact, RosterError> {
        self.contacts
            .get(id)
            .ok_or_else(|| RosterError::NotFound(format!("no contact #{id}")))
    }

    fn contact_mut(&mut self, id: ContactId) -> Result<&mut Contact, RosterError> {
        self.contacts
            .get_mut(id)
            .ok_or_else(|| RosterError::NotFound(format!("no contact #{id}")))
    }

    fn insert(&mut self, contact: Contact) -> ContactId {
        let id = self.contacts.len();
        self.by_legacy_id.insert(contact.legacy_id.clone(), id);
        if let Some(node) = contact.jid.node() {
            self.by_username.insert(node.as_str().to_owned(), id);
        }
        self.contacts.push(contact);
        id
    }
}
