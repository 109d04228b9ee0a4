//! A room's archive served by XEP-0313 (MAM v2) with XEP-0059 paging:
//! the page a query asks for, as forwarded results and their `<fin/>`,
//! and the archive's first and last message (MAM metadata).

use jid::Jid;
use minidom::Element;
use xmpp_parsers::{
    mam::{End, MetadataResponse, Start},
    message::Message,
};

use super::archiving::parse_archived;
use super::{RoomId, Rooms};
use crate::roster::RosterError;
use crate::stanza::{mam, presence::timestamp};
use crate::store::ArchivePage;

/// Why a MAM query gets an error.
#[derive(Debug, thiserror::Error)]
pub enum QueryRefused {
    /// An RSM id the archive does not hold (`item-not-found`).
    #[error("{0}")]
    NotFound(String),
    /// A filter this archive cannot apply (`feature-not-implemented`).
    #[error("{0}")]
    Unsupported(String),
    /// The database failed.
    #[error(transparent)]
    Roster(#[from] RosterError),
}

impl Rooms {
    /// The answer to a MAM query to a room: each result message to `to`,
    /// then the `<fin/>` for the iq result.
    pub fn query_archive(
        &self,
        room: RoomId,
        to: &Jid,
        request: &mam::Request,
    ) -> Result<(Vec<Message>, Element), QueryRefused> {
        if request.with.is_some() {
            return Err(QueryRefused::Unsupported(
                "this archive is not filtered by sender (`with`)".into(),
            ));
        }
        let r = self.room(room)?;
        let store = &self.gateway.store;
        let row_of = |id: &str| -> Result<(i64, i64), QueryRefused> {
            store
                .archive_row_of(r.row_id, id)
                .map_err(RosterError::from)?
                .ok_or_else(|| QueryRefused::NotFound(format!("no message {id:?} in this archive")))
        };
        let (from, backwards) = match (&request.before, &request.after) {
            (Some(before), _) if before.is_empty() => (None, true),
            (Some(before), _) => (Some(row_of(before)?), true),
            (None, Some(after)) => (Some(row_of(after)?), false),
            (None, None) => (None, false),
        };
        let page = ArchivePage {
            start: request.start,
            end: request.end,
            from,
            backwards,
            max: request.max,
        };
        let (rows, complete) = store
            .archive_page(r.row_id, &page)
            .map_err(RosterError::from)?;
        let count = store
            .archive_count(r.row_id, request.start, request.end)
            .map_err(RosterError::from)?;
        let mut results = Vec::with_capacity(rows.len());
        for row in &rows {
            let Some(message) = parse_archived(row) else {
                tracing::warn!(room = %r.jid, id = row.id, "an archived message does not parse");
                continue;
            };
            results.push(mam::result(
                &r.jid,
                to.clone(),
                request.query_id.as_deref(),
                &row.stanza_id,
                row.at,
                message,
            ));
        }
        let fin = mam::fin(
            rows.first().map(|row| row.stanza_id.as_str()),
            rows.last().map(|row| row.stanza_id.as_str()),
            count,
            complete,
        );
        Ok((results, fin))
    }

    /// The archive's first and last message (MAM metadata, XEP-0313 §7).
    pub fn archive_metadata(&self, room: RoomId) -> Result<Element, RosterError> {
        let r = self.room(room)?;
        let ends = self.gateway.store.archive_ends(r.row_id)?;
        let stamp = |at: i64| u64::try_from(at).ok().and_then(timestamp);
        let response = match ends {
            Some((first, last)) => MetadataResponse {
                start: stamp(first.at).map(|timestamp| Start {
                    id: first.stanza_id.clone(),
                    timestamp,
                }),
                end: stamp(last.at).map(|timestamp| End {
                    id: last.stanza_id.clone(),
                    timestamp,
                }),
            },
            None => MetadataResponse {
                start: None,
                end: None,
            },
        };
        Ok(response.into())
    }
}
