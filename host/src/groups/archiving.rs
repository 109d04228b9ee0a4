//! What goes into a room's archive and what a join gets back from it:
//! each message as it was sent, in date order (a live one never before
//! what is archived already), within the user's `max_archive_messages`
//! (past it the oldest go, and history from `backfill` is refused), a
//! retracted message's content replaced by its tombstone; and the history
//! a join asks for. MAM's side is `archive`.

use jid::Jid;
use minidom::Element;
use xmpp_parsers::{delay::Delay, message::Message};

use super::{RoomId, Rooms};
use crate::roster::RosterError;
use crate::stanza::{chars, muc::HistoryRequest, ns, presence::timestamp, retraction};
use crate::store::{ArchivePage, ArchiveRow, unix_now};

/// How many archived messages a join gets when the client does not say.
pub const DEFAULT_HISTORY: u32 = 20;
/// The most a join gets, whatever the client asks.
pub const MAX_HISTORY: u32 = 100;

/// An archived message's date: the one it carries, and whether it goes
/// out live (then never before what is archived already).
#[derive(Debug, Clone, Copy)]
pub(super) struct Dated {
    pub(super) when: Option<u64>,
    pub(super) live: bool,
}

impl Rooms {
    /// The oldest archived message's legacy id and date, for `backfill`.
    pub fn oldest(&self, room: RoomId) -> Result<Option<(Option<String>, u64)>, RosterError> {
        let r = self.room(room)?;
        Ok(self
            .gateway
            .store
            .archive_oldest(r.row_id)?
            .map(|row| (row.legacy_id, u64::try_from(row.at).unwrap_or(0))))
    }

    /// The history a join asked for (at most [`MAX_HISTORY`] messages,
    /// the newest), to `to`, each dated.
    pub(super) fn history(
        &self,
        room: RoomId,
        request: &HistoryRequest,
        to: &Jid,
    ) -> Result<Vec<Message>, RosterError> {
        let r = self.room(room)?;
        let count = match request.maxchars {
            Some(0) => 0,
            _ => request
                .maxstanzas
                .unwrap_or(DEFAULT_HISTORY)
                .min(MAX_HISTORY),
        };
        if count == 0 {
            return Ok(Vec::new());
        }
        let since = request.since.or_else(|| {
            request
                .seconds
                .map(|s| unix_now().saturating_sub(i64::from(s)))
        });
        let page = ArchivePage {
            start: since,
            backwards: true,
            max: count,
            ..ArchivePage::default()
        };
        let (rows, _) = self.gateway.store.archive_page(r.row_id, &page)?;
        let mut messages = Vec::with_capacity(rows.len());
        for row in rows {
            let Some(mut message) = parse_archived(&row) else {
                tracing::warn!(room = %r.jid, id = row.id, "an archived message does not parse");
                continue;
            };
            message.to = Some(to.clone());
            if !message.payloads.iter().any(|p| p.is("delay", ns::DELAY))
                && let Some(stamp) = u64::try_from(row.at).ok().and_then(timestamp)
            {
                message.payloads.push(
                    Delay {
                        from: Some(r.jid.clone().into()),
                        stamp,
                        data: None,
                    }
                    .into(),
                );
            }
            messages.push(message);
        }
        Ok(messages)
    }

    pub(super) fn archive_as(
        &mut self,
        room: RoomId,
        message: &Message,
        stanza_id: &str,
        xmpp_id: &str,
        legacy_id: Option<&str>,
        dated: Dated,
    ) -> Result<(), RosterError> {
        let row_id = self.room(room)?.row_id;
        let mut at = dated
            .when
            .and_then(|w| i64::try_from(w).ok())
            .unwrap_or_else(unix_now);
        // A live message goes after everything archived, whatever date it
        // carries (its `<delay>` keeps that): a client that caught up to
        // the last `<stanza-id>` must find it after that one.
        if dated.live
            && let Some(newest) = self.gateway.store.archive_newest_at(row_id)?
        {
            at = at.max(newest);
        }
        let cap = u64::from(self.gateway.config.max_archive_messages);
        // History past the cap would push out what is newer than it. The
        // count is made at the first message, and again before a refusal
        // (retention may have pruned some since).
        let archived = match self.archived {
            Some(n) if dated.live || n < cap => n,
            _ => self.gateway.store.archived_of_user(self.user_id)?,
        };
        self.archived = Some(archived);
        if !dated.live && archived >= cap {
            tracing::warn!(gateway = %self.gateway.jid, user = %self.user, "backfill refused: max_archive_messages reached");
            return Err(RosterError::LimitExceeded(format!(
                "your groups' archives hold the most messages the gateway keeps ({cap})"
            )));
        }
        let mut kept = message.clone();
        chars::clean_message(&mut kept);
        let xml = String::from(&Element::from(kept));
        self.gateway.store.archive(
            row_id,
            &ArchiveRow {
                id: 0,
                stanza_id: stanza_id.to_owned(),
                xmpp_id: xmpp_id.to_owned(),
                legacy_id: legacy_id.map(str::to_owned),
                at,
                xml,
            },
        )?;
        self.archived = Some(archived + 1);
        // The message is archived: what follows tidies the archive, and a
        // failure of it must not make the message count as not sent.
        if archived + 1 > cap
            && let Err(e) = self.trim_archive(cap)
        {
            tracing::error!(error = %e, "trimming the archive failed");
        }
        if let Some(target) = retraction::retracted_id(message)
            && let Err(e) = self.tombstone(room, &target, message)
        {
            tracing::error!(error = %e, "replacing a retracted message failed");
        }
        Ok(())
    }

    /// A retracted message's content leaves the archive: MAM serves its
    /// tombstone (XEP-0424), beside the retraction itself.
    fn tombstone(
        &self,
        room: RoomId,
        stanza_id: &str,
        retraction: &Message,
    ) -> Result<(), RosterError> {
        let store = &self.gateway.store;
        let r = self.room(room)?;
        let Some(row) = store.archived_by_stanza_id(r.row_id, stanza_id)? else {
            return Ok(());
        };
        let Some(original) = parse_archived(&row) else {
            return Ok(());
        };
        if retraction::retracted_id(&original).is_some() {
            return Ok(()); // a retraction is not retracted
        }
        // Only its author retracts a message (XEP-0424; others moderate,
        // XEP-0425): the same occupant, whatever its nick.
        if occupant_of(&original) != occupant_of(retraction) {
            return Ok(());
        }
        let stamp = u64::try_from(unix_now())
            .ok()
            .and_then(timestamp)
            .map(|t| t.0.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default();
        let kept = retraction::tombstone(&original, &stamp);
        store.set_archived_xml(row.id, &String::from(&Element::from(kept)))?;
        Ok(())
    }

    /// The user's archives are past the cap: the oldest messages go, a
    /// hundredth of the cap (at most 1000) more than needed, so that this
    /// runs once per so many messages, not at each one.
    fn trim_archive(&mut self, cap: u64) -> Result<(), RosterError> {
        let store = &self.gateway.store;
        // Retention may have pruned some since the count was made.
        let archived = store.archived_of_user(self.user_id)?;
        self.archived = Some(archived);
        if archived <= cap {
            return Ok(());
        }
        let excess = archived - cap + (cap / 100).min(1000);
        let deleted = store.trim_archive(self.user_id, excess)?;
        tracing::info!(gateway = %self.gateway.jid, user = %self.user, deleted, "archive trimmed: max_archive_messages reached");
        self.archived = Some(archived.saturating_sub(deleted));
        Ok(())
    }
}

/// An archived message, as it was sent.
pub(super) fn parse_archived(row: &ArchiveRow) -> Option<Message> {
    row.xml
        .parse::<Element>()
        .ok()
        .and_then(|e| Message::try_from(e).ok())
}

/// The XEP-0421 occupant id a message carries.
fn occupant_of(message: &Message) -> Option<&str> {
    message
        .payloads
        .iter()
        .find(|p| p.is("occupant-id", ns::OID))
        .and_then(|p| p.attr("id"))
}
